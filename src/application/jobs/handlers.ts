/**
 * Job handlers, registered by job type: the payload's zod schema (checked when
 * a job is scheduled and again when it runs), and optional per-type timeout,
 * backoff and maximum of attempts, which `schedule` writes into the job so a
 * later change of the defaults does not change jobs already queued.
 *
 * A handler is idempotent by job id: it may run again after a crash or a
 * lost lease. An effect it records as events uses `context.command(key)`,
 * whose command id derives from the job id and the effect's key, so the
 * second run writes nothing new (the store replays the first append).
 *
 * A handler that throws is retried with the job's backoff, unless the error
 * says retrying cannot help (`isPermanent`): then the job is dead at once.
 * An error that says when to come back (`RetryLaterError`, or any error with
 * a numeric `retryAfterMs`: a receiver's Retry-After) delays the next
 * attempt to at least that, capped at a day (the decider's rule).
 *
 * What a handler answers is the job's result when it is a plain object: it
 * goes through JSON (a Date becomes its ISO string, an undefined member
 * goes) and is kept on the job's success, up to 64 KiB (`resultOf`; the
 * decider's rule, src/domain/jobs/job.ts). Anything else is no result.
 *
 * `concurrency` caps how many jobs of a type one node runs at once (long,
 * memory-hungry work such as an audit verification): the runner does not
 * claim more of that type while the cap is reached, so the rest wait in the
 * queue for this node's next free slot, or another node's, without spending
 * an attempt or their timeout.
 */
import type { z } from 'zod'
import { systemCommand, uuidV5, type CommandMetadata } from '../../domain/envelope.ts'
import type { BackoffPolicy } from '../../domain/jobs/backoff.ts'
import { JobType } from '../../domain/jobs/events.ts'

export interface JobContext {
  readonly jobId: string
  readonly jobType: string
  /** This attempt's number, from 1. */
  readonly attempt: number
  /** The node running it. */
  readonly node: string
  /** Aborted at the timeout, when the lease is lost, or when the runner stops past its grace period. */
  readonly signal: AbortSignal
  /** Metadata for a command recording the effect `key` of this job: the same command id on every attempt. */
  command(key?: string): CommandMetadata
}

export interface JobHandler<P = unknown> {
  readonly type: string
  readonly payload: z.ZodType<P>
  readonly timeoutSeconds?: number
  readonly backoff?: BackoffPolicy
  readonly maxAttempts?: number
  /** Jobs of this type one node runs at once (default: no cap but the runner's own). */
  readonly concurrency?: number
  /** Its answer is the job's result when it is a plain object (see the module's comment). */
  handle(payload: P, context: JobContext): Promise<unknown>
}

/** Throw it (or any error with `permanent: true`) when retrying cannot help: the job goes straight to dead. */
export class PermanentJobError extends Error {
  readonly permanent = true
  constructor (message: string, readonly code = 'job.permanent') {
    super(message)
  }
}

/**
 * Throw it when the other side said when to come back (a 429 or 503 with Retry-After): the next attempt is due no sooner than
 * `retryAfterMs` from now (capped at 24 h), nor sooner than the job's backoff. Any error with a numeric `retryAfterMs` does the same.
 */
export class RetryLaterError extends Error {
  constructor (message: string, readonly code: string, readonly retryAfterMs: number) {
    super(message)
  }
}

/** How long a handler's error asks to wait before the next attempt, in milliseconds, or undefined when it does not say. */
export function retryAfterOf (error: unknown): number | undefined {
  const value = (error as { retryAfterMs?: unknown } | null | undefined)?.retryAfterMs
  return typeof value === 'number' && !Number.isNaN(value) ? Math.max(0, value) : undefined
}

/** Error codes that mean "do not retry", whatever the error's class. */
const PERMANENT_CODES = new Set(['http.410', 'job.invalid_payload', 'job.permanent'])

/** Whether a handler's error says retrying cannot help: a `permanent` flag, `retryable: false`, or a code such as `http.410`. */
export function isPermanent (error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const e = error as { permanent?: unknown, retryable?: unknown, code?: unknown }
  return e.permanent === true || e.retryable === false || (typeof e.code === 'string' && PERMANENT_CODES.has(e.code))
}

const CODE = /^[a-z0-9_]+(\.[a-z0-9_]+)*$/

/** The failure an error is recorded as: its own code when it has a stable one, else `job.handler_failed`. */
export function failureOf (error: unknown): { code: string, message: string } {
  const e = error as { code?: unknown, message?: unknown } | undefined
  const code = typeof e?.code === 'string' && CODE.test(e.code) && e.code.length <= 100 ? e.code : 'job.handler_failed'
  const message = typeof e?.message === 'string' ? e.message : String(error)
  return { code, message: message.slice(0, 1000) }
}

/**
 * The result a handler's answer gives: a plain object through JSON, or undefined (no result). An object JSON cannot write (a
 * cycle, a bigint) is a PermanentJobError `job.result_invalid`: running the handler again would answer the same.
 */
export function resultOf (value: unknown): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const prototype = Object.getPrototypeOf(value) as unknown
  if (prototype !== Object.prototype && prototype !== null) return undefined
  try {
    return JSON.parse(JSON.stringify(value)) as Record<string, unknown>
  } catch (error) {
    throw new PermanentJobError(`the job's result cannot be written as JSON: ${(error as Error).message}`, 'job.result_invalid')
  }
}

/** The handlers of one runtime, by job type. */
export class JobHandlers {
  readonly #byType = new Map<string, JobHandler>()

  register<P> (handler: JobHandler<P>): void {
    JobType.parse(handler.type)
    if (handler.concurrency !== undefined && !(Number.isInteger(handler.concurrency) && handler.concurrency >= 1)) {
      throw new Error(`the concurrency of job type ${handler.type} must be a whole number from 1`)
    }
    if (this.#byType.has(handler.type)) throw new Error(`a handler for job type ${handler.type} is registered already`)
    this.#byType.set(handler.type, handler as JobHandler)
  }

  get (type: string): JobHandler | undefined {
    return this.#byType.get(type)
  }

  get types (): string[] {
    return [...this.#byType.keys()]
  }
}

/** The metadata of a job's effect `key`: one command id per (job, key), so a second run's append is a replay. */
export function jobCommand (jobId: string, key: string, now: Date, actor = 'jobs'): CommandMetadata {
  return { ...systemCommand(actor, now), commandId: uuidV5(`job/${jobId}/${key}`), causationId: jobId }
}
