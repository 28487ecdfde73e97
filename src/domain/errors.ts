/**
 * Failures are typed error classes with a stable `code`: the domain's are
 * here (and beside each capability's deciders), the event store's in
 * `eventstore/errors.ts`. The HTTP layer maps `code` to a status and a
 * problem+json body; nothing else in the code base reports failures another way.
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

/**
 * The one way to declare an error: a class with a fixed code, status and
 * default message. One line per error (`class OrgNotFound extends
 * domainError('org.not_found', 404, 'organization not found') {}`); an error
 * whose message and details come from its arguments adds a constructor that
 * calls `super(message, details)`. `instanceof` holds for the declared class
 * and for LedgerlineError, which the HTTP and CLI layers map.
 */
export function domainError (code: string, status: number, defaultMessage: string) {
  return class extends LedgerlineError {
    readonly code = code
    readonly status = status
    constructor (message = defaultMessage, details: Record<string, unknown> = {}) {
      super(message, details)
    }
  }
}

export class UnknownEventType extends domainError('store.unknown_event_type', 400, 'unknown event type') {
  constructor (readonly type: string) {
    super(`unknown event type ${type}`, { eventType: type.slice(0, 200) })
  }
}

export class InvalidEventData extends domainError('store.invalid_event_data', 400, 'invalid event') {
  constructor (readonly type: string, readonly issues: Array<{ path: string, message: string }>) {
    super(`invalid ${type} event`, { eventType: type, issues })
  }
}

/** A read asked for a position the projections did not reach in time. */
export class ProjectionTimeout extends domainError('projection.timeout', 504,
  'read models did not reach the position in time; retry the read') {
  constructor (readonly position: string, readonly timeoutMs: number) {
    super(`read models did not reach position ${position} within ${timeoutMs} ms; retry the read`, { position, timeoutMs })
  }
}

export class RebuildInProgress extends domainError('projection.rebuild_in_progress', 409, 'a rebuild is already running') {
  constructor (readonly projection: string) {
    super(`a rebuild of ${projection} is already running`, { projection })
  }
}

/** An event in the log no longer parses with this build's schema: a server-side failure, never the caller's. */
export class StoredEventUnreadable extends domainError('store.event_unreadable', 500, 'a stored event does not match its schema') {
  constructor (readonly eventType: string, readonly issues: Array<{ path: string, message: string }>) {
    super(`a stored ${eventType} event does not match its schema`, { eventType, issues })
  }
}

/** Input to an application function that its schema refuses (the HTTP layer validates earlier; the CLI arrives here). */
export class InvalidInput extends domainError('validation.invalid_input', 400, 'invalid input') {
  constructor (issues: ReadonlyArray<{ path: string, message: string }>) {
    super(`invalid input: ${issues.map((issue) => `${issue.path === '' ? '(input)' : issue.path}: ${issue.message}`).join('; ')}`,
      { errors: issues })
  }
}
