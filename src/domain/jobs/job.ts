/**
 * The job aggregate (`job-<jobId>`).
 *
 *   schedule ─► waiting ─ start (due) ─► running ─┬─ succeed ─────────────────────► succeeded
 *                  ▲                              ├─ fail, attempts left ─► waiting (at its retry time)
 *                  │                              ├─ fail, last attempt or do-not-retry ─► dead
 *                  │                              └─ lease expired, another node starts ─► attempt lost, next attempt running
 *                  └──── retry (manual) ◄──── dead, cancelled, or failed and waiting
 *   waiting or running ─ cancel ─► cancelled
 *
 * Invariants (src/domain/jobs/job.test.ts checks them over random command
 * sequences from several nodes): no job runs on two nodes at once — an
 * attempt starts only when no other attempt's lease is live; no attempt
 * starts after `dead` or `cancelled` without a manual retry; no attempt is
 * numbered above the maximum in force; only the holder of the current
 * attempt's lease reports its outcome.
 *
 * Leases. A start holds the job until min(now + lease, start + timeout); a
 * heartbeat (RenewLease, by the holder, before expiry) moves that on, never
 * past the timeout, so a hung handler whose heartbeat still beats is taken
 * over anyway. Once the lease has expired, StartAttempt from any node records
 * the old attempt as failed (`job.lease_lost`, retry at once: the lease
 * already made the wait) and starts the next. The holder's late report after
 * a takeover is refused (LeaseLost); its report after expiry but before any
 * takeover is still taken: the work is done, and nobody else has begun it.
 *
 * Manual retry. From dead, cancelled, or failed and waiting for its retry:
 * the job is due now and has at least one attempt left (the maximum becomes
 * max(maximum, attempts + 1)). It adds one rather than resetting the budget:
 * attempt numbers stay unique in the stream, and a job still failing after a
 * fix is dead again after one try instead of spending another three days of
 * attempts unnoticed; retry again, or schedule a new job. A job cancelled
 * while running is due only when its last lease has run out, since the node
 * may not have heard of the cancel yet.
 *
 * Keys. A key spans streams, so one job's decider cannot enforce it. The
 * plan: a reservation stream per (job type, key), `jobkey-<sha256(type, key)>`,
 * naming the job that holds the key, like the impersonator's reservation
 * (src/domain/impersonation/reservation.ts): scheduling with a key reads it,
 * judges the holder from the holder's own stream (`holdsKey`), and appends
 * with the version it read, so of two racing schedules one wins. While the
 * holder is pending (waiting, never running at that moment):
 * - `replace` (the default): the holder is cancelled (`reason: replaced`,
 *   `replacedBy`) and the new job takes the key. A holder that is running is
 *   not replaced (CancelJob refuses with JobLeased): the new job is scheduled
 *   beside it and takes the key; handlers are idempotent by job id anyway.
 * - `preserve`: the new job is not scheduled; the caller gets the holder's id.
 * A holder that has succeeded, is dead or cancelled no longer holds the key.
 *
 * Results. A success may carry the handler's result, a JSON object kept on
 * `job.attempt.succeeded` and in the succeeded state. One larger than 64 KiB
 * as JSON is refused (JobResultTooLarge): the log keeps it for ever, and a
 * caller polls for a report, not a document. The runner checks the size
 * first and records such an attempt as failed, without retry
 * (`job.result_too_large`): running it again would answer the same.
 *
 * Retry-After. A handler may ask to wait longer than the backoff (a
 * webhook receiver's 429 or 503 with Retry-After): FailAttempt's
 * `retryAfterMs`. The next attempt is due after max(backoff, retryAfterMs),
 * the latter capped at a day; the failure records it. A do-not-retry error
 * still makes the job dead, and the last attempt is still the last.
 *
 * Time arrives as the decision's `now`; randomness (the backoff's jitter) as
 * `random` in FailAttempt: `decide` stays pure and replays exactly.
 */
