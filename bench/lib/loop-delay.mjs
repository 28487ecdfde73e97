/**
 * Loaded into the server under benchmark only (`node --import ./bench/lib/loop-delay.mjs`),
 * never by the server itself: every 200 ms it writes one line to stderr with
 * the event loop's longest delay since the line before, in ms, from
 * perf_hooks' monitorEventLoopDelay, the longest garbage-collection pause
 * in that time (what a stall is made of, when it is not our code) and how
 * long the loop was busy. The bench
 * reads the lines from the server's output (bench/org-scale.ts). Plain
 * JavaScript: it is loaded before tsx.
 */
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks'

const histogram = monitorEventLoopDelay({ resolution: 5 })
histogram.enable()
let gcMaxMs = 0
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMaxMs = Math.max(gcMaxMs, entry.duration)
}).observe({ entryTypes: ['gc'] })
let utilization = performance.eventLoopUtilization()
const timer = setInterval(() => {
  const now = performance.eventLoopUtilization()
  // Time the loop was busy since the line before: divided by the requests served, the server's time per request.
  const busyMs = performance.eventLoopUtilization(now, utilization).active
  utilization = now
  const line = { at: Date.now(), maxMs: histogram.max / 1e6, p99Ms: histogram.percentile(99) / 1e6, gcMaxMs, busyMs }
  process.stderr.write(`LOOP_DELAY ${JSON.stringify(line)}\n`)
  histogram.reset()
  gcMaxMs = 0
}, 200)
timer.unref()
