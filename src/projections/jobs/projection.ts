/**
 * The due queue: one row per job (`job-<jobId>` streams), folded as the job
 * decider folds them (src/domain/jobs/job.ts), so a node can find what is due
 * and what is leased past its lease with an index instead of reading streams.
 * Times are the events' own (`runAt`, `leaseUntil`, …), so a rebuild gives
 * the same rows.
 *
 * The table is a hint, never the guard: it lags the log, and a claimer that
 * acts on a stale row is refused by the job's decider under the stream's
 * expected version (src/application/jobs/runner.ts). Three columns are not
 * from the log: `claimed_attempt`, `claimed_by` and `claimed_until` are
 * written by claimers (src/projections/jobs/queries.ts), so that a row one
 * node has just claimed is not claimed again by another before this
 * projection has applied the attempt; `apply` never writes them, and a
 * rebuild starts them empty, which costs at most a refused claim.
 *
 * A succeeded job's `result` is the handler's answer as kept on
 * `job.attempt.succeeded` (jsonb, at most 64 KiB; null when it answered
 * none, and for successes written before results were kept); readers of
 * one job's outcome read it with `last_error_code` and `last_error_message`
 * (src/projections/jobs/results.ts). Version 2 added the column; version 3
 * the claim's partial indexes (a claim no longer sorts every waiting row)
 * and an index per list filter.
 *
 * Each batch that makes a job due (scheduled, failed with a retry, retried)
 * sends a NOTIFY on `ledgerline_jobs` in its transaction, so sleeping
 * runners wake when the row is there to be claimed, not before. (One
 * exception: a first build, before any generation is exposed, notifies
 * before the `jobs` view exists; the runners' polling backstop covers it.)
 */
import type { RecordedEvent } from '../../eventstore/types.ts'
import type { SqlTransaction } from '../../sql/client.ts'
import type { Projection } from '../projection.ts'

/** The channel runners LISTEN on; a batch that made a job due NOTIFYs it on commit. */
export const JOBS_CHANNEL = 'ledgerline_jobs'

type Data = Record<string, unknown>
type Apply = (tx: SqlTransaction, jobId: string, data: Data, event: RecordedEvent) => Promise<unknown>

/** The organization a job belongs to: its scheduling metadata's, else a string `orgId` in its payload. */
function orgOf (data: Data, event: RecordedEvent): string | null {
  if (event.metadata.orgId !== undefined) return event.metadata.orgId
  const payload = data.payload as Data | undefined
  return typeof payload?.orgId === 'string' ? payload.orgId.slice(0, 200) : null
}

const handlers: Record<string, Apply> = {
  'job.scheduled': (tx, jobId, d, event) => tx.query(
    `INSERT INTO jobs (job_id, job_type, state, run_at, attempt, max_attempts, job_key, key_mode, org_id, timeout_seconds,
       scheduled_at, updated_at)
     VALUES ($1, $2, 'waiting', $3, 0, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (job_id) DO NOTHING`,
    [jobId, d.jobType, d.runAt, d.maxAttempts, d.key ?? null, d.keyMode ?? null, orgOf(d, event), d.timeoutSeconds, d.scheduledAt,
      event.metadata.occurredAt]),
  'job.attempt.started': (tx, jobId, d, event) => tx.query(
    `UPDATE jobs SET state = 'running', attempt = $2, lease_node = $3, lease_until = $4, started_at = $5, updated_at = $6
      WHERE job_id = $1`, [jobId, d.attempt, d.node, d.leaseUntil, d.startedAt, event.metadata.occurredAt]),
  'job.lease.renewed': (tx, jobId, d, event) => tx.query(
    "UPDATE jobs SET lease_until = $2, updated_at = $3 WHERE job_id = $1 AND state = 'running' AND attempt = $4",
    [jobId, d.leaseUntil, event.metadata.occurredAt, d.attempt]),
  'job.attempt.succeeded': (tx, jobId, d, event) => tx.query(
    `UPDATE jobs SET state = 'succeeded', lease_node = NULL, lease_until = NULL, finished_at = $2, updated_at = $3, result = $4::jsonb
      WHERE job_id = $1`, [jobId, d.finishedAt, event.metadata.occurredAt, d.result === undefined ? null : JSON.stringify(d.result)]),
  'job.attempt.failed': (tx, jobId, d, event) => tx.query(
    `UPDATE jobs SET state = 'waiting', run_at = $2, lease_node = NULL, lease_until = NULL, last_error_code = $3, last_error_message = $4,
       updated_at = $5
      WHERE job_id = $1`, [jobId, d.retryAt ?? d.failedAt, d.code, d.message, event.metadata.occurredAt]),
  'job.dead': (tx, jobId, d, event) => tx.query(
    "UPDATE jobs SET state = 'dead', dead_reason = $2, finished_at = $3, updated_at = $4 WHERE job_id = $1",
    [jobId, d.reason, d.at, event.metadata.occurredAt]),
  // A job cancelled while running keeps its lease columns: the node may not have heard yet (see the decider's retry).
  'job.cancelled': (tx, jobId, d, event) => tx.query(
    "UPDATE jobs SET state = 'cancelled', finished_at = $2, updated_at = $3 WHERE job_id = $1",
    [jobId, d.at, event.metadata.occurredAt]),
  'job.retried': (tx, jobId, d, event) => tx.query(
    `UPDATE jobs SET state = 'waiting', run_at = $2, max_attempts = $3, lease_node = NULL, lease_until = NULL, dead_reason = NULL,
       finished_at = NULL, updated_at = $4
      WHERE job_id = $1`, [jobId, d.runAt, d.maxAttempts, event.metadata.occurredAt])
}