import type { Decider } from '../decider.ts'
import { handlerOf } from '../dispatch.ts'
import { domainError } from '../errors.ts'
import { backoffDelay, DEFAULT_BACKOFF, scheduleMaxAttempts, type BackoffPolicy } from './backoff.ts'
import { JobClosed, JobLeased, JobNotDue, JobNotFound, JobNotRetryable, LeaseLost } from './errors.ts'
import type { JobEvent, KeyMode } from './events.ts'

export const DEFAULT_TIMEOUT_SECONDS = 300
export const DEFAULT_LEASE_SECONDS = 30
/** The longest wait a handler may ask for (a receiver's Retry-After): a day, so a bad header cannot park a job for ever. */
export const RETRY_AFTER_CAP_MS = 86_400_000
/** The largest result kept, in bytes of UTF-8 JSON. */
export const RESULT_LIMIT_BYTES = 64 * 1024

/** A result over RESULT_LIMIT_BYTES: the runner records the attempt as failed with this code rather than send it. */
export class JobResultTooLarge extends domainError('job.result_too_large', 422, 'the job\'s result is larger than 64 KiB as JSON') {}

/** How many bytes `result` takes as UTF-8 JSON. */
export function resultBytes (result: Readonly<Record<string, unknown>>): number {
  return new TextEncoder().encode(JSON.stringify(result)).length
}

type Of<Type extends JobEvent['type']> = Extract<JobEvent, { type: Type }>['data']
export type Job = Of<'job.scheduled'>
/** What a handler answered (a JSON object), kept on its success. */
export type JobResult = NonNullable<Of<'job.attempt.succeeded'>['result']>
export interface Failure { readonly code: string, readonly message: string }

/** `attempts`: how many attempts have started; the current one while running. */
export type JobState =
  | { status: 'none' }
  | {
    status: 'waiting', job: Job, attempts: number, maxAttempts: number, runAt: string, lastError: Failure | null,
    /** After a retry of a cancelled job: the lease its interrupted attempt may still hold (a second cancel must keep it). */
    heldUntil?: string | null
  }
  | {
    status: 'running', job: Job, attempts: number, maxAttempts: number, node: string, startedAt: string, leaseUntil: string,
    lastError: Failure | null
  }
  | { status: 'succeeded', job: Job, attempts: number, result: JobResult | null }
  | { status: 'dead', job: Job, attempts: number, maxAttempts: number, lastError: Failure | null }
  | {
    status: 'cancelled', job: Job, attempts: number, maxAttempts: number, lastError: Failure | null,
    /** The lease of the attempt it interrupted. */
    leaseUntil: string | null
  }

export type JobCommand =
  | {
    type: 'ScheduleJob'
    data: {
      jobId: string, jobType: string, payload: Record<string, unknown>, runAt?: string, key?: string, keyMode?: KeyMode,
      maxAttempts?: number, backoff?: BackoffPolicy, timeoutSeconds?: number
    }
  }
  | { type: 'StartAttempt', data: { node: string, leaseSeconds: number } }
  | { type: 'RenewLease', data: { node: string, attempt: number, leaseSeconds: number } }
  | { type: 'SucceedAttempt', data: { node: string, attempt: number, result?: Readonly<Record<string, unknown>> } }
  | {
    type: 'FailAttempt',
    data: {
      node: string, attempt: number, code: string, message: string,
      /** False for a 410 or another "do not retry". */
      retryable: boolean,
      /** In [0, 1): the jitter's draw. */
      random: number
      /** The handler asked to wait at least this long (a receiver's Retry-After); capped at RETRY_AFTER_CAP_MS. */
      retryAfterMs?: number
    }
  }
  | { type: 'CancelJob', data: { by: string, reason?: 'cancelled' | 'replaced', replacedBy?: string, note?: string } }
  | { type: 'RetryJob', data: { by: string } }

export function jobStreamId (jobId: string): string {
  return `job-${jobId}`
}

