/**
 * The KurrentDB (EventStoreDB) event store. Same semantics as the PostgreSQL
 * adapter (see types.ts); what KurrentDB does not give as such is built here:
 * - stream version = revision + 1 (KurrentDB counts revisions from 0);
 * - log position = (commit, prepare);
 * - exact idempotency of re-appends, within a bounded window (findEarlierAppend);
 * - readAll positions that move past filtered-out events (settlePage).
 * Needs KurrentDB or EventStoreDB 22.6 or later: older servers leave the log
 * position of events read from a stream empty.
 */
import { setImmediate } from 'node:timers'
import {
  ANY, BACKWARDS, END, ErrorType, KurrentDBClient, MaxAppendSizeExceededError, NO_STREAM, START as FROM_START,
  STREAM_EXISTS, StreamDeletedError, StreamNotFoundError, WrongExpectedVersionError,
  convertToCommandError, eventTypeFilter, excludeSystemEvents, isCommandError, jsonEvent, streamNameFilter
} from '@kurrent/kurrentdb-client'
import type {
  AllStreamSubscription, AppendStreamState, CommandError, CurrentStreamState, Filter, JSONType, Position, ReadPosition,
  ReadStreamOptions as ClientReadStreamOptions
} from '@kurrent/kurrentdb-client'
import type { EventMetadata } from '../domain/envelope.ts'
import { LedgerlineError } from '../domain/errors.ts'
import { DuplicateEventId, EventTooLarge, StoreUnavailable, WrongExpectedVersion } from './errors.ts'
import type { EventRegistry } from '../domain/registry.ts'
import { comparePositions, maxPosition } from './position.ts'
import { catchUpSubscription } from './subscription.ts'
import { START } from './types.ts'
import type {
  AppendResult, EventStore, ExpectedVersion, LogPosition, ReadAllOptions, ReadFilter, ReadStreamOptions,
  RecordedEvent, Subscription
} from './types.ts'
import { MAX_PAGE, assertStreamId, pageSize, prepareAppend } from './validation.ts'
import type { PreparedEvent } from './validation.ts'

/**
 * How many of a stream's last events an append searches for its ids. A retry
 * repeats an append soon after it, so its events sit near the stream's end;
 * a replay older than this is not recognised and is written again (KurrentDB's
 * own best-effort deduplication may still catch it).
 */
export const IDEMPOTENCY_WINDOW = 1000
const DEFAULT_PAGE = 1000
const RETRY_MIN_MS = 100
const RETRY_MAX_MS = 5000

/** The fields of a KurrentDB recorded event that this adapter reads. */
export interface StoredEvent {
  readonly id: string
  readonly type: string
  readonly streamId: string
  readonly revision: bigint
  readonly created: Date
  readonly data: unknown
  readonly metadata: unknown
  readonly position?: Position
}

