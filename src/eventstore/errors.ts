/**
 * The event store's failures: what an adapter throws (a version conflict, an
 * event too large, a stream id that does not parse, a store that cannot be
 * reached) and what the command kernel throws for a stream that must exist.
 * Typed errors with a stable `code`, like the domain's (`domain/errors.ts`).
 */
import { LedgerlineError } from '../domain/errors.ts'

export class WrongExpectedVersion extends LedgerlineError {
  readonly code = 'store.wrong_expected_version'
  readonly status = 409
  constructor (readonly streamId: string, readonly expected: string, readonly actual: bigint) {
    super(`stream ${streamId}: expected version ${expected}, actual ${actual}`,
      { streamId, expected, actual: actual.toString() })
  }
}

export class StreamNotFound extends LedgerlineError {
  readonly code = 'store.stream_not_found'
  readonly status = 404
  constructor (readonly streamId: string) {
    super(`stream ${streamId} not found`, { streamId })
  }
}

export class EventTooLarge extends LedgerlineError {
  readonly code = 'store.event_too_large'
  readonly status = 413
  constructor (readonly eventId: string, readonly bytes: number, readonly limit: number) {
    super(`event ${eventId} is ${bytes} bytes; the limit is ${limit}`, { eventId, bytes, limit })
  }
}

export class InvalidStreamId extends LedgerlineError {
  readonly code = 'store.invalid_stream_id'
  readonly status = 400
  constructor (readonly streamId: string) {
    super('stream id must read <category>-<id> (category: a-z, 0-9, _; id: up to 200 of A-Z a-z 0-9 . _ ~ : @ + -)',
      { streamId: streamId.slice(0, 300) })
  }
}

/** The same event id was appended before, but with other events beside it. */
export class DuplicateEventId extends LedgerlineError {
  readonly code = 'store.duplicate_event_id'
  readonly status = 409
  constructor (readonly streamId: string, readonly eventId: string) {
    super(`event ${eventId} is already in ${streamId}, in another append`, { streamId, eventId })
  }
}

export class StoreUnavailable extends LedgerlineError {
  readonly code = 'store.unavailable'
  readonly status = 503
  constructor (message: string) {
    super(message)
  }
}

/** The embedded database's directory belongs to another running process. */
export class DataDirInUse extends LedgerlineError {
  readonly code = 'store.data_dir_in_use'
  readonly status = 503
  constructor (dataDir: string, pid: number) {
    super(`the embedded database at ${dataDir} is in use by process ${pid}; stop it first, ` +
      'or point DATABASE_URL at a PostgreSQL server to share one database')
  }
}

/**
 * An append inside a caller's transaction would have placed events before
 * their stream's earlier events in the log; the whole transaction must be retried.
 */
export class AppendOrderConflict extends LedgerlineError {
  readonly code = 'store.append_order_conflict'
  readonly status = 409
  constructor (readonly streamId: string) {
    super(`stream ${streamId} was appended to by a later transaction; retry the transaction`, { streamId })
  }
}
