/** Which failures mean "KurrentDB cannot be reached", and the guard that turns them into StoreUnavailable. */
import { ErrorType, convertToCommandError, isCommandError } from '@kurrent/kurrentdb-client'
import type { CommandError } from '@kurrent/kurrentdb-client'
import { LedgerlineError } from '../../domain/errors.ts'
import { StoreUnavailable } from '../errors.ts'

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

/** Runs one call to the server; a connection failure surfaces as StoreUnavailable. */
export async function guard<T> (work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    throw isConnectionFailure(error) ? new StoreUnavailable('the KurrentDB event store is unreachable') : error
  }
}
