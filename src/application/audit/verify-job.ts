/**
 * Audit verification as a durable job (`audit.verify`): a request schedules
 * it and answers at once; a node running jobs replays the event log
 * (verify.ts) and keeps the report as the job's result; the caller polls
 * the verification until it is done.
 *
 * - One pending verification per organization: the job key
 *   `audit-verify/<orgId>` in `preserve` mode, so a request while one waits
 *   gets that one's id. A verification already running does not hold the
 *   key (src/domain/jobs/job.ts): a request then schedules the next, which
 *   checks the log as it stands after the one running.
 * - A mismatch is a verification that ran: the job succeeds with a report
 *   whose `ok` is false (and `ledgerline_audit_verify_failures_total`
 *   counts it, on the node that ran it). Only an error (the store
 *   unreachable, the timeout) fails an attempt; after three the job is dead
 *   with the last error.
 * - One verification at a time per node (the handler's `concurrency`): each
 *   holds the whole chain in memory. Others wait in the queue, for this
 *   node or another, without spending an attempt.
 * - The request's Idempotency-Key gives the job's id (from the command id),
 *   so a retried request whose answer was lost finds the same job.
 *
 * An attempt's error is shown to the caller by its code; its message only
 * when the jobs engine wrote it (`job.timeout`, `job.lease_lost`…). Any
 * other message is the text of whatever the handler met (a driver's error
 * naming a host, say): it stays on the job for the operators, and the
 * caller reads a fixed sentence instead, as a 5xx hides its detail.
 *
 * Reading a verification: from the jobs projection; a job written but not
 * yet projected (the read right after the request) is read from its stream.
 * A job the runner has started always has its row (it is claimed from it),
 * so the stream only ever answers a waiting or cancelled job.
 */
import { z } from 'zod'
import { foldRecorded } from '../../domain/decider.ts'
import { uuidV5, type CommandMetadata } from '../../domain/envelope.ts'
import { domainError } from '../../domain/errors.ts'
import { jobDecider, jobStreamId, type JobState } from '../../domain/jobs/job.ts'
import { Id } from '../../domain/values.ts'
import type { EventStore, RecordedEvent } from '../../eventstore/types.ts'
import { jobOutcome, type JobOutcome } from '../../projections/jobs/results.ts'
import type { SqlExecutor } from '../../sql/client.ts'
import type { JobHandler } from '../jobs/handlers.ts'
import type { Scheduled, ScheduleOptions } from '../jobs/schedule.ts'
import { verifyAuditLog, type VerifyDeps, type VerifyReport } from './verify.ts'

export const AUDIT_VERIFY_JOB = 'audit.verify'

export const VerifyJobPayload = z.object({ orgId: Id }).strict()
export type VerifyJobPayload = z.infer<typeof VerifyJobPayload>

export class VerificationNotFound extends domainError('audit.verification_not_found', 404,
  'no audit verification with this id in this organization') {}

/** The handler: replays the log for the organization and answers the report, the job's result. */
export function auditVerifyJobHandler (deps: VerifyDeps): JobHandler<VerifyJobPayload> {
  return {
    type: AUDIT_VERIFY_JOB,
    payload: VerifyJobPayload,
    // A replay of a large log takes minutes; its lease is renewed all along.
    timeoutSeconds: 600,
    maxAttempts: 3,
    backoff: { baseMs: 5000, factor: 3, capMs: 60_000 },
    concurrency: 1,
    async handle ({ orgId }, { signal }) {
      // Checked at each page of events read: a timeout or a lost lease stops the replay, not only the wait for it.
      return verifyAuditLog(deps, orgId, () => signal.throwIfAborted())
    }
  }
}

export type VerificationState = JobOutcome['state']

/** Codes whose messages the jobs engine writes itself (src/application/jobs/runner.ts, src/domain/jobs/job.ts). */
const ENGINE_CODES = new Set([
  'job.timeout', 'job.shutdown', 'job.lease_lost', 'job.result_too_large', 'job.result_invalid', 'job.invalid_payload'
])
const UNSHOWN = 'the verification could not run; the error is kept on its job for the operators'

