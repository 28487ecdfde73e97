/**
 * One job's outcome as the jobs projection (projection.ts) has it: where it
 * stands, how many attempts it took, its last error, and the result its
 * handler answered. For callers that poll a job they asked for (an audit
 * verification); the due queue's own reads are in queries.ts.
 */
import { isUndefinedTable, type SqlExecutor } from '../../sql/client.ts'
import type { JobStatus } from './queries.ts'

export interface JobOutcome {
  readonly jobId: string
  readonly jobType: string
  readonly state: JobStatus
  /** From the scheduling metadata, else the payload's `orgId`. */
  readonly orgId: string | null
  /** Attempts started so far. */
  readonly attempts: number
  readonly scheduledAt: Date
  /** When it succeeded, died or was cancelled; null while it may still run. */
  readonly finishedAt: Date | null
  /** The last failed attempt's code and message; it stays after a later success (callers decide what to show). */
  readonly lastError: { readonly code: string, readonly message: string } | null
  /** The handler's answer on success (a JSON object), else null. */
  readonly result: Record<string, unknown> | null
}

interface Row {
  job_id: string, job_type: string, state: JobStatus, org_id: string | null, attempt: number | string, scheduled_at: Date | string,
  finished_at: Date | string | null, last_error_code: string | null, last_error_message: string | null,
  result: Record<string, unknown> | string | null
}

const SELECT = `
  SELECT job_id, job_type, state, org_id, attempt, scheduled_at, finished_at, last_error_code, last_error_message, result
    FROM jobs WHERE job_id = $1`

/**
 * The job's outcome, or undefined when the projection has no row for it: unknown, not applied yet, or the projection's first
 * build has not exposed the table yet (a server just started).
 */
export async function jobOutcome (sql: SqlExecutor, jobId: string): Promise<JobOutcome | undefined> {
  const rows = await sql.query<Row>(SELECT, [jobId]).then((result) => result.rows, (error: unknown) => {
    if (isUndefinedTable(error)) return []
    throw error
  })
  const row = rows[0]
  if (row === undefined) return undefined
  return {
    jobId: row.job_id,
    jobType: row.job_type,
    state: row.state,
    orgId: row.org_id,
    attempts: Number(row.attempt),
    scheduledAt: new Date(row.scheduled_at),
    finishedAt: row.finished_at === null ? null : new Date(row.finished_at),
    lastError: row.last_error_code === null ? null : { code: row.last_error_code, message: row.last_error_message ?? '' },
    // node-postgres and PGlite parse jsonb; a driver that hands text over is read the same.
    result: typeof row.result === 'string' ? JSON.parse(row.result) as Record<string, unknown> : row.result
  }
}
