/**
 * Reads of the due queue (projection.ts): the claim a runner makes, the
 * figures the job metrics report, and the operators' lists. The claim locks
 * the rows it picks with `FOR UPDATE SKIP LOCKED`, so two nodes claiming at
 * once pick different rows, and marks them claimed for the attempt it is
 * about to start, so a node claiming just after does not pick them before
 * the projection has applied that attempt. It guards nothing: the job's
 * stream does.
 *
 * The operators' lists read keyset pages, never the whole table:
 * - `jobsPage`: newest first, by (scheduled_at, job_id). Both never change
 *   once a job is scheduled, so a job is never shown twice nor skipped while
 *   the list is paged, whatever runs meanwhile (a job may still leave or
 *   enter a state filter between pages). run_at would not do: a failure or a
 *   retry moves it.
 * - `jobsInWindow`: the jobs of one type that entered an end state (dead)
 *   within a time window, by (finished_at, job_id), oldest first: what a
 *   replay retries, a page at a time.
 * Ids compare with `COLLATE "C"` (byte order), so the order, and thus the
 * keyset, is the same on every database whatever its default collation.
 */
import type { SqlClient, SqlExecutor } from '../../sql/client.ts'

export interface ClaimedJob {
  readonly jobId: string
  readonly jobType: string
  /** Attempts started, as the row had it when claimed (the projection may lag). */
  readonly attempt: number
}

export interface ClaimOptions {
  readonly node: string
  /** The job types this node has handlers for. */
  readonly types: readonly string[]
  readonly limit: number
  /** The claimer's clock: due means run_at (or an expired lease) at or before it. */
  readonly now: Date
  /** How long the claim mark keeps other claimers away if this node never starts the attempt. */
  readonly claimSeconds: number
  /** Jobs this node is running already. */
  readonly exclude?: readonly string[]
}

/**
 * The claim: one function call (migration 008, `ledgerline_claim_jobs`), so one round trip and one commit. It walks each
 * source in its own partial index's order and stops at the batch, with bitmap scans off whatever the table's statistics
 * say (the migration tells why): due rows in run order, then lapsed leases and lapsed claims before them.
 */
export const CLAIM_FUNCTION = 'ledgerline_claim_jobs'

/** Claims up to `limit` due jobs (or jobs whose lease has expired) of the given types, in one statement. */
export async function claimDueJobs (sql: SqlClient, options: ClaimOptions): Promise<ClaimedJob[]> {
  if (options.limit <= 0 || options.types.length === 0) return []
  const until = new Date(options.now.getTime() + options.claimSeconds * 1000).toISOString()
  const params = [options.now.toISOString(), [...options.types], options.limit, [...(options.exclude ?? [])], options.node, until]
  const { rows } = await sql.query<{ job_id: string, job_type: string, attempt: number, run_at: Date | string }>(
    `SELECT job_id, job_type, attempt, run_at FROM ${CLAIM_FUNCTION}($1, $2, $3, $4, $5, $6)`, params, { name: 'jobs_claim' })
  // RETURNING keeps no order: run order, as claimed.
  return rows
    .map((row) => ({ jobId: row.job_id, jobType: row.job_type, attempt: Number(row.attempt), runAt: new Date(row.run_at).getTime() }))
    .sort((a, b) => a.runAt - b.runAt || (a.jobId < b.jobId ? -1 : 1))
    .map(({ runAt: _, ...job }) => job)
}

/**
 * Moves this node's claim mark on a job it did not start: to `until` (a start the stale row misled, tried again after it), or
 * off (null: a job left unstarted at shutdown, free for any node at once).
 */
export async function releaseClaim (sql: SqlExecutor, jobId: string, node: string, until: Date | null): Promise<void> {
  // Off means unmarked: the row is back among the claimable ones (`jobs_claimable`).
  await sql.query(until === null
    ? 'UPDATE jobs SET claimed_attempt = NULL, claimed_by = NULL, claimed_until = NULL WHERE job_id = $1 AND claimed_by = $2'
    : 'UPDATE jobs SET claimed_until = $3 WHERE job_id = $1 AND claimed_by = $2',
  until === null ? [jobId, node] : [jobId, node, until.toISOString()])
}

