/**
 * The identity read model: users, organizations, memberships with their
 * roles, and tokens by hash (how a bearer token finds its principal). The
 * runner hands each event exactly once, in log order, with its checkpoint in
 * the same transaction; times come from the events, so a rebuild gives the
 * same rows.
 */
import type { RecordedEvent } from '../../eventstore/types.ts'
import type { SqlTransaction } from '../../sql/client.ts'
import type { Projection } from '../projection.ts'

type Apply = (tx: SqlTransaction, event: RecordedEvent, data: Record<string, unknown>) => Promise<unknown>

const idOf = (event: RecordedEvent): string => event.streamId.slice(event.streamId.indexOf('-') + 1)

const handlers: Record<string, Apply> = {
  'identity.user.registered': (tx, e, d) => tx.query(
    `INSERT INTO users (user_id, email, display_name, status, created_at, updated_at)
     VALUES ($1, $2, $3, 'active', $4, $4) ON CONFLICT (user_id) DO NOTHING`,
    [d.userId, d.email, d.displayName, e.recordedAt]),
  'identity.user.password_set': (tx, e) => tx.query(
    'UPDATE users SET has_password = true, updated_at = $2 WHERE user_id = $1', [idOf(e), e.recordedAt]),
  'identity.user.disabled': (tx, e) => tx.query(
    "UPDATE users SET status = 'disabled', updated_at = $2 WHERE user_id = $1", [idOf(e), e.recordedAt]),
  'identity.user.enabled': (tx, e) => tx.query(
    "UPDATE users SET status = 'active', updated_at = $2 WHERE user_id = $1", [idOf(e), e.recordedAt]),
  'identity.user.staff_flags_set': (tx, e, d) => tx.query(
    'UPDATE users SET platform_admin = $2, platform_support = $3, updated_at = $4 WHERE user_id = $1',
    [idOf(e), d.platformAdmin, d.platformSupport, e.recordedAt]),
  'org.organization.created': (tx, e, d) => tx.query(
    `INSERT INTO organizations (org_id, name, plan, settings, created_at, updated_at)
     VALUES ($1, $2, $3, '{}', $4, $4) ON CONFLICT (org_id) DO NOTHING`,
    [d.orgId, d.name, d.plan, e.recordedAt]),
  'org.organization.renamed': (tx, e, d) => tx.query(
    'UPDATE organizations SET name = $2, updated_at = $3 WHERE org_id = $1', [idOf(e), d.name, e.recordedAt]),
  'org.organization.plan_changed': (tx, e, d) => tx.query(
    'UPDATE organizations SET plan = $2, updated_at = $3 WHERE org_id = $1', [idOf(e), d.plan, e.recordedAt]),
  'org.organization.settings_changed': (tx, e, d) => tx.query(
    'UPDATE organizations SET settings = settings || $2::jsonb, updated_at = $3 WHERE org_id = $1',
    [idOf(e), JSON.stringify(d.settings), e.recordedAt]),
  'org.member.added': (tx, e, d) => tx.query(
    `INSERT INTO memberships (org_id, user_id, roles, joined_at) VALUES ($1, $2, $3::text[], $4)
     ON CONFLICT (org_id, user_id) DO UPDATE SET roles = EXCLUDED.roles`,
    [idOf(e), d.userId, d.roles, e.recordedAt]),
  'org.member.removed': (tx, e, d) => tx.query('DELETE FROM memberships WHERE org_id = $1 AND user_id = $2', [idOf(e), d.userId]),
  'org.member.role_assigned': (tx, e, d) => tx.query(
    `UPDATE memberships SET roles = (SELECT array_agg(DISTINCT r ORDER BY r) FROM unnest(roles || $3::text) AS r)
      WHERE org_id = $1 AND user_id = $2`, [idOf(e), d.userId, d.role]),
  'org.member.role_unassigned': (tx, e, d) => tx.query(
    'UPDATE memberships SET roles = array_remove(roles, $3::text) WHERE org_id = $1 AND user_id = $2', [idOf(e), d.userId, d.role]),
  'rbac.role.assigned': (tx, e, d) => tx.query(
    `UPDATE memberships SET roles = (SELECT array_agg(DISTINCT r ORDER BY r) FROM unnest(roles || $3::text) AS r)
      WHERE org_id = $1 AND user_id = $2`, [idOf(e), d.userId, d.roleId]),
  'rbac.role.unassigned': (tx, e, d) => tx.query(
    'UPDATE memberships SET roles = array_remove(roles, $3::text) WHERE org_id = $1 AND user_id = $2', [idOf(e), d.userId, d.roleId]),
  'identity.token.created': (tx, e, d) => tx.query(
    `INSERT INTO tokens (token_id, user_id, kind, name, prefix, hash, expires_at, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (token_id) DO NOTHING`,
    [d.tokenId, d.userId, d.kind, d.name, d.prefix, d.hash, d.expiresAt ?? null, e.recordedAt]),
  'identity.token.revoked': (tx, e) => tx.query(
    'UPDATE tokens SET revoked_at = $2 WHERE token_id = $1 AND revoked_at IS NULL', [idOf(e), e.recordedAt])
}

/**
 * Runs of one event type that arrive in bulk (sign-ups, members added, tokens
 * created) go in one statement per run instead of one per event: under load a
 * batch is mostly such runs, and round trips are what a projection pays for.
 */
type ApplyMany = (tx: SqlTransaction, events: readonly RecordedEvent[]) => Promise<unknown>

