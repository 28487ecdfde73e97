/**
 * Durable jobs (`job-<jobId>`): work that must happen outside a request —
 * a webhook delivery, inbound processing, slow work — recorded as events,
 * one stream per job, so every schedule, attempt, failure and retry is in
 * the log, and a node that dies mid-job loses only its lease.
 *
 * Glossary:
 * - attempt: one run of the handler, numbered from 1 and never reused in a
 *   stream (a late report names its attempt, and cannot pass for a later one);
 * - lease: the right of one node to run the current attempt until
 *   `leaseUntil`; the handler's heartbeat renews it; once it has expired,
 *   another node may take the job, and the lost attempt counts as failed
 *   (`job.lease_lost`);
 * - key: at most one pending job per (job type, key); see src/domain/jobs/job.ts.
 *
 * A handler's result is kept, when it answers a plain JSON object of at
 * most 64 KiB (`RESULT_LIMIT_BYTES`, src/domain/jobs/job.ts), on
 * `job.attempt.succeeded`: a report a caller polls for (an audit
 * verification's), not a document. Effects stay in the handler's own
 * streams (handlers are idempotent by job id). Not in these events: error
 * stacks (a code and a short message only: the log is kept for ever and
 * read by auditors).
 */
import { z } from 'zod'
import { defineEvent } from '../registry.ts'
import { BackoffPolicy } from './backoff.ts'

const id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)
/** A job type names its handler, e.g. `webhook.deliver`. */
export const JobType = z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/).max(100)
/** A node running jobs: its host name and process, as the runner names itself. */
const node = z.string().min(1).max(200)
const at = z.iso.datetime()
const attempt = z.number().int().min(1).max(1_000_000)
/** A stable code, e.g. `http.410`, `job.timeout`, `job.lease_lost`. */
const code = z.string().regex(/^[a-z0-9_]+(\.[a-z0-9_]+)*$/).max(100)

/** `replace`: a new job with the key cancels the pending one and takes its place; `preserve`: the new one is not scheduled. */
export const KEY_MODES = ['replace', 'preserve'] as const
export type KeyMode = typeof KEY_MODES[number]

export const jobScheduled = defineEvent({
  type: 'job.scheduled',
  schema: z.object({
    jobId: id,
    jobType: JobType,
    /** The handler's input; JSON, kept small (an id to look up rather than the document). */
    payload: z.record(z.string(), z.json()),
    runAt: at,
    key: z.string().min(1).max(200).optional(),
    keyMode: z.enum(KEY_MODES).optional(),
    maxAttempts: z.number().int().min(1).max(1000),
    backoff: BackoffPolicy,
    /** How long one attempt may run; its lease is never renewed past this. */
    timeoutSeconds: z.number().int().min(1).max(86_400),
    scheduledAt: at
  }).strict()
})

export const attemptStarted = defineEvent({
  type: 'job.attempt.started',
  schema: z.object({ attempt, node, startedAt: at, leaseUntil: at }).strict()
})

/** A heartbeat that moved the lease on (not in the list: without it a long attempt's lease could not outlive its start). */
export const leaseRenewed = defineEvent({
  type: 'job.lease.renewed',
  schema: z.object({ attempt, node, leaseUntil: at }).strict()
})

type Json = string | number | boolean | null | Json[] | { [key: string]: Json }

/** Deeper than this, a result is refused rather than walked. */
const MAX_RESULT_DEPTH = 64

/** Whether `value` is JSON, checked where it stands, at most MAX_RESULT_DEPTH levels deep. */
function isJson (value: unknown, depth: number): value is Json {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true
  if (typeof value === 'number') return Number.isFinite(value)
  if (typeof value !== 'object' || depth >= MAX_RESULT_DEPTH) return false
  if (Array.isArray(value)) return value.every((item) => isJson(item, depth + 1))
  const prototype = Object.getPrototypeOf(value) as unknown
  if (prototype !== Object.prototype && prototype !== null) return false
  return Object.values(value).every((item) => isJson(item, depth + 1))
}

/**
 * What a handler answered, when it was a JSON object; events written before results were kept have none. It is checked,
 * not rebuilt: a rebuilt copy drops any key named `__proto__` (an assignment sets the prototype instead), and the event
 * must hold what the handler answered.
 */
export const JobResult = z.custom<Record<string, Json>>(
  (value) => typeof value === 'object' && value !== null && !Array.isArray(value) && isJson(value, 0),
  { message: 'a JSON object' }
)

export const attemptSucceeded = defineEvent({
  type: 'job.attempt.succeeded',
  schema: z.object({ attempt, node, finishedAt: at, result: JobResult.optional() }).strict()
})

export const attemptFailed = defineEvent({
  type: 'job.attempt.failed',
  schema: z.object({
    attempt,
    node,
    code,
    message: z.string().max(1000),
    failedAt: at,
    /** When the next attempt is due; null when there is none (a `job.dead` follows). */
    retryAt: at.nullable(),
    /**
     * How long the handler asked to wait (a receiver's Retry-After), capped at 24 h: the retry was due no sooner. Absent when it
     * asked nothing (and on events written before it could).
     */
    retryAfterMs: z.number().int().min(0).max(86_400_000).optional()
  }).strict()
})

export const jobDead = defineEvent({
  type: 'job.dead',
  schema: z.object({
    attempts: attempt,
    /** `attempts_exhausted`: the last allowed attempt failed; `do_not_retry`: the handler said retrying cannot help (e.g. a 410). */
    reason: z.enum(['attempts_exhausted', 'do_not_retry']),
    at
  }).strict()
})

export const jobCancelled = defineEvent({
  type: 'job.cancelled',
  schema: z.object({
    /** A user, or `system`. */
    by: z.string().min(1).max(200),
    /** `replaced`: a job with the same key took its place (`replacedBy`). */
    reason: z.enum(['cancelled', 'replaced']),
    replacedBy: id.optional(),
    note: z.string().trim().max(500).optional(),
    at
  }).strict()
})

/** A manual retry: see `retry` in src/domain/jobs/job.ts for what it grants. */
export const jobRetried = defineEvent({
  type: 'job.retried',
  schema: z.object({ by: z.string().min(1).max(200), runAt: at, maxAttempts: z.number().int().min(1).max(1_000_000), at }).strict()
})

export const jobEvents = [jobScheduled, attemptStarted, leaseRenewed, attemptSucceeded, attemptFailed, jobDead, jobCancelled, jobRetried]

type DataOf<D> = D extends { type: infer T, schema: infer S extends z.ZodType } ? { type: T, data: z.infer<S> } : never
export type JobEvent = DataOf<typeof jobEvents[number]>
