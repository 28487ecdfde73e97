/**
 * Reads of the tool calls read model. A call waiting for approval past its
 * expiry shows as `expired` at once (its denial is recorded when someone
 * next tries to approve or deny it).
 */
import type { SqlExecutor } from '../../sql/client.ts'

export const TOOL_CALL_STATUSES = [
  'requested', 'awaiting_approval', 'approved', 'running', 'retrying', 'succeeded', 'failed', 'timed_out', 'denied', 'expired'
] as const
export type ToolCallStatus = typeof TOOL_CALL_STATUSES[number]

export interface ToolCallView {
  readonly callId: string
  readonly orgId: string
  readonly tool: string
  readonly callerId: string
  readonly impersonatorId: string | null
  readonly action: string
  /** As recorded: secrets redacted. */
  readonly input: unknown
  readonly approval: 'required' | 'not_required'
  readonly status: ToolCallStatus
  readonly attempts: number
  readonly approvalExpiresAt: string | null
  readonly decidedBy: string | null
  readonly decidedAt: string | null
  readonly denialReason: string | null
  readonly retryAt: string | null
  readonly errorCode: string | null
  readonly errorMessage: string | null
  readonly outputBytes: number | null
  readonly durationMs: number | null
  readonly requestedAt: string
  readonly startedAt: string | null
  readonly finishedAt: string | null
}

type Time = Date | string | null
interface Row {
  call_id: string, org_id: string, tool: string, caller_id: string, impersonator_id: string | null, action: string, input: unknown,
  approval: 'required' | 'not_required', status: ToolCallStatus, attempts: number, approval_expires_at: Time, decided_by: string | null,
  decided_at: Time, denial_reason: string | null, retry_at: Time, error_code: string | null, error_message: string | null,
  output_bytes: number | null, duration_ms: number | null, requested_at: Time, started_at: Time, finished_at: Time
}

const COLUMNS = `call_id, org_id, tool, caller_id, impersonator_id, action, input, approval, status, attempts, approval_expires_at,
  decided_by, decided_at, denial_reason, retry_at, error_code, error_message, output_bytes, duration_ms, requested_at, started_at,
  finished_at`

const iso = (value: Time): string | null => (value === null ? null : new Date(value).toISOString())

function viewOf (row: Row, now: Date): ToolCallView {
  const expired = row.status === 'awaiting_approval' && row.approval_expires_at !== null &&
    new Date(row.approval_expires_at).getTime() <= now.getTime()
  return {
    callId: row.call_id, orgId: row.org_id, tool: row.tool, callerId: row.caller_id, impersonatorId: row.impersonator_id,
    action: row.action, input: typeof row.input === 'string' ? JSON.parse(row.input) as unknown : row.input, approval: row.approval,
    status: expired ? 'expired' : row.status, attempts: row.attempts, approvalExpiresAt: iso(row.approval_expires_at),
    decidedBy: row.decided_by, decidedAt: iso(row.decided_at), denialReason: row.denial_reason, retryAt: iso(row.retry_at),
    errorCode: row.error_code, errorMessage: row.error_message, outputBytes: row.output_bytes, durationMs: row.duration_ms,
    requestedAt: iso(row.requested_at)!, startedAt: iso(row.started_at), finishedAt: iso(row.finished_at)
  }
}

/** Where a page continues: the last call's request time (ISO, UTC) and id. */
export interface ToolCallKey { readonly requestedAt: string, readonly callId: string }

export interface ToolCallListing {
  readonly limit: number
  readonly after?: ToolCallKey
  readonly tool?: string
  readonly callerId?: string
  readonly now: Date
}

/** One page of an organization's calls, newest first; ids compare byte-wise, so the order is the same on every database. */
export async function toolCallsPage (sql: SqlExecutor, orgId: string, listing: ToolCallListing): Promise<ToolCallView[]> {
  const { limit, after, tool, callerId, now } = listing
  const { rows } = await sql.query<Row>(
    `SELECT ${COLUMNS} FROM tool_calls
      WHERE org_id = $1
        AND ($2::timestamptz IS NULL OR (requested_at, call_id COLLATE "C") < ($2::timestamptz, $3 COLLATE "C"))
        AND ($4::text IS NULL OR tool = $4) AND ($5::text IS NULL OR caller_id = $5)
      ORDER BY requested_at DESC, call_id COLLATE "C" DESC
      LIMIT $6`,
    [orgId, after?.requestedAt ?? null, after?.callId ?? null, tool ?? null, callerId ?? null, limit])
  return rows.map((row) => viewOf(row, now))
}

export async function toolCallView (sql: SqlExecutor, orgId: string, callId: string, now: Date): Promise<ToolCallView | undefined> {
  const { rows } = await sql.query<Row>(`SELECT ${COLUMNS} FROM tool_calls WHERE org_id = $1 AND call_id = $2`, [orgId, callId])
  return rows[0] === undefined ? undefined : viewOf(rows[0], now)
}