const rows = (
  events: readonly RecordedEvent[], row: (event: RecordedEvent, data: Record<string, unknown>) => Record<string, unknown>
): string =>
  JSON.stringify(events.map((event) => row(event, event.data as Record<string, unknown>)))

const bulk: Record<string, ApplyMany> = {
  'org.member.added': (tx, events) => tx.query(
    `INSERT INTO memberships (org_id, user_id, roles, joined_at)
     SELECT r.org_id, r.user_id, ARRAY(SELECT jsonb_array_elements_text(r.roles)), r.joined_at
       FROM jsonb_to_recordset($1::jsonb) AS r(org_id text, user_id text, roles jsonb, joined_at timestamptz)
     ON CONFLICT (org_id, user_id) DO UPDATE SET roles = EXCLUDED.roles`,
    [rows(lastPerKey(events, (e) => `${idOf(e)}/${(e.data as { userId: string }).userId}`),
      (e, d) => ({ org_id: idOf(e), user_id: d.userId, roles: d.roles, joined_at: e.recordedAt }))]),
  'identity.user.registered': (tx, events) => tx.query(
    `INSERT INTO users (user_id, email, display_name, status, created_at, updated_at)
     SELECT r.user_id, r.email, r.display_name, 'active', r.at, r.at
       FROM jsonb_to_recordset($1::jsonb) AS r(user_id text, email text, display_name text, at timestamptz)
     ON CONFLICT (user_id) DO NOTHING`,
    [rows(events, (e, d) => ({ user_id: d.userId, email: d.email, display_name: d.displayName, at: e.recordedAt }))]),
  'identity.token.created': (tx, events) => tx.query(
    `INSERT INTO tokens (token_id, user_id, kind, name, prefix, hash, expires_at, created_at)
     SELECT r.token_id, r.user_id, r.kind, r.name, r.prefix, r.hash, r.expires_at, r.at
       FROM jsonb_to_recordset($1::jsonb)
         AS r(token_id text, user_id text, kind text, name text, prefix text, hash text, expires_at timestamptz, at timestamptz)
     ON CONFLICT (token_id) DO NOTHING`,
    [rows(events, (e, d) => ({
      token_id: d.tokenId, user_id: d.userId, kind: d.kind, name: d.name, prefix: d.prefix, hash: d.hash,
      expires_at: d.expiresAt ?? null, at: e.recordedAt
    }))])
}

/** The last event per key, in order: one INSERT … ON CONFLICT may touch a row only once. */
function lastPerKey (events: readonly RecordedEvent[], key: (event: RecordedEvent) => string): RecordedEvent[] {
  const last = new Map<string, RecordedEvent>()
  for (const event of events) {
    const k = key(event)
    last.delete(k)
    last.set(k, event)
  }
  return [...last.values()]
}

/**
 * Rows added or removed since the tables' statistics were last renewed here.
 * PGlite runs no autovacuum (nor does a server with it off), and without
 * statistics an organization of 10,000 members looks like one of a few dozen
 * to the planner: a page of members then hashes every member and every user
 * (60 ms at 10,000) instead of walking the primary key (0.1 ms). So the
 * projection renews them itself, after every ANALYZE_EVERY such changes.
 */
const ANALYZE_EVERY = 1000
const ROW_COUNT_CHANGES = new Set(['identity.user.registered', 'org.member.added', 'org.member.removed'])
let changedSinceAnalyze = 0

export const identityProjection: Projection = {
  name: 'identity',
  version: 1,
  eventTypes: Object.keys(handlers),
  tables: ['users', 'organizations', 'memberships', 'tokens'],
  setup: `
    CREATE TABLE users (
      user_id text PRIMARY KEY, email text NOT NULL, display_name text NOT NULL,
      status text NOT NULL, has_password boolean NOT NULL DEFAULT false,
      platform_admin boolean NOT NULL DEFAULT false, platform_support boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
    CREATE UNIQUE INDEX users_email ON users (lower(email));
    CREATE TABLE organizations (
      org_id text PRIMARY KEY, name text NOT NULL, plan text NOT NULL, settings jsonb NOT NULL,
      created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
    CREATE TABLE memberships (
      org_id text NOT NULL, user_id text NOT NULL, roles text[] NOT NULL, joined_at timestamptz NOT NULL,
      PRIMARY KEY (org_id, user_id));
    CREATE INDEX memberships_user ON memberships (user_id);
    CREATE TABLE tokens (
      token_id text PRIMARY KEY, user_id text NOT NULL, kind text NOT NULL, name text NOT NULL, prefix text NOT NULL,
      hash text NOT NULL UNIQUE, expires_at timestamptz, revoked_at timestamptz, created_at timestamptz NOT NULL);
    CREATE INDEX tokens_user ON tokens (user_id);`,
  async apply (events, tx) {
    // In log order: a run of one bulk type is one statement, anything else one statement per event.
    for (let start = 0; start < events.length;) {
      const type = events[start]!.type
      let end = start + 1
      while (end < events.length && events[end]!.type === type) end++
      const many = bulk[type]
      if (many !== undefined && end - start > 1) await many(tx, events.slice(start, end))
      else for (const event of events.slice(start, end)) await handlers[type]?.(tx, event, event.data as Record<string, unknown>)
      start = end
    }
    for (const event of events) if (ROW_COUNT_CHANGES.has(event.type)) changedSinceAnalyze++
    if (changedSinceAnalyze >= ANALYZE_EVERY) {
      changedSinceAnalyze = 0
      await tx.exec('ANALYZE users, memberships')
    }
  }
}
