/**
 * Reads of the impersonation read model. A session whose time is up shows as
 * `expired` at once, before the sweep records its `expired` event.
 */
import type { CursorKey, impersonationCursor } from '../../domain/cursor.ts'
import type { SqlExecutor } from '../../sql/client.ts'
import { APPROVAL_WINDOW_MINUTES } from '../../domain/impersonation/session.ts'

export interface SessionView {
  readonly sessionId: string
  readonly orgId: string
  readonly impersonatorId: string
  readonly targetUserId: string
  readonly via: string
  readonly reason: string
  readonly ticket: string | null
  readonly critical: boolean
  readonly breakGlass: boolean
  readonly durationMinutes: number
  readonly status: string
  readonly requestedAt: string
  readonly approvedBy: string | null
  readonly approvedAt: string | null
  readonly startedAt: string | null
  readonly expiresAt: string | null
  readonly endedAt: string | null
  readonly endedBy: string | null
  readonly endReason: string | null
  readonly actions: number
  readonly blockedActions: number
}

export type StatusFilter = 'active' | 'pending' | 'ended' | 'all'

interface Row {
  session_id: string, org_id: string, impersonator_id: string, target_user_id: string, via: string, reason: string, ticket: string | null,
  critical: boolean, break_glass: boolean, duration_minutes: number, status: string, requested_at: Date | string,
  approved_by: string | null, approved_at: Date | string | null, started_at: Date | string | null, expires_at: Date | string | null,
  ended_at: Date | string | null,
  ended_by: string | null, end_reason: string | null, actions: number, blocked_actions: number
}

const iso = (value: Date | string | null): string | null => value === null ? null : new Date(value).toISOString()

function viewOf (row: Row, now: Date): SessionView {
  const lapsed = (row.status === 'pending' || row.status === 'approved') &&
    new Date(row.requested_at).getTime() + APPROVAL_WINDOW_MINUTES * 60_000 <= now.getTime()
  const timeUp = row.status === 'active' && row.expires_at !== null && new Date(row.expires_at).getTime() <= now.getTime()
  return {
    sessionId: row.session_id,
    orgId: row.org_id,
    impersonatorId: row.impersonator_id,
    targetUserId: row.target_user_id,
    via: row.via,
    reason: row.reason,
    ticket: row.ticket,
    critical: row.critical,
    breakGlass: row.break_glass,
    durationMinutes: row.duration_minutes,
    status: lapsed || timeUp ? 'expired' : row.status,
    requestedAt: iso(row.requested_at)!,
    approvedBy: row.approved_by,
    approvedAt: iso(row.approved_at),
    startedAt: iso(row.started_at),
    expiresAt: iso(row.expires_at),
    endedAt: iso(row.ended_at),
    endedBy: row.ended_by,
    endReason: row.end_reason,
    actions: row.actions,
    blockedActions: row.blocked_actions
  }
}

const COLUMNS = `session_id, org_id, impersonator_id, target_user_id, via, reason, ticket, critical, break_glass, duration_minutes, status,
  requested_at, approved_by, approved_at, started_at, expires_at, ended_at, ended_by, end_reason, actions, blocked_actions`

/** `active` and `pending` are open sessions still in their time; `ended` is the rest. */
function statusClause (status: StatusFilter, param: string): string {
  const inTime = `(status = 'active' AND expires_at > ${param}) OR ` +
    `(status IN ('pending', 'approved') AND requested_at > ${param} - interval '${APPROVAL_WINDOW_MINUTES} minutes')`
  switch (status) {
    case 'active': return `status = 'active' AND expires_at > ${param}`
    case 'pending': return `status IN ('pending', 'approved') AND requested_at > ${param} - interval '${APPROVAL_WINDOW_MINUTES} minutes'`
    case 'ended': return `NOT (${inTime})`
    // Mentions the parameter all the same: PostgreSQL must know its type.
    case 'all': return `${param} IS NOT NULL`
  }
}

export interface SessionQuery {
  readonly orgId?: string
  readonly status?: StatusFilter
  readonly limit?: number
  /** Keyset cursor: sessions requested before this one (newest first). */
  readonly after?: CursorKey<typeof impersonationCursor>
  readonly now?: Date
}

