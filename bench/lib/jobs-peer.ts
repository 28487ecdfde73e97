/**
 * The jobs benchmark's scenarios on the peer (graphile-worker.ts), each on a
 * fresh database the caller created: throughput (enqueue N through
 * `addJobs` in batches, its bulk API, as a real caller would; then a pool
 * drains them), enqueue alone through `addJob` from concurrent callers (like
 * for like with ours, which has no bulk API), and latency (a pool running
 * while jobs are added open-loop through `addJob`).
 */
import { openGraphilePeer, type GraphilePeer } from './graphile-worker.ts'
import { latencyLoad, StartTimes, type LatencyFigures, type ThroughputFigures } from './jobs-load.ts'
import { measure, type Measurement } from './results.ts'

async function withPeer<T> (url: string, fn: (peer: GraphilePeer) => Promise<T>): Promise<T> {
  const peer = await openGraphilePeer(url)
  try {
    return await fn(peer)
  } finally {
    await peer.close()
  }
}

export function peerThroughput (
  url: string, options: { jobs: number, batch: number, concurrency: number }
): Promise<ThroughputFigures> {
  return withPeer(url, async (peer) => {
    const batches = Math.ceil(options.jobs / options.batch)
    const enqueue = await measure({ ops: batches }, async (_worker, i) => {
      const ns = Array.from({ length: Math.min(options.batch, options.jobs - i * options.batch) }, (_, k) => i * options.batch + k)
      await peer.addJobs(ns)
      return ns.length
    })
    const started = performance.now()
    await peer.start(() => {}, options.concurrency)
    await peer.drained(options.jobs, Math.max(300_000, options.jobs * 50))
    return { jobs: options.jobs, enqueueSeconds: enqueue.seconds, drainSeconds: (performance.now() - started) / 1000 }
  })
}

/** `addJob` from `concurrency` callers, nothing running the jobs. */
export function peerEnqueueSingle (url: string, options: { jobs: number, concurrency: number }): Promise<Measurement> {
  return withPeer(url, async (peer) => {
    let next = 0
    return measure({ concurrency: options.concurrency, ops: options.jobs }, async () => { await peer.addJob(next++) })
  })
}

export function peerLatency (
  url: string, options: { rate: number, seconds: number, warmupSeconds: number, concurrency: number }
): Promise<LatencyFigures> {
  return withPeer(url, async (peer) => {
    const starts = new StartTimes()
    await peer.start((n) => { starts.record(n) }, options.concurrency)
    const enqueue = (n: number): Promise<unknown> => peer.addJob(n)
    await latencyLoad({ rate: options.rate, seconds: options.warmupSeconds, base: 1_000_000_000, waitMs: 30_000 }, enqueue, starts)
    return latencyLoad({ rate: options.rate, seconds: options.seconds, base: 0, waitMs: 60_000 }, enqueue, starts)
  })
}
