/**
 * The event log as operators read it (`ledgerline events`, `ledgerline
 * replay`): a tail that follows it live, its statistics per category and
 * type, and a projection rebuilt from it. Positions go out as text
 * (`major.minor`), the form commands answer and X-Consistent-With takes.
 */
import { formatPosition, parsePosition } from '../eventstore/position.ts'
import { START, type EventStore, type LogPosition, type RecordedEvent } from '../eventstore/types.ts'
import type { Projection } from '../projections/projection.ts'
import { rebuildProjection, type RebuildProgress, type RebuildResult } from '../projections/rebuild.ts'
import { readState } from '../projections/state.ts'
import { categoryStats, type CategoryStats } from '../projections/stream_catalogue/queries.ts'
import type { SqlClient } from '../sql/client.ts'

/** Where a tail starts: `start`, `end`, or after a position `major.minor`. */
export function isTailStart (from: string): boolean {
  return from === 'start' || from === 'end' || parsePosition(from) !== undefined
}

async function startingPoint (store: EventStore, from: string): Promise<LogPosition> {
  if (from === 'start') return START
  if (from === 'end') return store.headPosition()
  const position = parsePosition(from)
  if (position === undefined) throw new RangeError(`a tail starts at start, end or major.minor, not ${from}`)
  return position
}

export interface TailOptions {
  /** `start`, `end` or a position (exclusive). */
  readonly from: string
  readonly types?: string[] | undefined
  readonly streamPrefix?: string | undefined
  /** Keep following once caught up, until `signal` aborts. */
  readonly follow: boolean
  readonly signal: AbortSignal
}

/** An event as a tail shows it. */
export interface EventLine {
  position: string
  streamId: string
  streamVersion: RecordedEvent['streamVersion']
  id: string
  type: string
  recordedAt: string
  data: unknown
  metadata: RecordedEvent['metadata']
}

/** Hands each event from `options.from` on to `onEvent`, in log order; live while `follow`. */
export async function tailEvents (store: EventStore, options: TailOptions, onEvent: (event: EventLine) => void): Promise<void> {
  const filter = {
    ...(options.types === undefined ? {} : { types: options.types }),
    ...(options.streamPrefix === undefined ? {} : { streamPrefix: options.streamPrefix })
  }
  const subscription = store.subscribe(await startingPoint(store, options.from), { ...filter, signal: options.signal })
  try {
    for await (const batch of subscription) {
      for (const event of batch.events) onEvent(eventLine(event))
      if (batch.caughtUp && !options.follow) break
    }
  } finally {
    await subscription.close()
  }
}

function eventLine (event: RecordedEvent): EventLine {
  return {
    position: formatPosition(event.position),
    streamId: event.streamId,
    streamVersion: event.streamVersion,
    id: event.id,
    type: event.type,
    recordedAt: event.recordedAt.toISOString(),
    data: event.data,
    metadata: event.metadata
  }
}

export interface LogStats {
  head: string
  /** Where the stream catalogue has got to; undefined before it is built. */
  catalogue: string | undefined
  categories: CategoryStats[]
  /** Events per type (PostgreSQL stores only). */
  types: Array<{ type: string, events: number }> | undefined
}

/** Streams and events per category (from the stream catalogue), events per type, and the head of the log. */
export async function logStats ({ sql, store }: { sql: SqlClient, store: EventStore }): Promise<LogStats> {
  const catalogue = (await readState(sql, 'stream_catalogue'))?.position
  const perType = 'SELECT type, count(*)::int AS events FROM events GROUP BY type ORDER BY type'
  return {
    head: formatPosition(await store.headPosition()),
    catalogue: catalogue === undefined ? undefined : formatPosition(catalogue),
    categories: await categoryStats(sql).catch(() => []),
    types: store.kind === 'postgres'
      ? (await sql.query<{ type: string, events: number }>(perType)).rows
      : undefined
  }
}

export type ReplayProgress = Omit<RebuildProgress, 'position'> & { readonly position: string }

/** Rebuilds the projection `name` beside the live one and swaps it in once caught up (src/projections/rebuild.ts). */
export async function replayProjection (
  runtime: { sql: SqlClient, store: EventStore, projections: readonly Projection[] }, name: string,
  options: { batchSize: number, onProgress: (progress: ReplayProgress) => void }
): Promise<RebuildResult> {
  const projection = runtime.projections.find((p) => p.name === name)
  if (projection === undefined) throw new RangeError(`unknown projection ${name}`)
  const { sql, store } = runtime
  const onProgress = (p: RebuildProgress): void => options.onProgress({ ...p, position: formatPosition(p.position) })
  return rebuildProjection({ sql, store, projection, batchSize: options.batchSize, onProgress })
}
