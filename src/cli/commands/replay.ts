import type { Command } from 'commander'
import { replayProjection, type ReplayProgress } from '../../application/event-log.ts'
import { PROJECTION_NAMES } from '../../projections/index.ts'
import { print, toJson, withRuntime } from '../context.ts'
import { progress } from '../progress.ts'

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
      const result = await withRuntime(async (runtime) => {
        const progress = progressReporter()
        try {
          return await replayProjection(runtime, name, { batchSize: options.batchSize, onProgress: progress.update })
        } finally {
          progress.stop()
        }
      })
      if (options.json === true) print(toJson({ projection: name, ...result }))
      else {
        const rate = Math.round(result.eventsApplied / Math.max(result.seconds, 0.001))
        const seconds = result.seconds.toFixed(1)
        print(`rebuilt ${name}: generation ${result.generation}, ${result.eventsApplied} events in ${seconds} s (${rate} events/s)`)
      }
    })
}

/** Events applied, events/s and ETA; the plain line also names the position reached. */
function progressReporter (): { update: (p: ReplayProgress) => void, stop: () => void } {
  const bar = 'replay [{bar}] {percentage}% | {applied} events | {rate} events/s | ETA {eta_formatted}'
  const shown = progress(bar, 1000, { applied: 0, rate: 0 },
    (value, { applied, rate, eta, position }: { applied: number, rate: number, eta?: number, position?: string }) =>
      `replay ${Math.round(value / 10)}% ${applied} events ${rate} events/s ETA ${eta ?? '?'} s at ${position ?? ''}`)
  return {
    update (p) {
      const left = p.eventsApplied / p.fraction - p.eventsApplied
      const eta = p.eventsPerSecond > 0 && p.fraction > 0 ? Math.round(left / p.eventsPerSecond) : undefined
      const rate = Math.round(p.eventsPerSecond)
      shown.update(Math.round(p.fraction * 1000), { applied: p.eventsApplied, rate, eta, position: p.position })
    },
    stop: () => shown.stop()
  }
}
