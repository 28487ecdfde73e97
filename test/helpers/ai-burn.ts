/**
 * What the burn-rate tests share: organizations, usage and budget events
 * written straight into the log in one statement each, with the recorded
 * time the test chooses (the store stamps its own clock), so thousands cost
 * a moment and window edges fall where a test puts them. The projections
 * read them as they read any event.
 */
import { randomUUID } from 'node:crypto'
import type { SqlClient } from '../../src/sql/client.ts'

export interface LogRow {
  readonly streamId: string
  readonly type: string
  readonly data: Record<string, unknown>
  readonly orgId: string
  readonly at: Date
}

/** Appends the rows in the given order, each at the next version of its stream. */
export async function writeLog (sql: SqlClient, rows: readonly LogRow[]): Promise<void> {
  const docs = rows.map((row, n) => {
    const eventId = randomUUID()
    return {
      n, stream_id: row.streamId, event_id: eventId, type: row.type, data: row.data, recorded_at: row.at.toISOString(),
      metadata: {
        eventId, occurredAt: row.at.toISOString(), orgId: row.orgId, actor: { type: 'system', id: 'burn-test' },
        traceId: randomUUID().replaceAll('-', ''), commandId: randomUUID()
      }
    }
  })
  for (let start = 0; start < docs.length; start += 5000) {
    await sql.query(
      `INSERT INTO events (stream_id, stream_version, event_id, type, data, metadata, recorded_at)
       SELECT r.stream_id,
              coalesce((SELECT max(e.stream_version) FROM events e WHERE e.stream_id = r.stream_id), 0)
                + row_number() OVER (PARTITION BY r.stream_id ORDER BY r.n),
              r.event_id, r.type, r.data, r.metadata, r.recorded_at
         FROM jsonb_to_recordset($1::jsonb) AS r(n int, stream_id text, event_id uuid, type text, data jsonb, metadata jsonb,
           recorded_at timestamptz) ORDER BY r.n`, [JSON.stringify(docs.slice(start, start + 5000))])
  }
}

let streams = 0
const nextId = (): string => `${process.pid}_${++streams}_${randomUUID().slice(0, 8)}`

export const orgRow = (orgId: string, plan: 'free' | 'pro' | 'enterprise' = 'free', at = new Date('2026-01-01T00:00:00Z')): LogRow => ({
  streamId: `org-${orgId}`, type: 'org.organization.created', orgId, at,
  data: { orgId, name: `Org ${orgId}`, plan, ownerId: 'usr_burn_owner' }
})

export const usageRow = (orgId: string, at: Date, costMicros: number): LogRow => {
  const id = nextId()
  return {
    streamId: `conversation-cnv_${id}`, type: 'ai.usage.recorded', orgId, at,
    data: {
      responseId: `rsp_${id}`, conversationId: `cnv_${id}`, orgId, userId: 'usr_burn', model: 'gpt-test', inputTokens: costMicros,
      outputTokens: 0, cachedInputTokens: 0, source: 'provider', costMicros, currency: 'USD'
    }
  }
}

/** An event of the organization's budget stream. */
export const budgetRow = (orgId: string, at: Date, type: 'ai.budget.set' | 'ai.budget.exhausted' | 'ai.budget.unblocked',
  data: Record<string, unknown>): LogRow => ({ streamId: `ai-budget-${orgId}`, type, orgId, at, data })

/**
 * Four organizations on the free plan ($10) spending up to now, whatever the month's length (28 to 31 days):
 * org_fast trips page_1h, org_high page_6h, org_steady ticket_3d, org_slow nothing.
 */
export function burningOrgs (now = Date.now()): LogRow[] {
  const ago = (minutes: number): Date => new Date(now - minutes * 60_000)
  return [
    ...['org_fast', 'org_high', 'org_steady', 'org_slow'].map((orgId) => orgRow(orgId)),
    usageRow('org_fast', ago(2), 30_000), usageRow('org_fast', ago(30), 250_000),
    usageRow('org_high', ago(20), 60_000), usageRow('org_high', ago(180), 600_000),
    usageRow('org_steady', ago(120), 100_000), usageRow('org_steady', ago(2400), 1_200_000),
    usageRow('org_slow', ago(10), 1_000)
  ]
}
