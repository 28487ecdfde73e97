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
import type { Projection } from '../projection.ts'

/** The channel runners LISTEN on; a batch that made a job due NOTIFYs it on commit. */
export const JOBS_CHANNEL = 'ledgerline_jobs'

type Data = Record<string, unknown>

/**
 * How one event type is applied: `values` gives an event's values, and `sql` applies a group of events of the type,
 * one per job, from one array per value ($1 the job ids, $2 the next value…), in one statement.
 */
interface Apply {
  readonly sql: string
  values(jobId: string, data: Data, event: RecordedEvent): unknown[]
}

/** The organization a job belongs to: its scheduling metadata's, else a string `orgId` in its payload. */
function orgOf (data: Data, event: RecordedEvent): string | null {
  if (event.metadata.orgId !== undefined) return event.metadata.orgId
  const payload = data.payload as Data | undefined
  return typeof payload?.orgId === 'string' ? payload.orgId.slice(0, 200) : null
}

/** An UPDATE of the jobs named in $1, each with its own values: `columns` are `name type` of $2, $3… */
function update (set: string, columns: readonly string[], where = ''): string {
  const arrays = ['$1::text[]', ...columns.map((column, i) => `$${i + 2}::${column.split(' ')[1]}[]`)]
  const names = ['job_id', ...columns.map((column) => column.split(' ')[0])]
  return `UPDATE jobs SET ${set} FROM unnest(${arrays.join(', ')}) AS e(${names.join(', ')}) WHERE jobs.job_id = e.job_id ${where}`
}

const handlers: Record<string, Apply> = {
  'job.scheduled': {
    sql: `INSERT INTO jobs (job_id, job_type, state, run_at, attempt, max_attempts, job_key, key_mode, org_id, timeout_seconds,
            scheduled_at, updated_at)
          SELECT job_id, job_type, 'waiting', run_at, 0, max_attempts, job_key, key_mode, org_id, timeout_seconds, scheduled_at, updated_at
            FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::integer[], $5::text[], $6::text[], $7::text[], $8::integer[],
                        $9::timestamptz[], $10::timestamptz[])
              AS e(job_id, job_type, run_at, max_attempts, job_key, key_mode, org_id, timeout_seconds, scheduled_at, updated_at)
          ON CONFLICT (job_id) DO NOTHING`,
    values: (jobId, d, event) => [jobId, d.jobType, d.runAt, d.maxAttempts, d.key ?? null, d.keyMode ?? null, orgOf(d, event),
      d.timeoutSeconds, d.scheduledAt, event.metadata.occurredAt]
  },
  'job.attempt.started': {
    sql: update(`state = 'running', attempt = e.attempt, lease_node = e.node, lease_until = e.lease_until, started_at = e.started_at,
      updated_at = e.at`, ['attempt integer', 'node text', 'lease_until timestamptz', 'started_at timestamptz', 'at timestamptz']),
    values: (jobId, d, event) => [jobId, d.attempt, d.node, d.leaseUntil, d.startedAt, event.metadata.occurredAt]
  },
  'job.lease.renewed': {
    sql: update('lease_until = e.lease_until, updated_at = e.at', ['lease_until timestamptz', 'at timestamptz', 'attempt integer'],
      "AND jobs.state = 'running' AND jobs.attempt = e.attempt"),
    values: (jobId, d, event) => [jobId, d.leaseUntil, event.metadata.occurredAt, d.attempt]
  },
  'job.attempt.succeeded': {
    sql: update(`state = 'succeeded', lease_node = NULL, lease_until = NULL, finished_at = e.finished_at, updated_at = e.at,
      result = e.result`, ['finished_at timestamptz', 'at timestamptz', 'result jsonb']),
    values: (jobId, d, event) => [jobId, d.finishedAt, event.metadata.occurredAt, d.result === undefined ? null : JSON.stringify(d.result)]
  },
  'job.attempt.failed': {
    sql: update(`state = 'waiting', run_at = e.run_at, lease_node = NULL, lease_until = NULL, last_error_code = e.code,
      last_error_message = e.message, updated_at = e.at`, ['run_at timestamptz', 'code text', 'message text', 'at timestamptz']),
    values: (jobId, d, event) => [jobId, d.retryAt ?? d.failedAt, d.code, d.message, event.metadata.occurredAt]
  },
  'job.dead': {
    sql: update(`state = 'dead', dead_reason = e.reason, finished_at = e.finished_at, updated_at = e.at`,
      ['reason text', 'finished_at timestamptz', 'at timestamptz']),
    values: (jobId, d, event) => [jobId, d.reason, d.at, event.metadata.occurredAt]
  },
  // A job cancelled while running keeps its lease columns: the node may not have heard yet (see the decider's retry).
  'job.cancelled': {
    sql: update(`state = 'cancelled', finished_at = e.finished_at, updated_at = e.at`, ['finished_at timestamptz', 'at timestamptz']),
    values: (jobId, d, event) => [jobId, d.at, event.metadata.occurredAt]
  },
  'job.retried': {
    sql: update(`state = 'waiting', run_at = e.run_at, max_attempts = e.max_attempts, lease_node = NULL, lease_until = NULL,
      dead_reason = NULL, finished_at = NULL, updated_at = e.at`, ['run_at timestamptz', 'max_attempts integer', 'at timestamptz']),
    values: (jobId, d, event) => [jobId, d.runAt, d.maxAttempts, event.metadata.occurredAt]
  }
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
    // The n-th event of a job in the batch goes in round n: a round holds one event per job at most, and rows of different
    // jobs do not depend on each other, so a round's events of one type are one statement, and the rounds keep each
    // job's events in log order. A batch of a draining queue (starts and successes) is a few statements, not hundreds.
    const rounds: Array<Map<string, unknown[][]>> = []
    const seen = new Map<string, number>()
    let due = false
    for (const event of events) {
      const handler = handlers[event.type]
      if (handler === undefined) continue
      const jobId = event.streamId.slice('job-'.length)
      const round = seen.get(jobId) ?? 0
      seen.set(jobId, round + 1)
      const groups = rounds[round] ??= new Map()
      const rows = groups.get(event.type) ?? []
      rows.push(handler.values(jobId, event.data as Data, event))
      groups.set(event.type, rows)
      due ||= MAKES_DUE.has(event.type)
    }
    for (const groups of rounds) {
      for (const [type, rows] of groups) await tx.query(handlers[type]!.sql, rows[0]!.map((_, i) => rows.map((row) => row[i])))
    }
    // Delivered on commit, once the rows are there to be claimed.
    if (due) await tx.query('SELECT pg_notify($1, \'\')', [JOBS_CHANNEL])
  }
}
