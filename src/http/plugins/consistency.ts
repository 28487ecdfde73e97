/**
 * Read-your-writes: a read sent with `X-Consistent-With: <position>` (the
 * `position` a command answered) waits until the read models have applied
 * the log up to there, or answers 504 `projection.timeout`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { domainError, ProjectionTimeout } from '../../domain/errors.ts'
import { parsePosition } from '../../eventstore/position.ts'
import type { LogPosition } from '../../eventstore/types.ts'
import type { Runtime } from '../../runtime.ts'

declare module 'fastify' {
  interface FastifyRequest {
    consistentWith: LogPosition | undefined
  }
}

export class InvalidConsistencyPosition extends domainError('http.invalid_consistency_position', 400,
  'X-Consistent-With must be a position as commands return it: <major>.<minor>') {}

/**
 * The same 504 `projection.timeout`, caused by the client: it chose the
 * position, and one it made up never arrives. The error handler logs it as a
 * warning, so no client can fill the error log; projections that really fall
 * behind have their own alert (LedgerlineProjectionLagHigh).
 */
export class ConsistencyTimeout extends ProjectionTimeout {
  readonly clientCaused = true
}

export function consistency (runtime: Runtime) {
  const wait = async (request: FastifyRequest, header: string | string[]): Promise<void> => {
    const position = typeof header === 'string' ? parsePosition(header) : undefined
    if (position === undefined) throw new InvalidConsistencyPosition()
    try {
      await runtime.runner.waitFor(position, runtime.config.consistencyTimeoutMs)
    } catch (error) {
      throw error instanceof ProjectionTimeout ? new ConsistencyTimeout(error.position, error.timeoutMs) : error
    }
    request.consistentWith = position
  }
  // A callback hook: without the header (most requests) it costs no promise.
  return function waitForConsistency (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void {
    const header = request.headers['x-consistent-with']
    if (header === undefined) return done()
    wait(request, header).then(() => done(), done)
  }
}
