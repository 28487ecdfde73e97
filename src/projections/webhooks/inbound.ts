/**
 * The inbound webhooks read model: an organization's Standard Webhooks
 * sources, the messages each received with their processing outcome, the
 * Stripe customer of each organization (from `org.organization.billing_linked`,
 * so processing finds an organization by its customer), and the invoices
 * Stripe's `invoice.*` events told of (what `billing.invoices.list` answers
 * from once it has rows). Times are the events', so a rebuild gives the same
 * rows.
 */
import type { RecordedEvent } from '../../eventstore/types.ts'
import type { SqlTransaction } from '../../sql/client.ts'
import type { Projection } from '../projection.ts'

type Data = Record<string, unknown>
type Apply = (tx: SqlTransaction, data: Data, event: RecordedEvent) => Promise<unknown>

const isoOfSeconds = (seconds: unknown): string => new Date(Number(seconds) * 1000).toISOString()

function upsertInvoice (tx: SqlTransaction, orgId: string, invoice: Data): Promise<unknown> {
  return tx.query(
    `INSERT INTO webhook_invoices (invoice_id, org_id, number, status, currency, total, amount_due, amount_paid, created_at,
       period_start, period_end, hosted_invoice_url)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     ON CONFLICT (invoice_id) DO UPDATE SET org_id = EXCLUDED.org_id, number = EXCLUDED.number, status = EXCLUDED.status,
       currency = EXCLUDED.currency, total = EXCLUDED.total, amount_due = EXCLUDED.amount_due, amount_paid = EXCLUDED.amount_paid,
       created_at = EXCLUDED.created_at, period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end,
       hosted_invoice_url = EXCLUDED.hosted_invoice_url`,
    [invoice.invoiceId, orgId, invoice.number, invoice.status, invoice.currency, invoice.total, invoice.amountDue, invoice.amountPaid,
      isoOfSeconds(invoice.created), isoOfSeconds(invoice.periodStart), isoOfSeconds(invoice.periodEnd), invoice.hostedInvoiceUrl])
}

const handlers: Record<string, Apply> = {
  'webhook.source.created': (tx, d, event) => tx.query(
    `INSERT INTO webhook_sources (source_id, org_id, name, description, status, created_at, updated_at)
     VALUES ($1, $2, $3, $4, 'enabled', $5, $5) ON CONFLICT (source_id) DO NOTHING`,
    [d.sourceId, d.orgId, d.name, d.description, event.metadata.occurredAt]),
  'webhook.source.secret_rotated': (tx, d, event) => tx.query(
    'UPDATE webhook_sources SET rotated_at = $2, updated_at = $2 WHERE source_id = $1', [d.sourceId, event.metadata.occurredAt]),
  'webhook.source.disabled': (tx, d, event) => tx.query(
    "UPDATE webhook_sources SET status = 'disabled', disabled_at = $2, updated_at = $2 WHERE source_id = $1",
    [d.sourceId, event.metadata.occurredAt]),
  'webhook.received': (tx, d, event) => tx.query(
    `INSERT INTO webhook_messages (stream_id, source, source_id, org_id, message_id, event_type, received_at, position_major,
       position_minor, outcome)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending') ON CONFLICT (stream_id) DO NOTHING`,
    [event.streamId, d.source, d.sourceId, event.metadata.orgId ?? null, d.messageId, d.eventType, d.receivedAt,
      event.position.major.toString(), event.position.minor.toString()]),
  'webhook.processed': (tx, d, event) => tx.query(
    `UPDATE webhook_messages SET outcome = $2, reason = $3, org_id = coalesce($4, org_id), processed_at = $5, outcomes = outcomes + 1
      WHERE stream_id = $1`,
    [event.streamId, d.outcome, d.reason ?? null, d.orgId ?? null, event.metadata.occurredAt]),
  'webhook.object.applied': async (tx, d) => {
    if (d.invoice !== undefined) await upsertInvoice(tx, String(d.orgId), d.invoice as Data)
  },
  'org.organization.billing_linked': (tx, d, event) => tx.query(
    `INSERT INTO webhook_stripe_customers (customer_id, org_id) VALUES ($1, $2)
     ON CONFLICT (customer_id) DO UPDATE SET org_id = EXCLUDED.org_id`,
    [d.customerId, event.streamId.slice('org-'.length)])
}

export const INBOUND_EVENT_TYPES = Object.keys(handlers)

export const inboundWebhooksProjection: Projection = {
  name: 'webhooks_inbound',
  version: 1,
  eventTypes: INBOUND_EVENT_TYPES,
  tables: ['webhook_sources', 'webhook_messages', 'webhook_stripe_customers', 'webhook_invoices'],
  setup: `
    CREATE TABLE webhook_sources (
      source_id text PRIMARY KEY,
      org_id text NOT NULL,
      name text NOT NULL,
      description text,
      -- enabled | disabled
      status text NOT NULL,
      created_at timestamptz NOT NULL,
      rotated_at timestamptz,
      disabled_at timestamptz,
      updated_at timestamptz NOT NULL);
    CREATE INDEX webhook_sources_org ON webhook_sources (org_id, created_at DESC, source_id DESC);
    CREATE TABLE webhook_messages (
      stream_id text PRIMARY KEY,
      -- stripe | standard
      source text NOT NULL,
      source_id text NOT NULL,
      org_id text,
      message_id text NOT NULL,
      event_type text,
      received_at timestamptz NOT NULL,
      position_major numeric(20) NOT NULL,
      position_minor numeric(20) NOT NULL,
      -- pending | applied | skipped
      outcome text NOT NULL,
      reason text,
      outcomes integer NOT NULL DEFAULT 0,
      processed_at timestamptz);
    CREATE INDEX webhook_messages_page ON webhook_messages (source_id, received_at DESC, stream_id DESC);
    CREATE INDEX webhook_messages_log ON webhook_messages (source_id, position_major, position_minor);
    CREATE TABLE webhook_stripe_customers (
      customer_id text PRIMARY KEY,
      org_id text NOT NULL);
    CREATE TABLE webhook_invoices (
      invoice_id text PRIMARY KEY,
      org_id text NOT NULL,
      number text,
      status text,
      currency text NOT NULL,
      total bigint NOT NULL,
      amount_due bigint NOT NULL,
      amount_paid bigint NOT NULL,
      created_at timestamptz NOT NULL,
      period_start timestamptz NOT NULL,
      period_end timestamptz NOT NULL,
      hosted_invoice_url text);
    CREATE INDEX webhook_invoices_org ON webhook_invoices (org_id, created_at DESC, invoice_id DESC);`,
  async apply (events: readonly RecordedEvent[], tx) {
    for (const event of events) await handlers[event.type]?.(tx, event.data as Data, event)
  }
}
