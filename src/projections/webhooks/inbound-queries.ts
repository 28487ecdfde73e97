/**
 * Reads of the inbound webhooks read model: sources and messages a page at a
 * time (keyset, newest first; ids compare byte-wise, so the order is the same
 * on every database), the organization of a Stripe customer, the invoices
 * Stripe's events told of, and the messages a replay walks in log order.
 */
import type { SqlExecutor } from '../../sql/client.ts'

type Time = Date | string
const iso = (value: Time | null): string | null => (value === null ? null : new Date(value).toISOString())

export interface SourceView {
  readonly sourceId: string
  readonly orgId: string
  readonly name: string
  readonly description: string | null
  readonly status: 'enabled' | 'disabled'
  readonly createdAt: string
  readonly rotatedAt: string | null
  readonly disabledAt: string | null
}

interface SourceRow {
  source_id: string, org_id: string, name: string, description: string | null, status: 'enabled' | 'disabled', created_at: Time,
  rotated_at: Time | null, disabled_at: Time | null
}

const sourceOf = (row: SourceRow): SourceView => ({
  sourceId: row.source_id, orgId: row.org_id, name: row.name, description: row.description, status: row.status,
  createdAt: iso(row.created_at)!, rotatedAt: iso(row.rotated_at), disabledAt: iso(row.disabled_at)
})

const SOURCE_COLUMNS = 'source_id, org_id, name, description, status, created_at, rotated_at, disabled_at'

/** Where a page of sources continues: the last one's creation time and id. */
export interface SourceKey { readonly createdAt: string, readonly sourceId: string }

export async function sourcesPage (sql: SqlExecutor, orgId: string, limit: number, after?: SourceKey): Promise<SourceView[]> {
  const { rows } = await sql.query<SourceRow>(
    `SELECT ${SOURCE_COLUMNS} FROM webhook_sources
      WHERE org_id = $1 AND ($2::timestamptz IS NULL OR (created_at, source_id COLLATE "C") < ($2::timestamptz, $3 COLLATE "C"))
      ORDER BY created_at DESC, source_id COLLATE "C" DESC LIMIT $4`,
    [orgId, after?.createdAt ?? null, after?.sourceId ?? null, limit])
  return rows.map(sourceOf)
}

export async function sourceView (sql: SqlExecutor, orgId: string, sourceId: string): Promise<SourceView | undefined> {
  const { rows } = await sql.query<SourceRow>(`SELECT ${SOURCE_COLUMNS} FROM webhook_sources WHERE org_id = $1 AND source_id = $2`,
    [orgId, sourceId])
  return rows[0] === undefined ? undefined : sourceOf(rows[0])
}

export interface MessageView {
  /** The message's stream: what a replay and the log name it by. */
  readonly streamId: string
  readonly messageId: string
  readonly eventType: string | null
  readonly receivedAt: string
  /** `pending` until processing recorded an outcome. */
  readonly outcome: 'pending' | 'applied' | 'skipped'
  readonly reason: string | null
  readonly processedAt: string | null
}

interface MessageRow {
  stream_id: string, message_id: string, event_type: string | null, received_at: Time, outcome: MessageView['outcome'],
  reason: string | null, processed_at: Time | null
}

const messageOf = (row: MessageRow): MessageView => ({
  streamId: row.stream_id, messageId: row.message_id, eventType: row.event_type, receivedAt: iso(row.received_at)!,
  outcome: row.outcome, reason: row.reason, processedAt: iso(row.processed_at)
})

/** Where a page of messages continues: the last one's receipt time and stream. */
export interface MessageKey { readonly receivedAt: string, readonly streamId: string }

export async function messagesPage (sql: SqlExecutor, sourceId: string, limit: number, after?: MessageKey): Promise<MessageView[]> {
  const { rows } = await sql.query<MessageRow>(
    `SELECT stream_id, message_id, event_type, received_at, outcome, reason, processed_at FROM webhook_messages
      WHERE source_id = $1 AND ($2::timestamptz IS NULL OR (received_at, stream_id COLLATE "C") < ($2::timestamptz, $3 COLLATE "C"))
      ORDER BY received_at DESC, stream_id COLLATE "C" DESC LIMIT $4`,
    [sourceId, after?.receivedAt ?? null, after?.streamId ?? null, limit])
  return rows.map(messageOf)
}

