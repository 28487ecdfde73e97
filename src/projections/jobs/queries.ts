/**
 * Reads of the due queue (projection.ts): the claim a runner makes, and the
 * figures the job metrics report. The claim locks the rows it picks with
 * `FOR UPDATE SKIP LOCKED`, so two nodes claiming at once pick different
 * rows, and marks them claimed for the attempt it is about to start, so a
 * node claiming just after does not pick them before the projection has
 * applied that attempt. It guards nothing: the job's stream does.
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

const CLAIM = `
  SELECT job_id, job_type, attempt FROM jobs
   WHERE ((state = 'waiting' AND run_at <= $1) OR (state = 'running' AND lease_until <= $1))
     AND job_type = ANY ($2::text[])
     AND NOT (claimed_until IS NOT NULL AND claimed_until > $1 AND claimed_attempt > attempt)
     AND job_id <> ALL ($4::text[])
   ORDER BY run_at, job_id
   LIMIT $3
   FOR UPDATE SKIP LOCKED`

const MARK = `
  UPDATE jobs SET claimed_attempt = attempt + 1, claimed_by = $2, claimed_until = $3
   WHERE job_id = ANY ($1::text[])`

/** Claims up to `limit` due jobs (or jobs whose lease has expired) of the given types, in one short transaction. */
export async function claimDueJobs (sql: SqlClient, options: ClaimOptions): Promise<ClaimedJob[]> {
  if (options.limit <= 0 || options.types.length === 0) return []
  return sql.transaction(async (tx) => {
    const { rows } = await tx.query<{ job_id: string, job_type: string, attempt: number }>(
      CLAIM, [options.now.toISOString(), [...options.types], options.limit, [...(options.exclude ?? [])]])
    if (rows.length === 0) return []
    const until = new Date(options.now.getTime() + options.claimSeconds * 1000).toISOString()
    await tx.query(MARK, [rows.map((row) => row.job_id), options.node, until])
    return rows.map((row) => ({ jobId: row.job_id, jobType: row.job_type, attempt: Number(row.attempt) }))
  })
}

/**
 * Moves this node's claim mark on a job it did not start: to `until` (a start the stale row misled, tried again after it), or
 * off (null: a job left unstarted at shutdown, free for any node at once).
 */
export async function releaseClaim (sql: SqlExecutor, jobId: string, node: string, until: Date | null): Promise<void> {
  await sql.query('UPDATE jobs SET claimed_until = $3 WHERE job_id = $1 AND claimed_by = $2',
    [jobId, node, until === null ? null : until.toISOString()])
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
  const { rows } = await sql.query<{ run_at: Date | string | null }>(
    "SELECT min(run_at) AS run_at FROM jobs WHERE state = 'waiting' AND run_at <= $1", [now.toISOString()])
  const runAt = rows[0]?.run_at
  if (runAt === null || runAt === undefined) return 0
  return Math.max(0, (now.getTime() - new Date(runAt).getTime()) / 1000)
}

export interface JobRow {
  readonly jobId: string
  readonly jobType: string
  readonly state: string
  readonly runAt: Date
  readonly attempt: number
  readonly maxAttempts: number
  readonly leaseNode: string | null
  readonly leaseUntil: Date | null
  readonly key: string | null
  readonly orgId: string | null
  readonly lastErrorCode: string | null
}

/** One job's row, or undefined when the projection has none (yet). */
export async function jobRow (sql: SqlExecutor, jobId: string): Promise<JobRow | undefined> {
  const { rows } = await sql.query<Record<string, unknown>>(
    `SELECT job_id, job_type, state, run_at, attempt, max_attempts, lease_node, lease_until, job_key, org_id, last_error_code
       FROM jobs WHERE job_id = $1`, [jobId])
  const row = rows[0]
  if (row === undefined) return undefined
  const at = (value: unknown): Date | null => (value === null ? null : new Date(value as string))
  return {
    jobId: row.job_id as string,
    jobType: row.job_type as string,
    state: row.state as string,
    runAt: at(row.run_at)!,
    attempt: Number(row.attempt),
    maxAttempts: Number(row.max_attempts),
    leaseNode: row.lease_node as string | null,
    leaseUntil: at(row.lease_until),
    key: row.job_key as string | null,
    orgId: row.org_id as string | null,
    lastErrorCode: row.last_error_code as string | null
  }
}
