/**
 * A user's security log: what happened to their account, wherever it was
 * logged — sign-ins and their failures, new addresses, password and status
 * changes in the platform's log; impersonations of them (requested, started,
 * ended, refused) in their organizations' logs. Not the actions taken during
 * an impersonation: those are the organization's audit log's to show.
 * Another person's steps (an impersonator's, an approver's) show without
 * their address or browser, and platform support's as "platform support".
 * Newest first, keyset on (occurred_at, seq, id) — the events of one command
 * share a time, and `seq` keeps them in log order — from the partial index
 * `audit_events_user`.
 */
import type { CursorKey, securityLogCursor } from '../../domain/cursor.ts'
import type { SqlExecutor } from '../../sql/client.ts'

export const SECURITY_LOG_ACTIONS = [
  'identity.session.signed_in', 'identity.session.sign_in_failed', 'identity.token.used_from_new_ip',
  'identity.user.password_set', 'identity.user.disabled', 'identity.user.enabled', 'identity.user.staff_flags_set',
  'impersonation.session.requested', 'impersonation.session.approved', 'impersonation.session.started',
  'impersonation.session.stopped', 'impersonation.session.expired', 'impersonation.session.revoked', 'impersonation.session.denied'
]

export interface SecurityLogEntry {
  readonly id: string
  /** The row's number in its log (an organization's or the platform's). */
  readonly seq: number
  readonly occurredAt: string
  readonly action: string
  readonly orgId: string | null
  /** Who did it: their e-mail address when a user, else the actor's id. */
  readonly actor: string
  readonly impersonatorId: string | null
  readonly ip: string | null
  readonly userAgent: string | null
  readonly details: Record<string, unknown>
}

/** Who on the staff did it: support's steps are shown as support's. */
const STAFF_FIELDS = new Set(['impersonatorId', 'revokedBy', 'stoppedBy', 'approverId', 'deniedBy'])

/** Where a page starts: after this entry (its keyset), as its cursor decodes (src/domain/cursor.ts). */
export type SecurityLogKey = CursorKey<typeof securityLogCursor>

interface Row {
  id: string, seq_text: string, occurred_at: Date | string, action: string, org_id: string | null, actor_id: string,
  actor_label: string | null, impersonator_id: string | null, ip: string | null, user_agent: string | null,
  diff: Record<string, { after?: unknown }> | null
}

export async function securityLog (
  sql: SqlExecutor, userId: string, options: { limit?: number, after?: SecurityLogKey } = {}
): Promise<SecurityLogEntry[]> {
  const params: unknown[] = [userId, SECURITY_LOG_ACTIONS]
  let after = ''
  if (options.after !== undefined) {
    params.push(options.after.occurredAt, options.after.seq, options.after.id)
    after = 'AND (occurred_at, seq, id) < ($3::timestamptz, $4::bigint, $5::uuid)'
  }
  // Bounded, but above any page a route asks for plus the one row that tells whether another page follows.
  params.push(Math.min(Math.max(options.limit ?? 50, 1), 1000))
  const { rows } = await sql.query<Row>(
    `SELECT id, seq::text AS seq_text, occurred_at, action, org_id, actor_id, actor_label, impersonator_id, ip, user_agent, diff
       FROM audit_events
      WHERE target_type = 'user' AND target_id = $1 AND action = ANY($2::text[]) ${after}
      ORDER BY occurred_at DESC, seq DESC, id DESC LIMIT $${params.length}`, params)
  return rows.map((row) => {
    const details = Object.fromEntries(Object.entries(row.diff ?? {}).map(([key, change]) => [key, change.after ?? null]))
    const own = row.actor_id === userId && row.impersonator_id === null
    return {
      id: row.id,
      seq: Number(row.seq_text),
      occurredAt: new Date(row.occurred_at).toISOString(),
      action: row.action,
      orgId: row.org_id,
      // The user's own steps as they are; support's under its name, not a staff member's address.
      actor: own ? (row.actor_label ?? row.actor_id) : details.via === 'support' ? 'platform support' : (row.actor_label ?? row.actor_id),
      impersonatorId: details.via === 'support' ? null : row.impersonator_id,
      // Addresses and browsers are shown for the user's own steps only.
      ip: own ? row.ip : null,
      userAgent: own ? row.user_agent : null,
      details: details.via === 'support'
        ? Object.fromEntries(Object.entries(details).map(([key, value]) => [key, STAFF_FIELDS.has(key) ? null : value]))
        : details
    }
  })
}
