/**
 * The outbound webhooks read model: endpoints with their health, messages
 * with their state, and every delivery attempt (`GET …/webhooks/endpoints`,
 * `…/:endpointId`, `…/attempts`; the fan-out's endpoint cache; the backlog's
 * queue of held messages in creation order). Times are the events' own
 * (`occurredAt`, or the attempt's `attemptedAt`), so a rebuild gives the
 * same rows. Positions are kept as two bigints: the log's order, which the
 * backlog follows.
 *
 * Health: `failing_since` is the time of the first failed attempt after the
 * last success (or ever), cleared by a delivery; the delivery job disables
 * an endpoint failing for longer than WEBHOOK_DISABLE_AFTER_MS.
 */
import type { RecordedEvent } from '../../eventstore/types.ts'
import type { SqlTransaction } from '../../sql/client.ts'
import { ENDPOINT_EVENT_TYPES } from '../../domain/webhooks/endpoint-events.ts'
import { MESSAGE_EVENT_TYPES } from '../../domain/webhooks/outbound-events.ts'
import type { Projection } from '../projection.ts'

type Data = Record<string, unknown>
type Apply = (tx: SqlTransaction, id: string, data: Data, event: RecordedEvent) => Promise<unknown>

const idOf = (event: RecordedEvent): string => event.streamId.slice(event.streamId.indexOf('-') + 1)
const at = (event: RecordedEvent): string => event.metadata.occurredAt
const json = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value))

const endpointHandlers: Record<string, Apply> = {
  'webhook.endpoint.created': (tx, id, d, event) => tx.query(
    `INSERT INTO outbound_endpoints (endpoint_id, org_id, url, description, event_types, state, disabled_reason, secret_fingerprint,
       created_at, updated_at, pos_major, pos_minor)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11) ON CONFLICT (endpoint_id) DO NOTHING`,
    [id, d.orgId, d.url, d.description, json(d.eventTypes), d.enabled === true ? 'active' : 'disabled',
      d.enabled === true ? null : 'manual', d.secretFingerprint, at(event), event.position.major, event.position.minor]),
  'webhook.endpoint.updated': (tx, id, d, event) => tx.query(
    `UPDATE outbound_endpoints SET url = coalesce($2, url), description = coalesce($3, description),
            event_types = coalesce($4::jsonb, event_types), updated_at = $5 WHERE endpoint_id = $1`,
    [id, d.url ?? null, d.description ?? null, json(d.eventTypes), at(event)]),
  'webhook.endpoint.secret_rotated': (tx, id, d, event) => tx.query(
    `UPDATE outbound_endpoints SET secret_fingerprint = $2, previous_fingerprint = $3, previous_expires_at = $4, updated_at = $5
      WHERE endpoint_id = $1`, [id, d.secretFingerprint, d.previousFingerprint, d.previousExpiresAt, at(event)]),
  'webhook.endpoint.disabled': (tx, id, d, event) => tx.query(
    `UPDATE outbound_endpoints SET state = 'disabled', disabled_reason = $2, disabled_at = $3, updated_at = $3 WHERE endpoint_id = $1`,
    [id, d.reason, at(event)]),
  'webhook.endpoint.enabled': (tx, id, _d, event) => tx.query(
    `UPDATE outbound_endpoints SET state = 'active', disabled_reason = NULL, disabled_at = NULL, failing_since = NULL, updated_at = $2
      WHERE endpoint_id = $1`, [id, at(event)]),
  'webhook.endpoint.deleted': (tx, id, _d, event) => tx.query(
    "UPDATE outbound_endpoints SET state = 'deleted', updated_at = $2 WHERE endpoint_id = $1", [id, at(event)])
}

async function attemptRecorded (tx: SqlTransaction, id: string, d: Data, event: RecordedEvent): Promise<void> {
  const delivered = d.outcome === 'delivered'
  const status = delivered ? 'delivered' : d.outcome === 'gone' ? 'gone' : 'pending'
  await tx.query(
    `INSERT INTO outbound_attempts (message_id, attempt, endpoint_id, org_id, event_type, outcome, status, duration_ms, excerpt, error_code,
       attempted_at, pos_major, pos_minor)
     SELECT $1, $2, $3, $4, m.event_type, $5, $6, $7, $8, $9, $10, $11, $12 FROM outbound_messages m WHERE m.message_id = $1
     ON CONFLICT (message_id, attempt) DO NOTHING`,
    [id, d.attempt, d.endpointId, d.orgId, d.outcome, d.status, d.durationMs, d.excerpt, d.errorCode, d.attemptedAt,
      event.position.major, event.position.minor])
  await tx.query(
    `UPDATE outbound_messages SET status = CASE WHEN status = 'delivered' THEN status ELSE $2 END, attempts = $3, last_attempt_at = $4,
            delivered_at = CASE WHEN $5 THEN coalesce(delivered_at, $4::timestamptz) ELSE delivered_at END WHERE message_id = $1`,
    [id, status, d.attempt, d.attemptedAt, delivered])
  await tx.query(
    `UPDATE outbound_endpoints SET last_attempt_at = greatest(last_attempt_at, $2::timestamptz),
            last_success_at = CASE WHEN $3 THEN greatest(last_success_at, $2::timestamptz) ELSE last_success_at END,
            failing_since = CASE WHEN $3 THEN NULL ELSE coalesce(failing_since, $2::timestamptz) END
      WHERE endpoint_id = $1`, [d.endpointId, d.attemptedAt, delivered])
}