/** The error as the caller sees it: its code, and its message when the engine wrote it. */
function shown (error: JobOutcome['lastError']): Verification['error'] {
  if (error === null) return null
  return { code: error.code, message: ENGINE_CODES.has(error.code) ? error.message : UNSHOWN }
}

export interface Verification {
  readonly jobId: string
  readonly orgId: string
  readonly state: VerificationState
  readonly attempts: number
  readonly scheduledAt: string
  /** Null until it succeeded, died or was cancelled. */
  readonly finishedAt: string | null
  /** The last failed attempt's, unless it succeeded. */
  readonly error: { readonly code: string, readonly message: string } | null
  /** The verification's report once it succeeded. */
  readonly report: VerifyReport | null
}

export interface VerificationRequested {
  readonly jobId: string
  readonly state: VerificationState
  /** Where to poll it. */
  readonly location: string
}

export interface VerificationServices {
  readonly jobs: { schedule(type: string, payload: unknown, options?: ScheduleOptions): Promise<Scheduled> }
  readonly sql: SqlExecutor
  readonly store: Pick<EventStore, 'readStream'>
}

export function verificationLocation (orgId: string, jobId: string): string {
  return `/v1/orgs/${orgId}/audit-events/verifications/${jobId}`
}

/** Schedules a verification of the organization's log, or finds the one waiting; `metadata` names the caller and the org. */
export async function requestVerification (
  services: VerificationServices, metadata: CommandMetadata, orgId: string
): Promise<VerificationRequested> {
  const scheduled = await services.jobs.schedule(AUDIT_VERIFY_JOB, { orgId }, {
    jobId: uuidV5(`audit-verify/${metadata.commandId}`),
    key: `audit-verify/${orgId}`,
    keyMode: 'preserve',
    metadata: { ...metadata, orgId }
  })
  const { state } = await readVerification(services, orgId, scheduled.jobId)
  return { jobId: scheduled.jobId, state, location: verificationLocation(orgId, scheduled.jobId) }
}

/** A verification of the organization's log; VerificationNotFound for an unknown job, another kind of job, or another org's. */
export async function readVerification (services: VerificationServices, orgId: string, jobId: string): Promise<Verification> {
  const outcome = await jobOutcome(services.sql, jobId) ?? outcomeOf(await services.store.readStream(jobStreamId(jobId)))
  if (outcome === undefined || outcome.jobType !== AUDIT_VERIFY_JOB || outcome.orgId !== orgId) throw new VerificationNotFound()
  const succeeded = outcome.state === 'succeeded'
  return {
    jobId,
    orgId,
    state: outcome.state,
    attempts: outcome.attempts,
    scheduledAt: outcome.scheduledAt.toISOString(),
    finishedAt: outcome.finishedAt?.toISOString() ?? null,
    error: succeeded ? null : shown(outcome.lastError),
    report: succeeded ? outcome.result as VerifyReport | null : null
  }
}

/** A job's outcome from its own stream, as the projection would have it; undefined for a stream with no job. */
function outcomeOf (events: readonly RecordedEvent[]): JobOutcome | undefined {
  const state: JobState = foldRecorded(jobDecider, events)
  const first = events[0]
  if (state.status === 'none' || first === undefined) return undefined
  const { job } = state
  const last = events.at(-1)!.data as { at?: string, finishedAt?: string }
  const over = state.status === 'succeeded' || state.status === 'dead' || state.status === 'cancelled'
  const payloadOrg = job.payload.orgId
  return {
    jobId: job.jobId,
    jobType: job.jobType,
    state: state.status,
    orgId: first.metadata.orgId ?? (typeof payloadOrg === 'string' ? payloadOrg : null),
    attempts: state.attempts,
    scheduledAt: new Date(job.scheduledAt),
    finishedAt: over ? new Date(last.finishedAt ?? last.at ?? job.scheduledAt) : null,
    lastError: state.status === 'succeeded' ? null : state.lastError,
    result: state.status === 'succeeded' ? state.result : null
  }
}
