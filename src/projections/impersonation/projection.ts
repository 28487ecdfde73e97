/**
 * The impersonation read model: one row per session (and per refused
 * request), for the organization's list of active and past sessions, the
 * CLI, the expiry sweep and the "one session at a time" guard. Times are the
 * events' `occurredAt` (the domain's clock), so a rebuild gives the same rows.
 */
import type { RecordedEvent } from '../../eventstore/types.ts'
import type { SqlTransaction } from '../../sql/client.ts'
import type { Projection } from '../projection.ts'

type Data = Record<string, unknown>
type Apply = (tx: SqlTransaction, sessionId: string, data: Data, at: string) => Promise<unknown>

const end = (status: string): Apply => (tx, sessionId, d, at) => tx.query(
  `UPDATE impersonation_sessions SET status = $2, ended_at = $3, ended_by = $4, end_reason = $5, updated_at = $3
    WHERE session_id = $1 AND ended_at IS NULL`,
  [sessionId, status, at, d.stoppedBy ?? d.revokedBy ?? d.deniedBy ?? 'system', d.reason ?? null])

const handlers: Record<string, Apply> = {
  'impersonation.session.requested': (tx, sessionId, d, at) => tx.query(
    `INSERT INTO impersonation_sessions (session_id, org_id, impersonator_id, target_user_id, via, reason, ticket, critical, break_glass,
       duration_minutes, status, requested_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $11) ON CONFLICT (session_id) DO NOTHING`,
    [sessionId, d.orgId, d.impersonatorId, d.targetUserId, d.via, d.reason, d.ticket ?? null, d.critical, d.breakGlass,
      d.durationMinutes, at]),
  'impersonation.session.approved': (tx, sessionId, d, at) => tx.query(
    "UPDATE impersonation_sessions SET status = 'approved', approved_by = $2, approved_at = $3, updated_at = $3 WHERE session_id = $1",
    [sessionId, d.approverId, at]),
  'impersonation.session.started': (tx, sessionId, d, at) => tx.query(
    "UPDATE impersonation_sessions SET status = 'active', started_at = $2, expires_at = $3, updated_at = $4 WHERE session_id = $1",
    [sessionId, d.startedAt, d.expiresAt, at]),
  'impersonation.session.action_recorded': (tx, sessionId, d) => tx.query(
    `UPDATE impersonation_sessions SET actions = actions + 1,
            blocked_actions = blocked_actions + (CASE WHEN $2 = 'blocked' THEN 1 ELSE 0 END)
      WHERE session_id = $1`, [sessionId, d.outcome]),
  'impersonation.session.stopped': end('stopped'),
  'impersonation.session.revoked': end('revoked'),
  'impersonation.session.expired': end('expired'),
  'impersonation.session.denied': async (tx, sessionId, d, at) => {
    if (d.orgId === undefined) return end('denied')(tx, sessionId, { ...d, reason: d.reason }, at)
    // A refused request: its only event, with the request's facts and (from v2 of the event) the requester's words.
    return tx.query(
      `INSERT INTO impersonation_sessions (session_id, org_id, impersonator_id, target_user_id, via, reason, ticket, critical, break_glass,
         duration_minutes, status, requested_at, ended_at, ended_by, end_reason, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, false, false, 0, 'denied', $8, $8, 'system', $9, $8) ON CONFLICT (session_id) DO NOTHING`,
      [sessionId, d.orgId, d.impersonatorId, d.targetUserId, d.via, d.requestReason ?? '', d.ticket ?? null, at, d.reason])
  }
}

export const IMPERSONATION_EVENT_TYPES = Object.keys(handlers)

export const impersonationProjection: Projection = {
  name: 'impersonation',
  version: 1,
  eventTypes: IMPERSONATION_EVENT_TYPES,
  tables: ['impersonation_sessions'],
  setup: `
    CREATE TABLE impersonation_sessions (
      session_id text PRIMARY KEY,
      org_id text NOT NULL,
      impersonator_id text NOT NULL,
      target_user_id text NOT NULL,
      via text NOT NULL,
      reason text NOT NULL,
      ticket text,
      critical boolean NOT NULL,
      break_glass boolean NOT NULL,
      duration_minutes integer NOT NULL,
      -- denied | pending | approved | active | stopped | revoked | expired
      status text NOT NULL,
      requested_at timestamptz NOT NULL,
      approved_by text,
      approved_at timestamptz,
      started_at timestamptz,
      expires_at timestamptz,
      ended_at timestamptz,
      ended_by text,
      end_reason text,
      actions integer NOT NULL DEFAULT 0,
      blocked_actions integer NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL);
    CREATE INDEX impersonation_sessions_org ON impersonation_sessions (org_id, requested_at DESC, session_id DESC);
    CREATE INDEX impersonation_sessions_open ON impersonation_sessions (impersonator_id) WHERE ended_at IS NULL;
    CREATE INDEX impersonation_sessions_due ON impersonation_sessions (requested_at) WHERE ended_at IS NULL;`,
  async apply (events: readonly RecordedEvent[], tx) {
    for (const event of events) {
      await handlers[event.type]?.(tx, event.streamId.slice('impersonation-'.length), event.data as Data, event.metadata.occurredAt)
    }
  }
}