export function createKurrentDbEventStore (options: { connectionString: string, registry: EventRegistry }): EventStore {
  const { registry } = options
  const client = KurrentDBClient.connectionString(options.connectionString)
  const notifier = liveAppendNotifier(client)
  const subscriptions = new Set<Subscription>()
  const oneAtATime = serializedByKey()

  async function readStreamOrEmpty (streamId: string, read: ClientReadStreamOptions): Promise<StoredEvent[]> {
    try {
      // From the leader, as appends: the idempotency check and readers must see every write that succeeded.
      return await collectEvents(client.readStream(streamId, { ...read, requiresLeader: true }))
    } catch (error) {
      if (error instanceof StreamNotFoundError || error instanceof StreamDeletedError) return []
      throw error
    }
  }

  async function findEarlierAppend (streamId: string, ids: readonly string[]): Promise<AppendResult | undefined> {
    const recent = await readStreamOrEmpty(streamId, { direction: BACKWARDS, fromRevision: END, maxCount: IDEMPOTENCY_WINDOW })
    return earlierAppend(streamId, ids, recent)
  }

  /**
   * The append response carries the transaction's position, which for several
   * events need not be the last one's as reads report it: read that event back
   * so an append and its replay answer the same position.
   */
  async function resultAt (streamId: string, revision: bigint, fallback?: Position): Promise<AppendResult> {
    const [last] = await readStreamOrEmpty(streamId, { fromRevision: revision, maxCount: 1 })
    return { nextExpectedVersion: revision + 1n, position: toLogPosition(last?.position ?? fallback) }
  }

  async function appendPrepared (streamId: string, prepared: PreparedEvent[], expected: ExpectedVersion): Promise<AppendResult> {
    const earlier = await findEarlierAppend(streamId, prepared.map((event) => event.id))
    if (earlier !== undefined) return earlier
    try {
      const written = await client.appendToStream(streamId, prepared.map(toEventData), { streamState: toStreamState(expected) })
      // Only with throwOnAppendFailure=false in the connection string; the actual version is not reliable then.
      if (!written.success) throw new WrongExpectedVersion(streamId, String(expected), await store.streamVersion(streamId))
      return await resultAt(streamId, written.nextExpectedRevision, written.position)
    } catch (error) {
      throw translateAppendError(error, streamId, expected, prepared)
    }
  }

  function toRecorded (event: StoredEvent): RecordedEvent {
    const metadata = (decodeJson(event.metadata) ?? {}) as EventMetadata
    return {
      id: event.id.toLowerCase(),
      type: event.type,
      streamId: event.streamId,
      streamVersion: event.revision + 1n,
      position: toLogPosition(event.position),
      data: registry.parse(event.type, decodeJson(event.data), metadata.schemaVersion ?? 1),
      metadata,
      recordedAt: event.created
    }
  }

  async function headPosition (): Promise<LogPosition> {
    const [last] = await collectEvents(client.readAll({
      direction: BACKWARDS, fromPosition: END, maxCount: 1, filter: excludeSystemEvents(), requiresLeader: true
    }))
    return last === undefined ? START : toLogPosition(last.position)
  }

  const store: EventStore = {
    kind: 'kurrentdb',

    async append (streamId, events, appendOptions = {}) {
      const prepared = prepareAppend(registry, streamId, events)
      const expected = appendOptions.expectedVersion ?? 'any'
      toStreamState(expected) // rejects a malformed expected version before any round trip
      const result = await guard(() => oneAtATime(streamId, () => appendPrepared(streamId, prepared, expected)))
      notifier.notify()
      return result
    },

    async readStream (streamId, readOptions: ReadStreamOptions = {}) {
      assertStreamId(streamId)
      // No limit reads the whole rest of the stream (the client's default): a decider must fold all of it.
      const limit = readOptions.limit === undefined ? {} : { maxCount: pageSize(readOptions.limit, MAX_PAGE) }
      const after = readOptions.fromVersion ?? 0n
      // Version v is revision v - 1, so "version > after" starts at revision `after`.
      const events = await guard(() => readStreamOrEmpty(streamId, { fromRevision: after > 0n ? after : FROM_START, ...limit }))
      return events.map(toRecorded)
    },

    async streamVersion (streamId) {
      assertStreamId(streamId)
      const [last] = await guard(() => readStreamOrEmpty(streamId, { direction: BACKWARDS, fromRevision: END, maxCount: 1 }))
      return last === undefined ? 0n : last.revision + 1n
    },

    async readAll (from, readOptions: ReadAllOptions = {}) {
      const limit = pageSize(readOptions.limit, DEFAULT_PAGE)
      return guard(async () => {
        // Taken before the read, which therefore sees at least up to it (both on the leader).
        const head = await headPosition()
        if (comparePositions(head, from) <= 0) return { events: [], position: from, isEnd: true }
        // A read from a position includes the event there; ask for one more to keep `limit` after it.
        const requested = isStart(from) ? limit : limit + 1
        const scanned = await collectEvents(client.readAll({
          fromPosition: toReadPosition(from), maxCount: requested, filter: serverFilter(readOptions), requiresLeader: true
        }))
        const matched = scanned
          .map((stored) => ({ stored, position: toLogPosition(stored.position) }))
          .filter(({ stored, position }) => comparePositions(position, from) > 0 && matchesFilter(stored, readOptions))
        const last = scanned.at(-1)
        const page = settlePage({
          from, head, limit, matched, full: scanned.length >= requested,
          lastScanned: last === undefined ? undefined : toLogPosition(last.position)
        })
        return { ...page, events: page.events.map(({ stored }) => toRecorded(stored)) }
      })
    },

    headPosition: () => guard(headPosition),

    subscribe (from, subscribeOptions) {
      const subscription = catchUpSubscription(store, from, subscribeOptions)
      subscriptions.add(subscription)
      return {
        [Symbol.asyncIterator]: () => subscription[Symbol.asyncIterator](),
        async close () {
          subscriptions.delete(subscription)
          await subscription.close()
        }
      }
    },

    onAppend: (listener) => notifier.add(listener),

    async close () {
      await Promise.allSettled([...subscriptions].map((subscription) => subscription.close()))
      subscriptions.clear()
      await notifier.stop()
      await client.dispose()
    }
  }
  return store
}

