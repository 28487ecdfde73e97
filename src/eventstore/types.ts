/**
 * The event store port. Every adapter (PostgreSQL on `pg` or PGlite, KurrentDB)
 * implements it with the same semantics and passes the same conformance suite
 * (`conformance.test.ts`).
 *
 * Glossary:
 * - stream version: the number of events in a stream (0 = the stream has none).
 * - log position: where an event sits in the global, totally ordered log. It is
 *   a pair compared lexicographically. PostgreSQL: (transaction id, global
 *   position); KurrentDB: (commit position, prepare position).
 */
import type { EventMetadata } from '../domain/envelope.ts'

export interface LogPosition {
  readonly major: bigint
  readonly minor: bigint
}

/** Before the first event of the log; reading from here reads everything. */
export const START: LogPosition = Object.freeze({ major: 0n, minor: 0n })

export type ExpectedVersion = 'any' | 'no_stream' | 'stream_exists' | bigint

/** An event as the caller hands it to `append`. `id` makes re-appends idempotent. */
export interface NewEvent<Type extends string = string, Data = unknown> {
  readonly id: string
  readonly type: Type
  readonly data: Data
  readonly metadata: EventMetadata
}

export interface RecordedEvent<Type extends string = string, Data = unknown> {
  readonly id: string
  readonly type: Type
  readonly streamId: string
  /** 1-based: the first event of a stream has version 1. */
  readonly streamVersion: bigint
  readonly position: LogPosition
  readonly data: Data
  readonly metadata: EventMetadata
  readonly recordedAt: Date
}

export interface AppendResult {
  /** The stream's version after the append: the expected version for the next one. */
  readonly nextExpectedVersion: bigint
  /** Position of the last event written. */
  readonly position: LogPosition
  /** True when these event ids had been appended before: nothing was written now. */
  readonly replayed?: boolean
}

export interface AppendOptions {
  readonly expectedVersion?: ExpectedVersion
}

/** One append of a batch handed to `appendMany`. */
export interface StreamAppend {
  readonly streamId: string
  readonly events: readonly NewEvent[]
  readonly options?: AppendOptions
}

export interface ReadFilter {
  /** Only these event types. */
  readonly types?: readonly string[]
  /** Only streams whose id starts with this prefix, e.g. `org-`. */
  readonly streamPrefix?: string
}

export interface ReadAllOptions extends ReadFilter {
  /** At most this many events (default 1000, at most 10000). */
  readonly limit?: number
}

export interface ReadAllResult {
  readonly events: RecordedEvent[]
  /**
   * How far the log was read, filtered-out events included. Resume from here:
   * a filtered reader still moves past events it did not ask for.
   */
  readonly position: LogPosition
  /** True when the read reached the end of what is visible now. */
  readonly isEnd: boolean
}

export interface ReadStreamOptions {
  /** Only events with a version strictly greater than this (default 0). */
  readonly fromVersion?: bigint
  /** At most this many (at most 10000); without it, the whole rest of the stream. */
  readonly limit?: number
}

export interface SubscribeOptions extends ReadFilter {
  /** Events per batch (default 500). */
  readonly batchSize?: number
  /** Polling backstop for live delivery, in ms (default 1000, at most 1000). */
  readonly pollIntervalMs?: number
  /**
   * Live, read at most once per this many ms (default 0): under a stream of
   * appends, fewer and bigger pages for a little more delay.
   */
  readonly liveIntervalMs?: number
  /** Ends the subscription when aborted, as `close()` does. */
  readonly signal?: AbortSignal
}

/** A batch delivered by a subscription; `position` is the checkpoint to store after handling it. */
export interface SubscriptionBatch {
  readonly events: RecordedEvent[]
  readonly position: LogPosition
  /** The batch brought the subscriber to the end of the log (it is live now). */
  readonly caughtUp: boolean
}

/** Catch-up then live. Iterate with `for await`; `close()` ends the iteration. */
export interface Subscription extends AsyncIterable<SubscriptionBatch> {
  close(): Promise<void>
}

export interface EventStore {
  readonly kind: 'postgres' | 'kurrentdb'
  /**
   * Appends atomically: every event or none. Re-appending the same event ids
   * returns the first append's result and writes nothing.
   * Throws WrongExpectedVersion, EventTooLarge, InvalidStreamId,
   * UnknownEventType, InvalidEventData.
   */
  append(streamId: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>
  /**
   * Several appends, each as `append` would make it on its own: atomic on its
   * stream and independent of the others (one refused or invalid does not undo
   * another), in as few round trips as the store allows (group commit). Answers
   * each one's result or error, in the batch's order.
   */
  appendMany(appends: readonly StreamAppend[]): Promise<Array<PromiseSettledResult<AppendResult>>>
  /** Events of one stream in version order; an empty array for a stream that does not exist. */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>
  /** The stream's current version (0 when it has no events). */
  streamVersion(streamId: string): Promise<bigint>
  /** Events after `from` (exclusive) in global order. */
  readAll(from: LogPosition, options?: ReadAllOptions): Promise<ReadAllResult>
  /** Position of the last visible event (START when the log is empty). */
  headPosition(): Promise<LogPosition>
  /**
   * Position of the last committed event, visible to readers or not yet
   * (START when the log is empty). Waiting for the projections to reach it
   * waits for every write that has answered its caller. Where committed
   * events are visible at once (KurrentDB), it is headPosition.
   */
  committedHeadPosition(): Promise<LogPosition>
  subscribe(from: LogPosition, options?: SubscribeOptions): Subscription
  /**
   * Calls `listener` (without arguments, possibly coalesced) when new events
   * may be visible. Returns the function that stops it.
   */
  onAppend(listener: () => void): () => void
  close(): Promise<void>
}

/** `appendMany` as separate appends, sent at once: for a store whose own writes gain nothing from one round trip. */
export function appendEach (store: EventStore, appends: readonly StreamAppend[]): Promise<Array<PromiseSettledResult<AppendResult>>> {
  return Promise.allSettled(appends.map(({ streamId, events, options }) => store.append(streamId, events, options)))
}