export interface JobCount { readonly jobType: string, readonly state: string, readonly count: number }

/** How many jobs each type has in each state. */
export async function countJobs (sql: SqlExecutor): Promise<JobCount[]> {
  const { rows } = await sql.query<{ job_type: string, state: string, n: string }>(
    'SELECT job_type, state, count(*)::text AS n FROM jobs GROUP BY job_type, state ORDER BY job_type, state')
  return rows.map((row) => ({ jobType: row.job_type, state: row.state, count: Number(row.n) }))
}

/** Seconds since the oldest due job became due (0 when none is due). */
export async function oldestDueSeconds (sql: SqlExecutor, now: Date): Promise<number> {
  // The due jobs are the claimable ones and the marked ones, each an index of its own.
  const { rows } = await sql.query<{ run_at: Date | string | null }>(
    `SELECT least(
       (SELECT min(run_at) FROM jobs WHERE state = 'waiting' AND (claimed_attempt IS NULL OR claimed_attempt <= attempt) AND run_at <= $1),
       (SELECT min(run_at) FROM jobs WHERE state = 'waiting' AND claimed_attempt > attempt AND run_at <= $1)) AS run_at`,
    [now.toISOString()])
  const runAt = rows[0]?.run_at
  if (runAt === null || runAt === undefined) return 0
  return Math.max(0, (now.getTime() - new Date(runAt).getTime()) / 1000)
}

/** A job's states, as its decider names them. */
export const JOB_STATES = ['waiting', 'running', 'succeeded', 'dead', 'cancelled'] as const
export type JobStatus = typeof JOB_STATES[number]

/** A job as the operators' lists show it: its row, times as ISO text. No payload: the table does not hold one. */
export interface JobView {
  readonly jobId: string
  readonly jobType: string
  readonly state: JobStatus
  /** When it is (or was last) due. */
  readonly runAt: string
  /** Attempts started so far. */
  readonly attempt: number
  readonly maxAttempts: number
  readonly key: string | null
  readonly keyMode: string | null
  readonly orgId: string | null
  readonly timeoutSeconds: number
  readonly lastError: { readonly code: string, readonly message: string } | null
  /** `attempts_exhausted` or `do_not_retry`, while dead. */
  readonly deadReason: string | null
  readonly leaseNode: string | null
  readonly leaseUntil: string | null
  readonly scheduledAt: string
  readonly startedAt: string | null
  /** When it succeeded, died or was cancelled. */
  readonly finishedAt: string | null
  readonly updatedAt: string
}

const VIEW_COLUMNS = `job_id, job_type, state, run_at, attempt, max_attempts, job_key, key_mode, org_id, timeout_seconds,
  last_error_code, last_error_message, dead_reason, lease_node, lease_until, scheduled_at, started_at, finished_at, updated_at`

const iso = (value: unknown): string => new Date(value as string | Date).toISOString()
const isoOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : iso(value))

function viewOf (row: Record<string, unknown>): JobView {
  const code = row.last_error_code as string | null
  return {
    jobId: row.job_id as string,
    jobType: row.job_type as string,
    state: row.state as JobStatus,
    runAt: iso(row.run_at),
    attempt: Number(row.attempt),
    maxAttempts: Number(row.max_attempts),
    key: row.job_key as string | null,
    keyMode: row.key_mode as string | null,
    orgId: row.org_id as string | null,
    timeoutSeconds: Number(row.timeout_seconds),
    lastError: code === null ? null : { code, message: (row.last_error_message as string | null) ?? '' },
    deadReason: row.dead_reason as string | null,
    leaseNode: row.lease_node as string | null,
    leaseUntil: isoOrNull(row.lease_until),
    scheduledAt: iso(row.scheduled_at),
    startedAt: isoOrNull(row.started_at),
    finishedAt: isoOrNull(row.finished_at),
    updatedAt: iso(row.updated_at)
  }
}

