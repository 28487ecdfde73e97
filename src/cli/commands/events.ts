import type { Command } from 'commander'
import { isTailStart, logStats, tailEvents } from '../../application/event-log.ts'
import { print, toJson, withRuntime } from '../context.ts'
import { io } from '../io.ts'

interface TailOptions { from: string, type?: string[], streamPrefix?: string, follow: boolean }

export function eventsCommand (program: Command): void {
  const events = program.command('events').description('read the event log')

  events.command('tail')
    .description('print events as NDJSON, then follow new ones live (Ctrl-C stops)')
    .option('--from <position>', '"start", "end" or a position major.minor (exclusive)', 'end')
    .option('--type <types...>', 'only these event types')
    .option('--stream-prefix <prefix>', 'only streams whose id starts with this, e.g. org-')
    .option('--no-follow', 'stop at the end of the log')
    .action(async (options: TailOptions) => {
      if (!isTailStart(options.from)) {
        program.error(`--from must be start, end or major.minor, not ${options.from}`, { exitCode: 2 })
      }
      await withRuntime(async ({ store }) => {
        const { from, type: types, streamPrefix, follow } = options
        await tailEvents(store, { from, types, streamPrefix, follow, signal: io().signal }, (event) => print(toJson(event)))
      })
    })

  events.command('stats')
    .description('streams and events per category, per type, and how fresh the catalogue is')
    .option('--json', 'print one JSON object')
    .action(async (options: { json?: boolean }) => {
      const stats = await withRuntime(logStats)
      if (options.json === true) return print(toJson(stats))
      print(`log head: ${stats.head}; catalogue at ${stats.catalogue ?? 'not built yet'}`)
      print('category'.padEnd(24) + 'streams'.padStart(10) + 'events'.padStart(12) + '  last event')
      for (const c of stats.categories) {
        print(c.category.padEnd(24) + String(c.streams).padStart(10) + String(c.events).padStart(12) + `  ${c.lastEventAt.toISOString()}`)
      }
      if (stats.types !== undefined) {
        print('\ntype'.padEnd(49) + 'events'.padStart(12))
        for (const t of stats.types) print(t.type.padEnd(48) + String(t.events).padStart(12))
      }
    })
}
