/**
 * Appends with the port's semantics: an expected version checked by the
 * server, and exact idempotency of re-appends within a bounded window
 * (earlierAppend), which KurrentDB does not give as such.
 */
import { BACKWARDS, END, MaxAppendSizeExceededError, WrongExpectedVersionError } from '@kurrent/kurrentdb-client'
import type { KurrentDBClient, Position } from '@kurrent/kurrentdb-client'
import { DuplicateEventId, EventTooLarge, WrongExpectedVersion } from '../errors.ts'
import type { AppendResult, ExpectedVersion } from '../types.ts'
import type { PreparedEvent } from '../validation.ts'
import { actualVersion, toEventData, toLogPosition, toStreamState, type StoredEvent } from './mapping.ts'
import { lastVersion, type StreamReader } from './reading.ts'

/**
 * How many of a stream's last events an append searches for its ids. A retry
 * repeats an append soon after it, so its events sit near the stream's end;
 * a replay older than this is not recognised and is written again (KurrentDB's
 * own best-effort deduplication may still catch it).
 */
export const IDEMPOTENCY_WINDOW = 1000

export type AppendPrepared = (streamId: string, prepared: PreparedEvent[], expected: ExpectedVersion) => Promise<AppendResult>

/** Appends events `prepareAppend` checked, unless an earlier append wrote them already: then its result. */
export function appender (client: KurrentDBClient, read: StreamReader): AppendPrepared {
  async function findEarlierAppend (streamId: string, ids: readonly string[]): Promise<AppendResult | undefined> {
    const recent = await read(streamId, { direction: BACKWARDS, fromRevision: END, maxCount: IDEMPOTENCY_WINDOW })
    return earlierAppend(streamId, ids, recent)
  }

  /**
   * The append response carries the transaction's position, which for several
   * events need not be the last one's as reads report it: read that event back
   * so an append and its replay answer the same position.
   */
  async function resultAt (streamId: string, revision: bigint, fallback?: Position): Promise<AppendResult> {
    const [last] = await read(streamId, { fromRevision: revision, maxCount: 1 })
    return { nextExpectedVersion: revision + 1n, position: toLogPosition(last?.position ?? fallback) }
  }

  return async (streamId, prepared, expected) => {
    const earlier = await findEarlierAppend(streamId, prepared.map((event) => event.id))
    if (earlier !== undefined) return earlier
    try {
      const written = await client.appendToStream(streamId, prepared.map(toEventData), { streamState: toStreamState(expected) })
      // Only with throwOnAppendFailure=false in the connection string; the actual version is not reliable then.
      if (!written.success) throw new WrongExpectedVersion(streamId, String(expected), await lastVersion(read, streamId))
      return await resultAt(streamId, written.nextExpectedRevision, written.position)
    } catch (error) {
      throw translateAppendError(error, streamId, expected, prepared)
    }
  }
}

/**
 * The earlier append that wrote these ids, judged from the stream's recent
 * events: all found, its result (version and position of the last of them);
 * some found, DuplicateEventId (as the PostgreSQL adapter, the smallest id).
 */
export function earlierAppend (streamId: string, ids: readonly string[], recent: readonly StoredEvent[]): AppendResult | undefined {
  const wanted = new Set(ids)
  const found = recent.filter((event) => wanted.has(event.id.toLowerCase()))
  const foundIds = new Set(found.map((event) => event.id.toLowerCase()))
  if (foundIds.size === 0) return undefined
  if (foundIds.size < wanted.size) throw new DuplicateEventId(streamId, [...foundIds].sort()[0]!)
  const last = found.reduce((a, b) => (b.revision > a.revision ? b : a))
  return { nextExpectedVersion: last.revision + 1n, position: toLogPosition(last.position), replayed: true }
}

function translateAppendError (error: unknown, streamId: string, expected: ExpectedVersion, prepared: readonly PreparedEvent[]): unknown {
  if (error instanceof WrongExpectedVersionError) {
    return new WrongExpectedVersion(streamId, String(expected), actualVersion(error.actualState))
  }
  if (error instanceof MaxAppendSizeExceededError) return tooLarge(prepared, error.maxAppendSize)
  return error
}

/** The server limits the whole append; name its largest event and count all of it. */
function tooLarge (prepared: readonly PreparedEvent[], limit: number): EventTooLarge {
  const sizes = prepared.map((event) => ({ id: event.id, bytes: Buffer.byteLength(event.data) + Buffer.byteLength(event.metadata) }))
  const largest = sizes.reduce((a, b) => (b.bytes > a.bytes ? b : a))
  return new EventTooLarge(largest.id, sizes.reduce((total, size) => total + size.bytes, 0), limit)
}

/**
 * Runs work for one key at a time. Appends to a stream go through it so that
 * a concurrent twin of an append in this process finds it in its idempotency
 * check; across processes only KurrentDB's best-effort deduplication guards
 * twins appended at the very same moment with an expected version of `any`.
 */
export function serializedByKey (): <T>(key: string, work: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<void>>()
  return async <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const current = (tails.get(key) ?? Promise.resolve()).then(work)
    const tail = current.then(() => {}, () => {})
    tails.set(key, tail)
    try {
      return await current
    } finally {
      if (tails.get(key) === tail) tails.delete(key)
    }
  }
}
