/**
 * Domain and store failures are typed error classes with a stable `code`.
 * The HTTP layer maps `code` to a status and a problem+json body; nothing
 * else in the code base reports failures another way.
 */
export abstract class LedgerlineError extends Error {
  abstract readonly code: string
  /** HTTP status the error maps to. */
  abstract readonly status: number
  /** Extra, safe-to-show fields for the problem+json body. */
  readonly details: Record<string, unknown>

  constructor (message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = new.target.name
    this.details = details
  }
}

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

export class UnknownEventType extends LedgerlineError {
  readonly code = 'store.unknown_event_type'
  readonly status = 400
  constructor (readonly type: string) {
    super(`unknown event type ${type}`, { eventType: type.slice(0, 200) })
  }
}

export class InvalidEventData extends LedgerlineError {
  readonly code = 'store.invalid_event_data'
  readonly status = 400
  constructor (readonly type: string, readonly issues: Array<{ path: string, message: string }>) {
    super(`invalid ${type} event`, { eventType: type, issues })
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

/** A read asked for a position the projections did not reach in time. */
export class ProjectionTimeout extends LedgerlineError {
  readonly code = 'projection.timeout'
  readonly status = 504
  constructor (readonly position: string, readonly timeoutMs: number) {
    super(`read models did not reach position ${position} within ${timeoutMs} ms; retry the read`, { position, timeoutMs })
  }
}

export class RebuildInProgress extends LedgerlineError {
  readonly code = 'projection.rebuild_in_progress'
  readonly status = 409
  constructor (readonly projection: string) {
    super(`a rebuild of ${projection} is already running`, { projection })
  }
}

/** The embedded database's directory belongs to another running process. */
export class DataDirInUse extends LedgerlineError {
  readonly code = 'store.data_dir_in_use'
  readonly status = 503
  constructor (dataDir: string, pid: number) {
    super(`the embedded database at ${dataDir} is in use by process ${pid}; stop it first, or point DATABASE_URL at a PostgreSQL server to share one database`)
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

/** An event in the log no longer parses with this build's schema: a server-side failure, never the caller's. */
export class StoredEventUnreadable extends LedgerlineError {
  readonly code = 'store.event_unreadable'
  readonly status = 500
  constructor (readonly eventType: string, readonly issues: Array<{ path: string, message: string }>) {
    super(`a stored ${eventType} event does not match its schema`, { eventType, issues })
  }
}

/** Input to an application function that its schema refuses (the HTTP layer validates earlier; the CLI arrives here). */
export class InvalidInput extends LedgerlineError {
  readonly code = 'validation.invalid_input'
  readonly status = 400
  constructor (issues: ReadonlyArray<{ path: string, message: string }>) {
    super(`invalid input: ${issues.map((issue) => `${issue.path === '' ? '(input)' : issue.path}: ${issue.message}`).join('; ')}`, { errors: issues })
  }
}

/** A domain error class with a fixed code, status and default message (one line per error in each capability). */
export function domainError (code: string, status: number, defaultMessage: string) {
  return class extends LedgerlineError {
    readonly code = code
    readonly status = status
    constructor (message = defaultMessage, details: Record<string, unknown> = {}) {
      super(message, details)
    }
  }
}