/** Where a replay's walk continues: the last message's log position. */
export interface LogKey { readonly major: string, readonly minor: string }

export interface ReplayWindow { readonly from?: string, readonly to?: string }

/** Messages of a source received within [from, to), in log order, a page at a time. */
export async function messagesInLogOrder (
  sql: SqlExecutor, sourceId: string, window: ReplayWindow, limit: number, after?: LogKey
): Promise<Array<{ streamId: string, key: LogKey }>> {
  // ORDER BY names the table's numeric columns: a bare name would sort by the text aliases ("1012" before "852").
  const { rows } = await sql.query<{ stream_id: string, position_major: string, position_minor: string }>(
    `SELECT stream_id, position_major::text AS position_major, position_minor::text AS position_minor FROM webhook_messages
      WHERE source_id = $1 AND ($2::timestamptz IS NULL OR received_at >= $2) AND ($3::timestamptz IS NULL OR received_at < $3)
        AND ($4::numeric IS NULL OR (position_major, position_minor) > ($4::numeric, $5::numeric))
      ORDER BY webhook_messages.position_major, webhook_messages.position_minor LIMIT $6`,
    [sourceId, window.from ?? null, window.to ?? null, after?.major ?? null, after?.minor ?? null, limit])
  return rows.map((row) => ({ streamId: row.stream_id, key: { major: row.position_major, minor: row.position_minor } }))
}

export async function countMessages (sql: SqlExecutor, sourceId: string, window: ReplayWindow): Promise<number> {
  const { rows } = await sql.query<{ count: string | number }>(
    `SELECT count(*) AS count FROM webhook_messages
      WHERE source_id = $1 AND ($2::timestamptz IS NULL OR received_at >= $2) AND ($3::timestamptz IS NULL OR received_at < $3)`,
    [sourceId, window.from ?? null, window.to ?? null])
  return Number(rows[0]?.count ?? 0)
}

export async function orgOfCustomer (sql: SqlExecutor, customerId: string): Promise<string | undefined> {
  const { rows } = await sql.query<{ org_id: string }>('SELECT org_id FROM webhook_stripe_customers WHERE customer_id = $1', [customerId])
  return rows[0]?.org_id
}

export interface InvoiceRow {
  invoice_id: string, number: string | null, status: string | null, currency: string, total: string | number, amount_due: string | number,
  amount_paid: string | number, created_at: Time, period_start: Time, period_end: Time, hosted_invoice_url: string | null
}

/** A page of the organization's invoices from Stripe's events, newest first, after the invoice `startingAfter` (its id). */
export async function invoicesFromEvents (
  sql: SqlExecutor, orgId: string, limit: number, startingAfter?: string
): Promise<{ rows: InvoiceRow[], found: boolean }> {
  if (startingAfter !== undefined) {
    const { rows } = await sql.query('SELECT 1 FROM webhook_invoices WHERE org_id = $1 AND invoice_id = $2', [orgId, startingAfter])
    if (rows.length === 0) return { rows: [], found: false }
  }
  const { rows } = await sql.query<InvoiceRow>(
    `SELECT i.invoice_id, i.number, i.status, i.currency, i.total, i.amount_due, i.amount_paid, i.created_at, i.period_start,
            i.period_end, i.hosted_invoice_url
       FROM webhook_invoices i
      WHERE i.org_id = $1 AND ($2::text IS NULL OR (i.created_at, i.invoice_id COLLATE "C") <
            (SELECT a.created_at, a.invoice_id COLLATE "C" FROM webhook_invoices a WHERE a.invoice_id = $2))
      ORDER BY i.created_at DESC, i.invoice_id COLLATE "C" DESC LIMIT $3`,
    [orgId, startingAfter ?? null, limit])
  return { rows, found: true }
}

export async function hasInvoicesFromEvents (sql: SqlExecutor, orgId: string): Promise<boolean> {
  const { rows } = await sql.query('SELECT 1 FROM webhook_invoices WHERE org_id = $1 LIMIT 1', [orgId])
  return rows.length > 0
}
