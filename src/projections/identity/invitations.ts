/**
 * The invitations read model: one row per invitation, for the organization's
 * list and for finding an invitation's organization from the id its token
 * carries. The token's hash stays in the events: the decider compares it, in
 * constant time, against the organization's state. Times are the events'
 * `occurredAt` (the domain's clock), so a rebuild gives the same rows.
 */
import type { RecordedEvent } from '../../eventstore/types.ts'
import type { SqlTransaction } from '../../sql/client.ts'
import type { Projection } from '../projection.ts'

type Data = Record<string, unknown>
type Apply = (tx: SqlTransaction, orgId: string, data: Data, event: RecordedEvent) => Promise<unknown>

const end = (status: string, reason: (data: Data) => unknown = () => null): Apply => (tx, orgId, d, e) => tx.query(
  `UPDATE invitations SET status = $3, ended_at = $4, ended_by = $5, reason = $6
    WHERE invite_id = $1 AND org_id = $2 AND status = 'pending'`,
  [d.inviteId, orgId, status, e.metadata.occurredAt, e.metadata.actor.id, reason(d)])

const insert = `INSERT INTO invitations (invite_id, org_id, email, roles, invited_by, status, created_at, expires_at)
  VALUES ($1, $2, $3, $4::text[], $5, 'pending', $6, $7) ON CONFLICT (invite_id) DO NOTHING`

const handlers: Record<string, Apply> = {
  'org.invitation.created': (tx, orgId, d, e) => tx.query(insert,
    [d.inviteId, orgId, d.email, d.roles, (d.invitedBy as { id: string }).id, e.metadata.occurredAt, d.expiresAt]),
  // Written before invitations had tokens: nobody can accept one; it shows until the 7 days invitations then lasted are over.
  'org.member.invited': (tx, orgId, d, e) => tx.query(insert,
    [d.inviteId, orgId, d.email, d.roles, e.metadata.actor.id, e.metadata.occurredAt,
      new Date(Date.parse(e.metadata.occurredAt) + 7 * 86_400_000).toISOString()]),
  'org.invitation.accepted': (tx, orgId, d, e) => tx.query(
    `UPDATE invitations SET status = 'accepted', ended_at = $3, ended_by = $4 WHERE invite_id = $1 AND org_id = $2 AND status = 'pending'`,
    [d.inviteId, orgId, e.metadata.occurredAt, d.userId]),
  'org.invitation.revoked': end('revoked', (d) => d.reason ?? null),
  'org.invitation.expired': end('expired')
}

export const INVITATION_EVENT_TYPES = Object.keys(handlers)

export const invitationsProjection: Projection = {
  name: 'invitations',
  version: 1,
  eventTypes: INVITATION_EVENT_TYPES,
  tables: ['invitations'],
  setup: `
    CREATE TABLE invitations (
      invite_id text PRIMARY KEY,
      org_id text NOT NULL,
      email text NOT NULL,
      roles text[] NOT NULL,
      invited_by text NOT NULL,
      -- pending | accepted | revoked | expired (a pending one past expires_at reads as expired)
      status text NOT NULL,
      created_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      -- accepted: the new member; revoked, expired: who or what ended it
      ended_at timestamptz,
      ended_by text,
      reason text);
    CREATE INDEX invitations_org ON invitations (org_id, created_at DESC, invite_id DESC);`,
  async apply (events, tx) {
    for (const event of events) {
      await handlers[event.type]?.(tx, event.streamId.slice('org-'.length), event.data as Data, event)
    }
  }
}
