import type { Command } from 'commander'
import { formatPosition, parsePosition } from '../../eventstore/position.ts'
import { START, type EventStore, type LogPosition, type RecordedEvent } from '../../eventstore/types.ts'
import { readState } from '../../projections/state.ts'
import { categoryStats } from '../../projections/stream_catalogue/queries.ts'
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
      if (!['start', 'end'].includes(options.from) && parsePosition(options.from) === undefined) {
        program.error(`--from must be start, end or major.minor, not ${options.from}`, { exitCode: 2 })
      }
      await withRuntime(async ({ store }) => {
        await tail(store, await startingPoint(store, options.from), options)
      })
    })

  events.command('stats')
    .description('streams and events per category, per type, and how fresh the catalogue is')
    .option('--json', 'print one JSON object')
    .action(async (options: { json?: boolean }) => {
      const stats = await withRuntime(async ({ sql, store }) => ({
        head: formatPosition(await store.headPosition()),
        catalogue: (await readState(sql, 'stream_catalogue'))?.position,
        categories: await categoryStats(sql).catch(() => []),
        types: store.kind === 'postgres'
          ? (await sql.query<{ type: string, events: number }>('SELECT type, count(*)::int AS events FROM events GROUP BY type ORDER BY type')).rows
          : undefined
      }))
      if (options.json === true) return print(toJson({ ...stats, catalogue: stats.catalogue && formatPosition(stats.catalogue) }))
      print(`log head: ${stats.head}; catalogue at ${stats.catalogue === undefined ? 'not built yet' : formatPosition(stats.catalogue)}`)
      print('category'.padEnd(24) + 'streams'.padStart(10) + 'events'.padStart(12) + '  last event')
      for (const c of stats.categories) print(c.category.padEnd(24) + String(c.streams).padStart(10) + String(c.events).padStart(12) + `  ${c.lastEventAt.toISOString()}`)
      if (stats.types !== undefined) {
        print('\ntype'.padEnd(49) + 'events'.padStart(12))
        for (const t of stats.types) print(t.type.padEnd(48) + String(t.events).padStart(12))
      }
    })
}

async function startingPoint (store: EventStore, from: string): Promise<LogPosition> {
  if (from === 'start') return START
  if (from === 'end') return store.headPosition()
  return parsePosition(from)!
}

async function tail (store: EventStore, from: LogPosition, options: TailOptions): Promise<void> {
  const filter = { ...(options.type === undefined ? {} : { types: options.type }), ...(options.streamPrefix === undefined ? {} : { streamPrefix: options.streamPrefix }) }
  const subscription = store.subscribe(from, { ...filter, signal: io().signal })
  try {
    for await (const batch of subscription) {
      for (const event of batch.events) print(line(event))
      if (batch.caughtUp && !options.follow) break
    }
  } finally {
    await subscription.close()
  }
}

function line (event: RecordedEvent): string {
  return toJson({
    position: formatPosition(event.position),
    streamId: event.streamId,
    streamVersion: event.streamVersion,
    id: event.id,
    type: event.type,
    recordedAt: event.recordedAt.toISOString(),
    data: event.data,
    metadata: event.metadata
  })
}
