/**
 * The `ai_spend` read model: what each organization spent on the assistant
 * in time buckets, for the burn rates (src/application/assistant/burn-rates.ts),
 * and the budget settings those need, so one query reads every organization.
 *
 * - `ai_spend_minutes`: per organization and UTC minute, kept 6 hours and a
 *   margin; the 5m, 30m, 1h and 6h windows read it.
 * - `ai_spend_hours`: per organization and UTC hour, kept 3 days and a
 *   margin; the 3d window reads it.
 * - `ai_budget_policies`: the organization's own budget (`ai.budget.set`;
 *   null: the plan's) and the month it is blocked in (`ai.budget.exhausted`
 *   until `ai.budget.unblocked`; a block ends with its month).
 *
 * The bucket is the one the event's `recordedAt` falls in, so a rebuild gives
 * the same rows. Buckets older than the retention are deleted as the log's
 * time passes them; the cutoff is a whole hour behind the latest event applied,
 * so a rebuild deletes the same ones. Reads never look that far back.
 */
import type { UsageRecorded } from '../../domain/assistant/events.ts'
import type { RecordedEvent } from '../../eventstore/types.ts'
import type { SqlTransaction } from '../../sql/client.ts'
import type { Projection } from '../projection.ts'

const HOUR = 3_600_000
/** How long each table keeps a bucket: its longest window and a margin. */
export const SPEND_RETENTION_MS = { minutes: 7 * HOUR, hours: 4 * 24 * HOUR } as const

const floorTo = (at: Date, ms: number): Date => new Date(Math.floor(at.getTime() / ms) * ms)

const budgetOrg = (event: RecordedEvent): string => event.streamId.slice('ai-budget-'.length)

/** Adds the batch's usage to both tables, summed per bucket first (one statement each), then deletes what has aged out. */
async function addSpend (tx: SqlTransaction, usage: readonly RecordedEvent[]): Promise<void> {
  let latest = 0
  for (const [table, ms] of [['ai_spend_minutes', 60_000], ['ai_spend_hours', HOUR]] as const) {
    const sums = new Map<string, { org_id: string, bucket: string, cost: number }>()
    for (const event of usage) {
      const { orgId, costMicros } = event.data as UsageRecorded
      latest = Math.max(latest, event.recordedAt.getTime())
      const bucket = floorTo(event.recordedAt, ms).toISOString()
      const key = `${orgId} ${bucket}`
      const sum = sums.get(key) ?? { org_id: orgId, bucket, cost: 0 }
      sum.cost += costMicros
      sums.set(key, sum)
    }
    await tx.query(
      `INSERT INTO ${table} AS s (org_id, bucket, cost_micros)
       SELECT r.org_id, r.bucket, r.cost FROM jsonb_to_recordset($1::jsonb) AS r(org_id text, bucket timestamptz, cost bigint)
       ON CONFLICT (org_id, bucket) DO UPDATE SET cost_micros = s.cost_micros + EXCLUDED.cost_micros`,
      [JSON.stringify([...sums.values()])])
  }
  const hour = floorTo(new Date(latest), HOUR).getTime()
  await tx.query('DELETE FROM ai_spend_minutes WHERE bucket < $1', [new Date(hour - SPEND_RETENTION_MS.minutes)])
  await tx.query('DELETE FROM ai_spend_hours WHERE bucket < $1', [new Date(hour - SPEND_RETENTION_MS.hours)])
}

const policies: Record<string, (tx: SqlTransaction, event: RecordedEvent) => Promise<unknown>> = {
  'ai.budget.set': (tx, e) => tx.query(
    `INSERT INTO ai_budget_policies (org_id, monthly_micros) VALUES ($1, $2)
     ON CONFLICT (org_id) DO UPDATE SET monthly_micros = EXCLUDED.monthly_micros`,
    [budgetOrg(e), (e.data as { monthlyMicros: number | null }).monthlyMicros]),
  'ai.budget.exhausted': (tx, e) => tx.query(
    `INSERT INTO ai_budget_policies (org_id, blocked_month) VALUES ($1, $2)
     ON CONFLICT (org_id) DO UPDATE SET blocked_month = EXCLUDED.blocked_month`,
    [budgetOrg(e), (e.data as { month: string }).month]),
  'ai.budget.unblocked': (tx, e) => tx.query('UPDATE ai_budget_policies SET blocked_month = NULL WHERE org_id = $1', [budgetOrg(e)])
}

/** A table of spend per organization and bucket; the index on the bucket is what the pruning deletes by. */
const bucketTable = (table: string, unit: string): string => `
    CREATE TABLE ${table} (
      org_id text NOT NULL,
      -- The ${unit}'s start, UTC.
      bucket timestamptz NOT NULL,
      cost_micros bigint NOT NULL,
      PRIMARY KEY (org_id, bucket));
    CREATE INDEX ${table}_bucket ON ${table} (bucket);`

export const spendProjection: Projection = {
  name: 'ai_spend',
  version: 1,
  eventTypes: ['ai.usage.recorded', 'ai.budget.set', 'ai.budget.exhausted', 'ai.budget.unblocked'],
  tables: ['ai_spend_minutes', 'ai_spend_hours', 'ai_budget_policies'],
  setup: `${bucketTable('ai_spend_minutes', 'minute')}${bucketTable('ai_spend_hours', 'hour')}
    CREATE TABLE ai_budget_policies (
      org_id text PRIMARY KEY,
      -- The organization's own budget; null where the plan's applies.
      monthly_micros bigint,
      -- YYYY-MM of the month it is blocked in; null when not blocked.
      blocked_month text);`,
  async apply (events: readonly RecordedEvent[], tx) {
    const usage = events.filter((event) => event.type === 'ai.usage.recorded')
    if (usage.length > 0) await addSpend(tx, usage)
    for (const event of events) await policies[event.type]?.(tx, event)
  }
}