export const JOB_EVENT_TYPES = Object.keys(handlers)

/** The events after which a job may be due: a sleeping runner is woken for them. */
const MAKES_DUE = new Set(['job.scheduled', 'job.attempt.failed', 'job.retried'])

export const jobsProjection: Projection = {
  name: 'jobs',
  version: 3,
  eventTypes: JOB_EVENT_TYPES,
  tables: ['jobs'],
  setup: `
    CREATE TABLE jobs (
      job_id text PRIMARY KEY,
      job_type text NOT NULL,
      -- waiting | running | succeeded | dead | cancelled (the decider's statuses)
      state text NOT NULL,
      run_at timestamptz NOT NULL,
      -- attempts started so far; the current one while running
      attempt integer NOT NULL,
      max_attempts integer NOT NULL,
      lease_node text,
      lease_until timestamptz,
      job_key text,
      key_mode text,
      org_id text,
      timeout_seconds integer NOT NULL,
      last_error_code text,
      last_error_message text,
      dead_reason text,
      -- the handler's answer on success (version 2)
      result jsonb,
      scheduled_at timestamptz NOT NULL,
      started_at timestamptz,
      finished_at timestamptz,
      updated_at timestamptz NOT NULL,
      -- written by claimers, never by apply (see the module's comment)
      claimed_attempt integer,
      claimed_by text,
      claimed_until timestamptz);
    -- the claim's three sources, and the oldest due job (queries.ts)
    CREATE INDEX jobs_claimable ON jobs (run_at, job_id)
      WHERE state = 'waiting' AND (claimed_attempt IS NULL OR claimed_attempt <= attempt);
    CREATE INDEX jobs_claim_lapsed ON jobs (claimed_until) WHERE state = 'waiting' AND claimed_attempt > attempt;
    CREATE INDEX jobs_lease_expired ON jobs (lease_until) WHERE state = 'running';`,
  // The operators' lists (queries.ts): each filter's page, and a replay's window, is an index range in the list's order.
  indexes: `
    CREATE INDEX jobs_listed ON jobs (scheduled_at DESC, job_id COLLATE "C" DESC);
    CREATE INDEX jobs_by_state ON jobs (state, scheduled_at DESC, job_id COLLATE "C" DESC);
    CREATE INDEX jobs_by_type ON jobs (job_type, scheduled_at DESC, job_id COLLATE "C" DESC);
    CREATE INDEX jobs_org ON jobs (org_id, scheduled_at DESC, job_id COLLATE "C" DESC) WHERE org_id IS NOT NULL;
    CREATE INDEX jobs_ended ON jobs (job_type, state, finished_at, job_id COLLATE "C") WHERE finished_at IS NOT NULL;`,
  async apply (events: readonly RecordedEvent[], tx) {
    let due = false
    for (const event of events) {
      await handlers[event.type]?.(tx, event.streamId.slice('job-'.length), event.data as Data, event)
      due ||= MAKES_DUE.has(event.type)
    }
    // Delivered on commit, once the rows are there to be claimed.
    if (due) await tx.query('SELECT pg_notify($1, \'\')', [JOBS_CHANNEL])
  }
}