/** Sessions newest first, of one organization or all. */
export async function sessions (sql: SqlExecutor, query: SessionQuery = {}): Promise<SessionView[]> {
  const now = query.now ?? new Date()
  const params: unknown[] = [now]
  const where = [statusClause(query.status ?? 'all', '$1::timestamptz')]
  if (query.orgId !== undefined) {
    params.push(query.orgId)
    where.push(`org_id = $${params.length}`)
  }
  if (query.after !== undefined) {
    params.push(query.after.requestedAt, query.after.sessionId)
    where.push(`(requested_at, session_id) < ($${params.length - 1}::timestamptz, $${params.length})`)
  }
  params.push(Math.min(Math.max(query.limit ?? 50, 1), 1000))
  const { rows } = await sql.query<Row>(
    `SELECT ${COLUMNS} FROM impersonation_sessions WHERE ${where.join(' AND ')}
      ORDER BY requested_at DESC, session_id DESC LIMIT $${params.length}`, params)
  return rows.map((row) => viewOf(row, now))
}

export async function session (sql: SqlExecutor, sessionId: string, now = new Date()): Promise<SessionView | undefined> {
  const { rows } = await sql.query<Row>(`SELECT ${COLUMNS} FROM impersonation_sessions WHERE session_id = $1`, [sessionId])
  return rows[0] === undefined ? undefined : viewOf(rows[0], now)
}

/** Sessions `impersonatorId` is impersonating in now: the one-at-a-time guard (a request waiting for approval is not one). */
export async function activeSessionsOf (sql: SqlExecutor, impersonatorId: string, now = new Date()): Promise<string[]> {
  const { rows } = await sql.query<{ session_id: string }>(
    `SELECT session_id FROM impersonation_sessions
      WHERE impersonator_id = $1 AND ended_at IS NULL AND ${statusClause('active', '$2::timestamptz')}`,
    [impersonatorId, now])
  return rows.map((row) => row.session_id)
}

/** Open sessions whose time is up: the sweep records their expiry. */
export async function dueSessions (sql: SqlExecutor, now = new Date(), limit = 500): Promise<string[]> {
  const { rows } = await sql.query<{ session_id: string }>(
    `SELECT session_id FROM impersonation_sessions
      WHERE ended_at IS NULL AND requested_at <= $1::timestamptz
        AND ((status = 'active' AND expires_at <= $1::timestamptz)
          OR (status IN ('pending', 'approved') AND requested_at <= $1::timestamptz - interval '${APPROVAL_WINDOW_MINUTES} minutes'))
      ORDER BY requested_at LIMIT $2`, [now, limit])
  return rows.map((row) => row.session_id)
}

export interface OpenSession {
  readonly sessionId: string
  readonly orgId: string
  readonly impersonatorId: string
  readonly targetUserId: string
  readonly via: string
  readonly breakGlass: boolean
}

/**
 * Sessions not ended, oldest first: of one organization, of one kind, with
 * one person in them (as impersonator or target), or all of them. What
 * "revoke all", support access turned off, and the re-check reactor end.
 */
export async function openSessions (
  sql: SqlExecutor, filter: { orgId?: string, via?: string, userId?: string } = {}
): Promise<OpenSession[]> {
  const params: unknown[] = []
  const where = ['ended_at IS NULL']
  const add = (clause: (param: string) => string, value: string | undefined): void => {
    if (value === undefined) return
    params.push(value)
    where.push(clause(`$${params.length}`))
  }
  add((p) => `org_id = ${p}`, filter.orgId)
  add((p) => `via = ${p}`, filter.via)
  add((p) => `(impersonator_id = ${p} OR target_user_id = ${p})`, filter.userId)
  const { rows } = await sql.query<{
    session_id: string, org_id: string, impersonator_id: string, target_user_id: string, via: string, break_glass: boolean
  }>(
    `SELECT session_id, org_id, impersonator_id, target_user_id, via, break_glass
       FROM impersonation_sessions WHERE ${where.join(' AND ')} ORDER BY requested_at`, params)
  return rows.map((row) => ({
    sessionId: row.session_id, orgId: row.org_id, impersonatorId: row.impersonator_id, targetUserId: row.target_user_id,
    via: row.via, breakGlass: row.break_glass
  }))
}
