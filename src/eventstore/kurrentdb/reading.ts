/**
 * Reads from KurrentDB as the port reads: a stream that does not exist is
 * empty, every read is served by the leader, and readAll positions move past
 * the events a filtered reader did not ask for (settlePage).
 */
import {
  BACKWARDS, END, StreamDeletedError, StreamNotFoundError, eventTypeFilter, excludeSystemEvents, streamNameFilter
} from '@kurrent/kurrentdb-client'
import type { Filter, KurrentDBClient, ReadStreamOptions as ClientReadStreamOptions } from '@kurrent/kurrentdb-client'
import { comparePositions, maxPosition } from '../position.ts'
import { START } from '../types.ts'
import type { LogPosition, ReadAllOptions, ReadAllResult, ReadFilter, RecordedEvent } from '../types.ts'
import { pageSize } from '../validation.ts'
import { isStart, toLogPosition, toReadPosition, type StoredEvent } from './mapping.ts'

const DEFAULT_PAGE = 1000

/** A stream's events as stored, or none when the stream does not exist (or was deleted). */
export type StreamReader = (streamId: string, read: ClientReadStreamOptions) => Promise<StoredEvent[]>

export function streamReader (client: KurrentDBClient): StreamReader {
  return async (streamId, read) => {
    try {
      // From the leader, as appends: the idempotency check and readers must see every write that succeeded.
      return await collectEvents(client.readStream(streamId, { ...read, requiresLeader: true }))
    } catch (error) {
      if (error instanceof StreamNotFoundError || error instanceof StreamDeletedError) return []
      throw error
    }
  }
}

/** Position of the last event of the log that is not a system one (START when there is none). */
export async function headPosition (client: KurrentDBClient): Promise<LogPosition> {
  const [last] = await collectEvents(client.readAll({
    direction: BACKWARDS, fromPosition: END, maxCount: 1, filter: excludeSystemEvents(), requiresLeader: true
  }))
  return last === undefined ? START : toLogPosition(last.position)
}

/** One page of the log after `from`, filtered, with the position to resume from. */
export async function readAllPage (
  client: KurrentDBClient, from: LogPosition, options: ReadAllOptions, toRecorded: (event: StoredEvent) => RecordedEvent
): Promise<ReadAllResult> {
  const limit = pageSize(options.limit, DEFAULT_PAGE)
  // Taken before the read, which therefore sees at least up to it (both on the leader).
  const head = await headPosition(client)
  if (comparePositions(head, from) <= 0) return { events: [], position: from, isEnd: true }
  // A read from a position includes the event there; ask for one more to keep `limit` after it.
  const requested = isStart(from) ? limit : limit + 1
  const scanned = await collectEvents(client.readAll({
    fromPosition: toReadPosition(from), maxCount: requested, filter: serverFilter(options), requiresLeader: true
  }))
  const matched = scanned
    .map((stored) => ({ stored, position: toLogPosition(stored.position) }))
    .filter(({ stored, position }) => comparePositions(position, from) > 0 && matchesFilter(stored, options))
  const last = scanned.at(-1)
  const page = settlePage({
    from, head, limit, matched, full: scanned.length >= requested,
    lastScanned: last === undefined ? undefined : toLogPosition(last.position)
  })
  return { ...page, events: page.events.map(({ stored }) => toRecorded(stored)) }
}

/** An anchored regex matching exactly these event types (the server matches anywhere otherwise). */
export function typeRegex (types: readonly string[]): string {
  return `^(?:${types.map((type) => type.replace(/[\\^$.*+?()[\]{}|#]/g, '\\$&')).join('|')})$`
}

/**
 * The server filters on one thing only: the stream prefix when there is one,
 * else the types, else just system events. matchesFilter finishes the job.
 */
export function serverFilter (filter: ReadFilter): Filter {
  if (filter.streamPrefix !== undefined && filter.streamPrefix !== '') return streamNameFilter({ prefixes: [filter.streamPrefix] })
  if (filter.types !== undefined) return eventTypeFilter({ regex: typeRegex(filter.types) })
  return excludeSystemEvents()
}

/** Whether a read returns this event: never a system one, and only what the filter asks for. */
export function matchesFilter (event: { type: string, streamId: string }, filter: ReadFilter): boolean {
  if (event.type.startsWith('$') || event.streamId.startsWith('$')) return false
  if (filter.types !== undefined && !filter.types.includes(event.type)) return false
  return filter.streamPrefix === undefined || event.streamId.startsWith(filter.streamPrefix)
}

export interface PageInput<E extends { position: LogPosition }> {
  readonly from: LogPosition
  /** Head position taken before the read. */
  readonly head: LogPosition
  readonly limit: number
  /** Events after `from` that pass the filter, in log order. */
  readonly matched: readonly E[]
  /** The server returned as many events as asked: the log may go on. */
  readonly full: boolean
  /** Position of the last event the server returned, matched or not. */
  readonly lastScanned: LogPosition | undefined
}

/**
 * Where a readAll page ends. A full page resumes after the last event it
 * examined; a short one reached the end, and since the read started after
 * the head was taken, nothing up to the head was left unseen: resuming from
 * the head moves a filtered reader past events it skipped, never past one it wants.
 */
export function settlePage<E extends { position: LogPosition }> (
  page: PageInput<E>
): { events: E[], position: LogPosition, isEnd: boolean } {
  if (page.matched.length > page.limit) {
    const events = page.matched.slice(0, page.limit)
    return { events, position: events.at(-1)!.position, isEnd: false }
  }
  const scanned = maxPosition(page.from, page.lastScanned ?? page.from)
  if (page.full) return { events: [...page.matched], position: scanned, isEnd: false }
  return { events: [...page.matched], position: maxPosition(scanned, page.head), isEnd: true }
}

export async function collectEvents (reads: AsyncIterable<{ event?: StoredEvent }>): Promise<StoredEvent[]> {
  const events: StoredEvent[] = []
  // Read to the end: the native iterator has no return(), so breaking early would not cancel it.
  for await (const resolved of reads) if (resolved.event !== undefined) events.push(resolved.event)
  return events
}

/** The stream's version: its last event's revision + 1 (0 when it has none). */
export async function lastVersion (read: StreamReader, streamId: string): Promise<bigint> {
  const [last] = await read(streamId, { direction: BACKWARDS, fromRevision: END, maxCount: 1 })
  return last === undefined ? 0n : last.revision + 1n
}
