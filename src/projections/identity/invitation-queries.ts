/**
 * Reads of the invitations read model. A pending invitation past its expiry
 * reads as `expired` at once, before a use records its `expired` event.
 */
import type { CursorKey, invitationCursor } from '../../domain/cursor.ts'
import type { SqlExecutor } from '../../sql/client.ts'

export const INVITATION_STATUSES = ['pending', 'accepted', 'revoked', 'expired'] as const
export type InvitationStatusFilter = typeof INVITATION_STATUSES[number]

export interface InvitationView {
  readonly inviteId: string
  readonly email: string
  readonly roles: string[]
  readonly status: InvitationStatusFilter
  readonly invitedBy: string
  readonly createdAt: string
  readonly expiresAt: string
  /** When it was accepted, revoked or recorded as expired. */
  readonly endedAt: string | null
  /** The member who accepted; who revoked it. */
  readonly endedBy: string | null
  readonly reason: string | null
}

/** Where a page ends: the last row's creation time and id (newest first), as its cursor decodes. */
export type InvitationCursor = CursorKey<typeof invitationCursor>

interface Row {
  invite_id: string, email: string, roles: string[], status: string, invited_by: string, created_at: Date | string,
  expires_at: Date | string, ended_at: Date | string | null, ended_by: string | null, reason: string | null
}

const iso = (value: Date | string): string => new Date(value).toISOString()

/** `pending` are those still in their time; `expired`, those recorded so and those past it. */
const STATUS_CLAUSE = `($5::text IS NULL OR CASE $5::text
  WHEN 'pending' THEN status = 'pending' AND expires_at > $2::timestamptz
  WHEN 'expired' THEN status = 'expired' OR (status = 'pending' AND expires_at <= $2::timestamptz)
  ELSE status = $5::text END)`

/** One page of an organization's invitations, newest first, after `after`. */
export async function invitationsPage (
  sql: SqlExecutor, orgId: string, options: { status?: InvitationStatusFilter, limit: number, after?: InvitationCursor, now: Date }
): Promise<InvitationView[]> {
  const { rows } = await sql.query<Row>(
    `SELECT invite_id, email, roles, status, invited_by, created_at, expires_at, ended_at, ended_by, reason
       FROM invitations
      WHERE org_id = $1 AND ${STATUS_CLAUSE}
        AND ($3::timestamptz IS NULL OR (created_at, invite_id) < ($3::timestamptz, $4::text))
      ORDER BY created_at DESC, invite_id DESC LIMIT $6`,
    [orgId, options.now.toISOString(), options.after?.createdAt ?? null, options.after?.inviteId ?? null, options.status ?? null,
      options.limit])
  return rows.map((row) => ({
    inviteId: row.invite_id,
    email: row.email,
    roles: row.roles,
    status: (row.status === 'pending' && new Date(row.expires_at).getTime() <= options.now.getTime()
      ? 'expired'
      : row.status) as InvitationStatusFilter,
    invitedBy: row.invited_by,
    createdAt: iso(row.created_at),
    expiresAt: iso(row.expires_at),
    endedAt: row.ended_at === null ? null : iso(row.ended_at),
    endedBy: row.ended_by,
    reason: row.reason
  }))
}

/** The organization an invitation belongs to, or undefined. */
export async function organizationOfInvitation (sql: SqlExecutor, inviteId: string): Promise<string | undefined> {
  const { rows } = await sql.query<{ org_id: string }>('SELECT org_id FROM invitations WHERE invite_id = $1', [inviteId])
  return rows[0]?.org_id
}
