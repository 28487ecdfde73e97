/**
 * Request logging that costs nothing at a level that is not enabled. Fastify
 * makes a child logger for every request (its bindings serialized, the
 * redaction applied) and builds the objects of its `incoming request` and
 * `request completed` lines before the logger drops them: at `warn`, the
 * production default, no line of most requests is ever written.
 *
 * - `requestLoggerFactory` gives each request a logger whose child is made
 *   on the first line written at an enabled level; the lines are the same.
 * - `RequestLogController` skips Fastify's per-request info lines when info
 *   is not enabled; a response that errors is still logged at error.
 */
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify'

type Bindings = Record<string, unknown>
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'
type LogFn = (...args: unknown[]) => void
interface LevelAware { isLevelEnabled?: (level: string) => boolean }

/** Whether `logger` would write a line at `level`; a logger that cannot say is taken to write it. */
function enabled (logger: FastifyBaseLogger, level: Level): boolean {
  const check = (logger as LevelAware).isLevelEnabled
  return check === undefined || check.call(logger, level)
}

/** A request's logger: the child logger is made only when a line is written at an enabled level. */
class RequestLogger {
  #child: FastifyBaseLogger | undefined
  readonly #parent: FastifyBaseLogger
  readonly #bindings: Bindings

  constructor (parent: FastifyBaseLogger, bindings: Bindings) {
    this.#parent = parent
    this.#bindings = bindings
  }

  get level (): string { return (this.#child ?? this.#parent).level }
  set level (level: string) { this.#real().level = level }

  isLevelEnabled (level: Level): boolean { return enabled(this.#child ?? this.#parent, level) }
  child (bindings: Bindings, options?: object): FastifyBaseLogger { return this.#real().child(bindings, options) }

  fatal (...args: unknown[]): void { this.#log('fatal', args) }
  error (...args: unknown[]): void { this.#log('error', args) }
  warn (...args: unknown[]): void { this.#log('warn', args) }
  info (...args: unknown[]): void { this.#log('info', args) }
  debug (...args: unknown[]): void { this.#log('debug', args) }
  trace (...args: unknown[]): void { this.#log('trace', args) }
  silent (): void {}

  #log (level: Level, args: unknown[]): void {
    if (!this.isLevelEnabled(level)) return
    const logger = this.#real()
    ;(logger[level] as LogFn).apply(logger, args)
  }

  #real (): FastifyBaseLogger {
    this.#child ??= this.#parent.child(this.#bindings)
    return this.#child
  }
}

/**
 * Fastify's `childLoggerFactory`. A route with a log level or serializers of
 * its own gets its child at once (none has one today); every other request
 * a RequestLogger.
 */
export function requestLoggerFactory (
  logger: FastifyBaseLogger, bindings: Bindings, options: { level?: string, serializers?: unknown }
): FastifyBaseLogger {
  if (options.level !== undefined || options.serializers !== undefined) return logger.child(bindings, options as object)
  return new RequestLogger(logger, bindings) as unknown as FastifyBaseLogger
}

/** Fastify's request lines, skipped (objects and all) when the request's logger would drop them. */
export class RequestLogController extends LogController {
  override incomingRequest (request: FastifyRequest, reply: FastifyReply): void {
    if (enabled(request.log, 'info')) super.incomingRequest(request, reply)
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (enabled(request.log, error ? 'error' : 'info')) super.requestCompleted(error, request, reply)
  }
}