/** One job as the lists show it, or undefined when the projection has no row for it (yet). */
export async function jobView (sql: SqlExecutor, jobId: string): Promise<JobView | undefined> {
  const { rows } = await sql.query<Record<string, unknown>>(`SELECT ${VIEW_COLUMNS} FROM jobs WHERE job_id = $1`, [jobId])
  return rows[0] === undefined ? undefined : viewOf(rows[0])
}

export interface JobFilters {
  readonly state?: JobStatus | undefined
  readonly jobType?: string | undefined
  readonly orgId?: string | undefined
}

/** Where a page of `jobsPage` continues: after this job (the last one shown). */
export interface JobListKey { readonly scheduledAt: string, readonly jobId: string }

export interface JobPage {
  readonly items: JobView[]
  /** The key to continue after, when more jobs follow. */
  readonly next: JobListKey | undefined
}

/** A page of jobs, newest first (scheduled_at, then job id, descending), with the filters given. */
export async function jobsPage (
  sql: SqlExecutor, filters: JobFilters, page: { readonly limit: number, readonly after?: JobListKey | undefined }
): Promise<JobPage> {
  const params: unknown[] = []
  const where: string[] = []
  const add = (clause: (n: number) => string, value: unknown): void => { params.push(value); where.push(clause(params.length)) }
  if (filters.state !== undefined) add((n) => `state = $${n}`, filters.state)
  if (filters.jobType !== undefined) add((n) => `job_type = $${n}`, filters.jobType)
  if (filters.orgId !== undefined) add((n) => `org_id = $${n}`, filters.orgId)
  if (page.after !== undefined) {
    params.push(page.after.scheduledAt)
    add((n) => `(scheduled_at, job_id COLLATE "C") < ($${n - 1}::timestamptz, $${n})`, page.after.jobId)
  }
  // One more than the page: whether another follows.
  params.push(page.limit + 1)
  const { rows } = await sql.query<Record<string, unknown>>(
    `SELECT ${VIEW_COLUMNS} FROM jobs ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
      ORDER BY scheduled_at DESC, job_id COLLATE "C" DESC LIMIT $${params.length}`, params)
  const items = rows.slice(0, page.limit).map(viewOf)
  const last = rows.length > page.limit ? items.at(-1) : undefined
  return { items, next: last === undefined ? undefined : { scheduledAt: last.scheduledAt, jobId: last.jobId } }
}

/** The jobs of one type that entered `state` (an end state: dead, cancelled) at or after `from` and before `to`. */
export interface JobWindow {
  readonly jobType: string
  readonly state: 'dead' | 'cancelled'
  /** ISO times. */
  readonly from: string
  readonly to: string
}

/** Where a page of `jobsInWindow` continues. */
export interface JobWindowKey { readonly finishedAt: string, readonly jobId: string }

const WINDOW = 'job_type = $1 AND state = $2 AND finished_at >= $3::timestamptz AND finished_at < $4::timestamptz'

/** A page of the window's jobs, oldest end first (finished_at, then job id). */
export async function jobsInWindow (
  sql: SqlExecutor, window: JobWindow, page: { readonly limit: number, readonly after?: JobWindowKey | undefined }
): Promise<JobView[]> {
  const params: unknown[] = [window.jobType, window.state, window.from, window.to]
  let keyset = ''
  if (page.after !== undefined) {
    params.push(page.after.finishedAt, page.after.jobId)
    keyset = 'AND (finished_at, job_id COLLATE "C") > ($5::timestamptz, $6)'
  }
  params.push(page.limit)
  const { rows } = await sql.query<Record<string, unknown>>(
    `SELECT ${VIEW_COLUMNS} FROM jobs WHERE ${WINDOW} ${keyset}
      ORDER BY finished_at, job_id COLLATE "C" LIMIT $${params.length}`, params)
  return rows.map(viewOf)
}

/** How many jobs the window holds now. */
export async function countJobsInWindow (sql: SqlExecutor, window: JobWindow): Promise<number> {
  const { rows } = await sql.query<{ n: string }>(`SELECT count(*)::text AS n FROM jobs WHERE ${WINDOW}`,
    [window.jobType, window.state, window.from, window.to])
  return Number(rows[0]?.n ?? 0)
}