/** Port expected version (a stream version) to KurrentDB stream state (a revision). */
export function toStreamState (expected: ExpectedVersion): AppendStreamState {
  if (typeof expected === 'bigint') {
    if (expected < 0n) throw new RangeError('expected version must not be negative')
    return expected === 0n ? NO_STREAM : expected - 1n
  }
  switch (expected) {
    case 'any': return ANY
    case 'no_stream': return NO_STREAM
    case 'stream_exists': return STREAM_EXISTS
    default: throw new RangeError(`unknown expected version ${String(expected)}`)
  }
}

/** KurrentDB's current stream state (a revision, or no stream) as a port stream version. */
export function actualVersion (state: CurrentStreamState): bigint {
  return typeof state === 'bigint' && state >= 0n ? state + 1n : 0n
}

export function toLogPosition (position: Position | undefined): LogPosition {
  if (position === undefined) throw new Error('KurrentDB returned an event without a log position (server older than 22.6?)')
  return { major: position.commit, minor: position.prepare }
}

export function toReadPosition (position: LogPosition): ReadPosition {
  return isStart(position) ? FROM_START : { commit: position.major, prepare: position.minor }
}

function isStart (position: LogPosition): boolean {
  return position.major === START.major && position.minor === START.minor
}

/** Same rules as the PostgreSQL adapter: a positive integer, at most 10 000. */
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
export function settlePage<E extends { position: LogPosition }> (page: PageInput<E>): { events: E[], position: LogPosition, isEnd: boolean } {
  if (page.matched.length > page.limit) {
    const events = page.matched.slice(0, page.limit)
    return { events, position: events.at(-1)!.position, isEnd: false }
  }
  const scanned = maxPosition(page.from, page.lastScanned ?? page.from)
  if (page.full) return { events: [...page.matched], position: scanned, isEnd: false }
  return { events: [...page.matched], position: maxPosition(scanned, page.head), isEnd: true }
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

// The native reader reports transport failures (refused, reset, TLS) as errors the client does not recognise.
const CONNECTION_FAILURES: ReadonlySet<string> = new Set([
  ErrorType.UNAVAILABLE, ErrorType.DEADLINE_EXCEEDED, ErrorType.TIMEOUT, ErrorType.NOT_LEADER, ErrorType.CANCELLED,
  ErrorType.UNKNOWN
])

export function isConnectionFailure (error: unknown): boolean {
  if (!(error instanceof Error) || error instanceof LedgerlineError) return false
  const converted = asCommandError(error)
  if (converted !== undefined) return CONNECTION_FAILURES.has(converted.type)
  return /Failed to discover|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND/.test(error.message)
}

/** Some client paths (the server-features probe before an append) let raw gRPC errors out. */
function asCommandError (error: Error): CommandError | undefined {
  if (isCommandError(error)) return error
  try {
    const converted = convertToCommandError(error)
    return isCommandError(converted) ? converted : undefined
  } catch {
    return undefined // it took a non-gRPC error with a numeric code for a gRPC one
  }
}

async function guard<T> (work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    throw isConnectionFailure(error) ? new StoreUnavailable('the KurrentDB event store is unreachable') : error
  }
}

