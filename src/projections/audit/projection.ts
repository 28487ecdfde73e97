/**
 * The audit log is a projection of every event (DESIGN.md §5): nothing that
 * happened can be missing from it, and a rebuild gives identical rows.
 *
 * Per batch: the working state the batch's events need is read in one query;
 * each event, in log order, becomes a row (described by describe.ts, chained
 * by chain.ts onto its organization's previous row); then rows, state and
 * chain heads are written in one statement each.
 */
import type { RecordedEvent } from '../../eventstore/types.ts'
import { formatPosition } from '../../eventstore/position.ts'
import type { SqlTransaction } from '../../sql/client.ts'
import type { Projection } from '../projection.ts'
import { GENESIS, chainHash, type AuditRow } from './chain.ts'
import { describe, stateKeysOf, type Facts, type StateValue } from './describe.ts'
import { AUDIT_INDEXES } from './indexes.ts'
import { AUDIT_DDL, AUDIT_TABLES } from './schema.ts'

/** The chain an organization's rows (or the platform's, with no organization) hang on. */
export const chainOf = (orgId: string | null): string => orgId ?? ''

/** The row an event becomes, at `seq` of its chain (audit verify recomputes rows with it too). */
export function auditRowOf (event: RecordedEvent, facts: Facts & { actorLabel: string | null }, seq: number): AuditRow {
  const { metadata } = event
  return {
    id: event.id,
    orgId: facts.orgId,
    seq,
    occurredAt: new Date(metadata.occurredAt).toISOString(),
    action: event.type,
    actorType: metadata.actor.type,
    actorId: metadata.actor.id,
    actorLabel: facts.actorLabel,
    impersonatorId: metadata.impersonatorId ?? null,
    targetType: facts.targetType,
    targetId: facts.targetId,
    diff: facts.diff,
    ip: metadata.ip ?? null,
    userAgent: metadata.userAgent ?? null,
    traceId: metadata.traceId,
    requestId: metadata.requestId ?? null,
    position: formatPosition(event.position)
  }
}

async function apply (events: readonly RecordedEvent[], tx: SqlTransaction): Promise<void> {
  const keys = [...new Set(events.flatMap(stateKeysOf))]
  const state = new Map<string, StateValue | undefined>()
  if (keys.length > 0) {
    const { rows } = await tx.query<{ key: string, value: StateValue }>(
      'SELECT key, value FROM audit_state WHERE key = ANY ($1::text[])', [keys])
    for (const row of rows) state.set(row.key, row.value)
  }
  const dirty = new Set<string>()
  const working = {
    get: (key: string) => state.get(key),
    set: (key: string, value: StateValue | undefined) => { state.set(key, value); dirty.add(key) }
  }

  const described = events.map((event) => ({ event, facts: describe(event, working) }))
  const chains = [...new Set(described.map(({ facts }) => chainOf(facts.orgId)))]
  const heads = new Map<string, { seq: number, hash: string }>()
  const { rows: known } = await tx.query<{ chain: string, seq: string, hash: string }>(
    'SELECT chain, seq::text AS seq, hash FROM audit_chains WHERE chain = ANY ($1::text[])', [chains])
  for (const row of known) heads.set(row.chain, { seq: Number(row.seq), hash: row.hash })

  const rows = described.map(({ event, facts }) => {
    const chain = chainOf(facts.orgId)
    const head = heads.get(chain) ?? { seq: 0, hash: GENESIS }
    const row = auditRowOf(event, facts, head.seq + 1)
    const hash = chainHash(head.hash, row)
    heads.set(chain, { seq: row.seq, hash })
    return { ...row, prevHash: head.hash, hash }
  })

  await tx.query(
    `INSERT INTO audit_events (id, org_id, seq, occurred_at, action, actor_type, actor_id, actor_label, impersonator_id,
       target_type, target_id, diff, ip, user_agent, trace_id, request_id, position, prev_hash, hash)
     SELECT r."id", r."orgId", r."seq", r."occurredAt", r."action", r."actorType", r."actorId", r."actorLabel", r."impersonatorId",
       r."targetType", r."targetId", r."diff", r."ip", r."userAgent", r."traceId", r."requestId", r."position", r."prevHash", r."hash"
       FROM jsonb_to_recordset($1::jsonb) AS r("id" uuid, "orgId" text, "seq" bigint, "occurredAt" timestamptz, "action" text,
         "actorType" text, "actorId" text, "actorLabel" text, "impersonatorId" text, "targetType" text, "targetId" text, "diff" jsonb,
         "ip" text, "userAgent" text, "traceId" text, "requestId" text, "position" text, "prevHash" text, "hash" text)`,
    [JSON.stringify(rows)])
  await tx.query(
    `INSERT INTO audit_chains (chain, seq, hash)
     SELECT r.chain, r.seq, r.hash FROM jsonb_to_recordset($1::jsonb) AS r(chain text, seq bigint, hash text)
     ON CONFLICT (chain) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash`,
    [JSON.stringify([...heads].map(([chain, head]) => ({ chain, ...head })))])
  // Purges last: they remove rows before them, which this batch may just have written (a rebuild).
  for (const { event, facts } of described) {
    if (event.type !== 'audit.log.purged') continue
    await tx.query("DELETE FROM audit_events WHERE coalesce(org_id, '') = $1 AND seq <= $2",
      [chainOf(facts.orgId), (event.data as { throughSeq: number }).throughSeq])
  }
  const changed = [...dirty].map((key) => ({ key, value: state.get(key) ?? null }))
  if (changed.length > 0) {
    await tx.query(
      `WITH c AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(key text, value jsonb)),
         gone AS (DELETE FROM audit_state s USING c WHERE s.key = c.key AND c.value IS NULL)
       INSERT INTO audit_state (key, value) SELECT key, value FROM c WHERE value IS NOT NULL
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
      [JSON.stringify(changed)])
  }
}

export const auditProjection: Projection = {
  name: 'audit',
  // 2: impersonation events described; the security log's index.
  version: 2,
  eventTypes: 'all',
  tables: AUDIT_TABLES,
  setup: AUDIT_DDL,
  indexes: AUDIT_INDEXES,
  apply
}