const later = (a: string, b: string): string => Date.parse(a) >= Date.parse(b) ? a : b
const plus = (now: Date, ms: number): string => new Date(now.getTime() + ms).toISOString()

function schedule (data: Extract<JobCommand, { type: 'ScheduleJob' }>['data'], now: Date): JobEvent[] {
  const { runAt, maxAttempts, backoff, timeoutSeconds, payload, ...rest } = data
  return [{
    type: 'job.scheduled',
    data: {
      ...rest,
      payload: payload as Job['payload'],
      runAt: runAt ?? now.toISOString(),
      maxAttempts: maxAttempts ?? scheduleMaxAttempts(backoff ?? DEFAULT_BACKOFF),
      backoff: backoff ?? DEFAULT_BACKOFF,
      timeoutSeconds: timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
      scheduledAt: now.toISOString()
    }
  }]
}

function started (state: { job: Job, attempts: number }, node: string, leaseSeconds: number, now: Date): JobEvent {
  const leaseUntil = Math.min(now.getTime() + leaseSeconds * 1000, now.getTime() + state.job.timeoutSeconds * 1000)
  return {
    type: 'job.attempt.started',
    data: { attempt: state.attempts + 1, node, startedAt: now.toISOString(), leaseUntil: new Date(leaseUntil).toISOString() }
  }
}

function start (state: JobState, node: string, leaseSeconds: number, now: Date): JobEvent[] {
  switch (state.status) {
    case 'waiting':
      if (now.getTime() < Date.parse(state.runAt)) throw new JobNotDue(undefined, { runAt: state.runAt })
      return [started(state, node, leaseSeconds, now)]
    case 'running': {
      if (now.getTime() < Date.parse(state.leaseUntil)) throw new JobLeased(undefined, { leaseUntil: state.leaseUntil })
      const exhausted = state.attempts >= state.maxAttempts
      const lost: JobEvent = {
        type: 'job.attempt.failed',
        data: {
          attempt: state.attempts,
          node: state.node,
          code: 'job.lease_lost',
          message: `the lease expired at ${state.leaseUntil} before the attempt reported`,
          failedAt: now.toISOString(), retryAt: exhausted ? null : now.toISOString()
        }
      }
      if (exhausted) {
        return [lost, { type: 'job.dead', data: { attempts: state.attempts, reason: 'attempts_exhausted', at: now.toISOString() } }]
      }
      return [lost, started(state, node, leaseSeconds, now)]
    }
    default:
      return closed(state)
  }
}

/** The running state whose lease `node` holds for `attempt`, or the refusal. */
function held (state: JobState, node: string, attempt: number): Extract<JobState, { status: 'running' }> {
  if (state.status === 'running' && state.node === node && state.attempts === attempt) return state
  if (state.status === 'running' || state.status === 'waiting') throw new LeaseLost(undefined, { attempt })
  return closed(state)
}

function renew (state: JobState, data: Extract<JobCommand, { type: 'RenewLease' }>['data'], now: Date): JobEvent[] {
  const running = held(state, data.node, data.attempt)
  if (now.getTime() >= Date.parse(running.leaseUntil)) {
    throw new LeaseLost('the lease expired before this heartbeat', { attempt: data.attempt, leaseUntil: running.leaseUntil })
  }
  const deadline = Date.parse(running.startedAt) + running.job.timeoutSeconds * 1000
  const leaseUntil = Math.min(now.getTime() + data.leaseSeconds * 1000, deadline)
  if (leaseUntil <= Date.parse(running.leaseUntil)) return []
  return [{ type: 'job.lease.renewed', data: { attempt: data.attempt, node: data.node, leaseUntil: new Date(leaseUntil).toISOString() } }]
}