function translateAppendError (error: unknown, streamId: string, expected: ExpectedVersion, prepared: readonly PreparedEvent[]): unknown {
  if (error instanceof WrongExpectedVersionError) return new WrongExpectedVersion(streamId, String(expected), actualVersion(error.actualState))
  if (error instanceof MaxAppendSizeExceededError) return tooLarge(prepared, error.maxAppendSize)
  return error
}

/** The server limits the whole append; name its largest event and count all of it. */
function tooLarge (prepared: readonly PreparedEvent[], limit: number): EventTooLarge {
  const sizes = prepared.map((event) => ({ id: event.id, bytes: Buffer.byteLength(event.data) + Buffer.byteLength(event.metadata) }))
  const largest = sizes.reduce((a, b) => (b.bytes > a.bytes ? b : a))
  return new EventTooLarge(largest.id, sizes.reduce((total, size) => total + size.bytes, 0), limit)
}

/** The client serializes JSON events itself: hand it the parsed form of what prepareAppend checked. */
function toEventData (event: PreparedEvent): ReturnType<typeof jsonEvent> {
  return jsonEvent({
    id: event.id,
    type: event.type,
    data: JSON.parse(event.data) as JSONType,
    metadata: JSON.parse(event.metadata) as JSONType
  })
}

/** The client parses JSON events and metadata; bytes are left for anything it could not parse. */
function decodeJson (value: unknown): unknown {
  if (!(value instanceof Uint8Array)) return value
  if (value.length === 0) return undefined
  try {
    return JSON.parse(Buffer.from(value).toString('utf8'))
  } catch {
    return value
  }
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

async function collectEvents (reads: AsyncIterable<{ event?: StoredEvent }>): Promise<StoredEvent[]> {
  const events: StoredEvent[] = []
  // Read to the end: the native iterator has no return(), so breaking early would not cancel it.
  for await (const resolved of reads) if (resolved.event !== undefined) events.push(resolved.event)
  return events
}

interface AppendNotifier {
  add(listener: () => void): () => void
  notify(): void
  stop(): Promise<void>
}

/**
 * One live subscription to $all, shared by every listener, from the first
 * listener to the last. Wake-ups are coalesced; a dropped subscription is
 * retried with backoff, silently: subscribers poll meanwhile, so delivery
 * stays correct and only its latency suffers.
 */
function liveAppendNotifier (client: KurrentDBClient): AppendNotifier {
  const listeners = new Set<() => void>()
  let live: AllStreamSubscription | undefined
  let retry: NodeJS.Timeout | undefined
  let failures = 0
  let scheduled = false
  let stopped = false

  function notify (): void {
    if (scheduled) return
    scheduled = true
    setImmediate(() => {
      scheduled = false
      for (const listener of [...listeners]) listener()
    })
  }

  function start (): void {
    try {
      const subscription = client.subscribeToAll({ fromPosition: END, filter: excludeSystemEvents() })
      live = subscription
      // Confirmation too: events may have come while the subscription was down.
      const healthy = (): void => { failures = 0; notify() }
      const dropped = (): void => { restart(subscription) }
      subscription.on('confirmation', healthy).on('data', healthy)
      subscription.on('error', dropped).on('end', dropped).on('close', dropped)
    } catch {
      scheduleRetry()
    }
  }

  function restart (subscription: AllStreamSubscription): void {
    if (subscription !== live) return // already replaced or stopped
    live = undefined
    subscription.unsubscribe().catch(() => {})
    scheduleRetry()
  }

  function scheduleRetry (): void {
    const delay = Math.min(RETRY_MIN_MS * 2 ** failures, RETRY_MAX_MS)
    failures++
    retry = setTimeout(() => {
      retry = undefined
      if (listeners.size > 0 && !stopped) start()
    }, delay)
    retry.unref()
  }

  async function stopLive (): Promise<void> {
    clearTimeout(retry)
    retry = undefined
    failures = 0
    const subscription = live
    live = undefined
    await subscription?.unsubscribe().catch(() => {})
  }

  return {
    add (listener) {
      listeners.add(listener)
      if (live === undefined && retry === undefined && !stopped) start()
      return () => {
        listeners.delete(listener)
        if (listeners.size === 0) void stopLive()
      }
    },
    notify,
    async stop () {
      stopped = true
      listeners.clear()
      await stopLive()
    }
  }
}
