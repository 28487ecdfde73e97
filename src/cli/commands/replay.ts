import { SingleBar } from 'cli-progress'
import type { Command } from 'commander'
import { formatPosition } from '../../eventstore/position.ts'
import { PROJECTION_NAMES } from '../../projections/index.ts'
import { rebuildProjection, type RebuildProgress } from '../../projections/rebuild.ts'
import { print, toJson, withRuntime } from '../context.ts'

export function replayCommand (program: Command): void {
  const replay = program.command('replay').description('re-project read models from the event log')
  replay.command('projection')
    .argument('<name>', `one of: ${PROJECTION_NAMES.join(', ')}`)
    .description('rebuild a projection beside the live one and swap it in when caught up (blue/green)')
    .option('--batch-size <n>', 'events per transaction', (v) => Number.parseInt(v, 10), 2000)
    .option('--json', 'print the result as JSON')
    .action(async (name: string, options: { batchSize: number, json?: boolean }) => {
      if (!PROJECTION_NAMES.includes(name)) {
        program.error(`unknown projection ${name}; known: ${PROJECTION_NAMES.join(', ')}`, { exitCode: 2 })
      }
      const result = await withRuntime(async ({ sql, store, projections }) => {
        const projection = projections.find((p) => p.name === name)!
        const progress = progressReporter()
        try {
          return await rebuildProjection({ sql, store, projection, batchSize: options.batchSize, onProgress: progress.update })
        } finally {
          progress.stop()
        }
      })
      if (options.json === true) print(toJson({ projection: name, ...result }))
      else print(`rebuilt ${name}: generation ${result.generation}, ${result.eventsApplied} events in ${result.seconds.toFixed(1)} s (${Math.round(result.eventsApplied / Math.max(result.seconds, 0.001))} events/s)`)
    })
}

/** A progress bar with events/s and ETA on a terminal; a line every 5 s otherwise (CI logs). */
function progressReporter (): { update: (p: RebuildProgress) => void, stop: () => void } {
  if (process.stderr.isTTY === true) {
    const bar = new SingleBar({
      stream: process.stderr,
      format: 'replay [{bar}] {percentage}% | {applied} events | {rate} events/s | ETA {eta_formatted}',
      hideCursor: true
    })
    bar.start(1000, 0, { applied: 0, rate: 0 })
    return {
      update: (p) => bar.update(Math.round(p.fraction * 1000), { applied: p.eventsApplied, rate: Math.round(p.eventsPerSecond) }),
      stop: () => bar.stop()
    }
  }
  let last = 0
  return {
    update (p) {
      if (Date.now() - last < 5000 && p.fraction < 1) return
      last = Date.now()
      const eta = p.eventsPerSecond > 0 && p.fraction > 0 ? Math.round((p.eventsApplied / p.fraction - p.eventsApplied) / p.eventsPerSecond) : undefined
      process.stderr.write(`replay ${Math.round(p.fraction * 100)}% ${p.eventsApplied} events ${Math.round(p.eventsPerSecond)} events/s ETA ${eta ?? '?'} s at ${formatPosition(p.position)}\n`)
    },
    stop () {}
  }
}