function succeed (state: JobState, data: Extract<JobCommand, { type: 'SucceedAttempt' }>['data'], now: Date): JobEvent[] {
  held(state, data.node, data.attempt)
  const { node, attempt, result } = data
  if (result !== undefined) {
    const bytes = resultBytes(result)
    if (bytes > RESULT_LIMIT_BYTES) throw new JobResultTooLarge(undefined, { bytes, limit: RESULT_LIMIT_BYTES })
  }
  return [{
    type: 'job.attempt.succeeded',
    data: { attempt, node, finishedAt: now.toISOString(), ...(result === undefined ? {} : { result: result as JobResult }) }
  }]
}

function fail (state: JobState, data: Extract<JobCommand, { type: 'FailAttempt' }>['data'], now: Date): JobEvent[] {
  const running = held(state, data.node, data.attempt)
  const last = running.attempts >= running.maxAttempts
  const retryAfterMs = data.retryAfterMs === undefined ? undefined : Math.min(RETRY_AFTER_CAP_MS, Math.max(0, Math.ceil(data.retryAfterMs)))
  // The backoff is drawn even when Retry-After asks for longer: the schedule stays the floor a receiver cannot shorten.
  const delay = (): number => Math.max(backoffDelay(running.attempts, running.job.backoff, data.random), retryAfterMs ?? 0)
  const retryAt = !data.retryable || last ? null : plus(now, delay())
  const failed: JobEvent = {
    type: 'job.attempt.failed',
    data: {
      attempt: data.attempt, node: data.node, code: data.code, message: data.message.slice(0, 1000), failedAt: now.toISOString(), retryAt,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs })
    }
  }
  if (retryAt !== null) return [failed]
  const reason = data.retryable ? 'attempts_exhausted' : 'do_not_retry'
  return [failed, { type: 'job.dead', data: { attempts: running.attempts, reason, at: now.toISOString() } }]
}

function cancel (state: JobState, data: Extract<JobCommand, { type: 'CancelJob' }>['data'], now: Date): JobEvent[] {
  if (state.status === 'cancelled') return []
  if (state.status !== 'waiting' && state.status !== 'running') return closed(state)
  // A running holder of a key is not replaced: the new job runs beside it (see the header).
  if (data.reason === 'replaced' && state.status === 'running') {
    throw new JobLeased('a running job is not replaced', { leaseUntil: state.leaseUntil })
  }
  const { by, reason = 'cancelled', replacedBy, note } = data
  return [{
    type: 'job.cancelled',
    data: {
      by, reason, ...(replacedBy === undefined ? {} : { replacedBy }), ...(note === undefined ? {} : { note }), at: now.toISOString()
    }
  }]
}

function retry (state: JobState, by: string, now: Date): JobEvent[] {
  const failedAndWaiting = state.status === 'waiting' && state.lastError !== null
  if (state.status !== 'dead' && state.status !== 'cancelled' && !failedAndWaiting) {
    throw new JobNotRetryable(undefined, { status: state.status })
  }
  const held = state.status === 'cancelled' ? state.leaseUntil : state.status === 'waiting' ? (state.heldUntil ?? null) : null
  const runAt = held !== null ? later(now.toISOString(), held) : now.toISOString()
  return [{ type: 'job.retried', data: { by, runAt, maxAttempts: Math.max(state.maxAttempts, state.attempts + 1), at: now.toISOString() } }]
}

function closed (state: JobState): never {
  if (state.status === 'none') throw new JobNotFound()
  const what = state.status === 'succeeded' ? 'has succeeded' : state.status === 'dead' ? 'is dead' : `is ${state.status}`
  throw new JobClosed(`the job ${what}`, { status: state.status })
}

function unreachable (value: never): never {
  throw new Error(`unhandled command ${JSON.stringify(value)}`)
}

