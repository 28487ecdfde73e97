/**
 * Indexes of `audit_events` for the queries the API and the export run
 * (src/projections/audit/queries.ts). Every query is within one log: an
 * organization's, or the platform's when `org_id` is null, so each index
 * leads with `coalesce(org_id, '')`, the key the chain's unique index
 * (`audit_events_chain`, in AUDIT_DDL) already uses; that index also serves
 * "everything of an org, in seq order", the unfiltered page.
 *
 * Pages are ordered by `seq` (log order, only grows), so an index that ends
 * in `seq` after the filtered columns returns a page without sorting:
 * exact action, actor, target. A prefix of actions (`rbac.*`) is a range of
 * the action column in byte order (`COLLATE "C"`, whatever the database's
 * collation), read from the same index; time windows use `occurred_at`.
 * Impersonated rows are few, so their index is partial and small; a trace
 * id is nearly unique, so it needs no organization in front.
 *
 * One query crosses logs: a user's security log (GET /v1/me/security-log)
 * reads the rows about them wherever they are — sign-ins in the platform's
 * log, impersonations in their organizations' — from a partial index of
 * user-targeted rows.
 */
export const AUDIT_INDEXES = `
  CREATE INDEX audit_events_action ON audit_events ((coalesce(org_id, '')), action COLLATE "C", seq);
  CREATE INDEX audit_events_actor ON audit_events ((coalesce(org_id, '')), actor_id, seq);
  CREATE INDEX audit_events_target ON audit_events ((coalesce(org_id, '')), target_type, target_id, seq);
  CREATE INDEX audit_events_time ON audit_events ((coalesce(org_id, '')), occurred_at);
  CREATE INDEX audit_events_impersonator ON audit_events ((coalesce(org_id, '')), impersonator_id, seq) WHERE impersonator_id IS NOT NULL;
  CREATE INDEX audit_events_trace ON audit_events (trace_id) WHERE trace_id IS NOT NULL;
  CREATE INDEX audit_events_user ON audit_events (target_id, occurred_at, seq, id) WHERE target_type = 'user';`
