/**
 * The audit read model's tables. `audit_events` is what the API queries and
 * exports; the other two are the projection's working state (kept beside it
 * so that a rebuild recomputes the same diffs, labels and hashes).
 *
 * - `org_id` is null for events outside any organization (sign-ups, tokens,
 *   platform administration): the platform's own log.
 * - `seq` numbers an organization's rows (the platform's when org_id is
 *   null) from 1 in log order; it orders pages and the hash chain.
 * - `hash` = SHA-256 of `prev_hash`, a newline and the row's canonical JSON
 *   (src/projections/audit/chain.ts); `prev_hash` of the first row is 64 zeros.
 */
export const AUDIT_TABLES = ['audit_events', 'audit_chains', 'audit_state'] as const

export const AUDIT_DDL = `
  CREATE TABLE audit_events (
    id uuid PRIMARY KEY,
    org_id text,
    seq bigint NOT NULL,
    occurred_at timestamptz NOT NULL,
    action text NOT NULL,
    actor_type text NOT NULL,
    actor_id text NOT NULL,
    actor_label text,
    impersonator_id text,
    target_type text,
    target_id text,
    diff jsonb,
    ip text,
    user_agent text,
    trace_id text,
    request_id text,
    position text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL);
  CREATE UNIQUE INDEX audit_events_chain ON audit_events ((coalesce(org_id, '')), seq);
  CREATE TABLE audit_chains (
    chain text PRIMARY KEY,
    seq bigint NOT NULL,
    hash text NOT NULL);
  CREATE TABLE audit_state (
    key text PRIMARY KEY,
    value jsonb NOT NULL);`