export const jobDecider: Decider<JobCommand, JobEvent, JobState> = {
  initialState: () => ({ status: 'none' }),

  decide (command, state, { now }) {
    if (state.status === 'none' && command.type !== 'ScheduleJob') throw new JobNotFound()
    switch (command.type) {
      // A job id is scheduled once: scheduling it again (a retried request) changes nothing.
      case 'ScheduleJob': return state.status === 'none' ? schedule(command.data, now) : []
      case 'StartAttempt': return start(state, command.data.node, command.data.leaseSeconds, now)
      case 'RenewLease': return renew(state, command.data, now)
      case 'SucceedAttempt': return succeed(state, command.data, now)
      case 'FailAttempt': return fail(state, command.data, now)
      case 'CancelJob': return cancel(state, command.data, now)
      case 'RetryJob': return retry(state, command.data.by, now)
    }
    return unreachable(command)
  },

  evolve (state, event) {
    const handler = handlerOf<JobEvolver<JobEvent['type']>>(ON_EVENT as never, event.type)
    return handler === undefined ? state : handler(state, event as never)
  }
}

type EventOf<T extends JobEvent['type']> = Extract<JobEvent, { type: T }>
type JobEvolver<T extends JobEvent['type']> = (state: JobState, event: EventOf<T>) => JobState

function attemptStarted (state: JobState, { data }: EventOf<'job.attempt.started'>): JobState {
  if (state.status !== 'waiting') return state
  return {
    status: 'running', job: state.job, attempts: data.attempt, maxAttempts: state.maxAttempts, node: data.node,
    startedAt: data.startedAt, leaseUntil: data.leaseUntil, lastError: state.lastError
  }
}

function attemptFailed (state: JobState, { data }: EventOf<'job.attempt.failed'>): JobState {
  if (state.status !== 'running') return state
  const { job, attempts, maxAttempts } = state
  const lastError = { code: data.code, message: data.message }
  return { status: 'waiting', job, attempts, maxAttempts, runAt: data.retryAt ?? data.failedAt, lastError }
}

function dead (state: JobState): JobState {
  if (state.status !== 'waiting' && state.status !== 'running') return state
  return { status: 'dead', job: state.job, attempts: state.attempts, maxAttempts: state.maxAttempts, lastError: state.lastError }
}

function cancelled (state: JobState): JobState {
  if (state.status !== 'waiting' && state.status !== 'running') return state
  return {
    status: 'cancelled', job: state.job, attempts: state.attempts, maxAttempts: state.maxAttempts, lastError: state.lastError,
    leaseUntil: state.status === 'running' ? state.leaseUntil : (state.heldUntil ?? null)
  }
}

function retried (state: JobState, { data }: EventOf<'job.retried'>): JobState {
  if (state.status !== 'dead' && state.status !== 'cancelled' && state.status !== 'waiting') return state
  const { job, attempts, lastError } = state
  const heldUntil = state.status === 'cancelled' ? state.leaseUntil : state.status === 'waiting' ? (state.heldUntil ?? null) : null
  return { status: 'waiting', job, attempts, maxAttempts: data.maxAttempts, runAt: data.runAt, lastError, heldUntil }
}

/** Each event on a job, by type. */
const ON_EVENT: { readonly [T in JobEvent['type']]: JobEvolver<T> } = {
  'job.scheduled': (state, { data }) =>
    (state.status === 'none'
      ? { status: 'waiting', job: data, attempts: 0, maxAttempts: data.maxAttempts, runAt: data.runAt, lastError: null }
      : state),
  'job.attempt.started': attemptStarted,
  'job.lease.renewed': (state, { data }) => (state.status === 'running' ? { ...state, leaseUntil: data.leaseUntil } : state),
  'job.attempt.succeeded': (state, { data }) =>
    (state.status === 'running' ? { status: 'succeeded', job: state.job, attempts: state.attempts, result: data.result ?? null } : state),
  'job.attempt.failed': attemptFailed,
  'job.dead': dead,
  'job.cancelled': cancelled,
  'job.retried': retried
}

/** Whether this job still holds its key: it is pending (waiting to run or to retry), not running nor ended. */
export function holdsKey (state: JobState): boolean {
  return state.status === 'waiting'
}