const messageHandlers: Record<string, Apply> = {
  'webhook.message.created': (tx, id, d, event) => tx.query(
    `INSERT INTO outbound_messages (message_id, endpoint_id, org_id, event_type, status, attempts, created_at, pos_major, pos_minor)
     VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7) ON CONFLICT (message_id) DO NOTHING`,
    [id, d.endpointId, d.orgId, d.eventType, at(event), event.position.major, event.position.minor]),
  'webhook.message.held': (tx, id) => tx.query(
    "UPDATE outbound_messages SET status = 'held' WHERE message_id = $1 AND status = 'pending'", [id]),
  'webhook.message.exhausted': (tx, id) => tx.query(
    "UPDATE outbound_messages SET status = 'exhausted' WHERE message_id = $1 AND status = 'pending'", [id]),
  'webhook.attempt.recorded': attemptRecorded
}

const handlers: Record<string, Apply> = { ...endpointHandlers, ...messageHandlers }

export const outboundWebhooksProjection: Projection = {
  name: 'webhooks_out',
  // 2: its tables renamed outbound_* (the inbound read model has a webhook_messages of its own). 3: the index of messages
  // not attempted yet, which the backlog gauge reads.
  version: 3,
  eventTypes: [...ENDPOINT_EVENT_TYPES, ...MESSAGE_EVENT_TYPES],
  tables: ['outbound_endpoints', 'outbound_messages', 'outbound_attempts'],
  setup: `
    CREATE TABLE outbound_endpoints (
      endpoint_id text PRIMARY KEY,
      org_id text NOT NULL,
      url text NOT NULL,
      description text NOT NULL,
      event_types jsonb NOT NULL,
      -- active | disabled | deleted
      state text NOT NULL,
      -- manual | failing | gone
      disabled_reason text,
      disabled_at timestamptz,
      failing_since timestamptz,
      last_success_at timestamptz,
      last_attempt_at timestamptz,
      secret_fingerprint text NOT NULL,
      previous_fingerprint text,
      previous_expires_at timestamptz,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      pos_major bigint NOT NULL,
      pos_minor bigint NOT NULL);
    CREATE INDEX outbound_endpoints_org ON outbound_endpoints (org_id, created_at DESC, endpoint_id DESC);
    CREATE TABLE outbound_messages (
      message_id text PRIMARY KEY,
      endpoint_id text NOT NULL,
      org_id text NOT NULL,
      event_type text NOT NULL,
      -- pending | held | delivered | gone | exhausted
      status text NOT NULL,
      attempts integer NOT NULL,
      created_at timestamptz NOT NULL,
      last_attempt_at timestamptz,
      delivered_at timestamptz,
      pos_major bigint NOT NULL,
      pos_minor bigint NOT NULL);
    CREATE INDEX outbound_messages_endpoint ON outbound_messages (endpoint_id, status, pos_major, pos_minor);
    CREATE INDEX outbound_messages_unattempted ON outbound_messages (created_at) WHERE status = 'pending' AND attempts = 0;
    CREATE TABLE outbound_attempts (
      message_id text NOT NULL,
      attempt integer NOT NULL,
      endpoint_id text NOT NULL,
      org_id text NOT NULL,
      event_type text NOT NULL,
      outcome text NOT NULL,
      status integer,
      duration_ms integer NOT NULL,
      excerpt text NOT NULL,
      error_code text,
      attempted_at timestamptz NOT NULL,
      pos_major bigint NOT NULL,
      pos_minor bigint NOT NULL,
      PRIMARY KEY (message_id, attempt));
    CREATE INDEX outbound_attempts_endpoint ON outbound_attempts (endpoint_id, attempted_at DESC, message_id DESC, attempt DESC);`,
  async apply (events: readonly RecordedEvent[], tx) {
    for (const event of events) await handlers[event.type]?.(tx, idOf(event), event.data as Data, event)
  }
}
