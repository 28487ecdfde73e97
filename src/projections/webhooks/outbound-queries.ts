/**
 * Reads of the outbound webhooks read model. Ids compare byte-wise
 * (`COLLATE "C"`), so pages come in the same order on every database.
 */
import type { SqlExecutor } from '../../sql/client.ts'

type Time = Date | string | null
const iso = (value: Time): string | null => (value === null ? null : new Date(value).toISOString())
const parsed = (value: unknown): unknown => (typeof value === 'string' ? JSON.parse(value) as unknown : value)

export interface EndpointView {
  readonly endpointId: string
  readonly orgId: string
  readonly url: string
  readonly description: string
  readonly eventTypes: string[]
  readonly state: 'active' | 'disabled'
  readonly disabledReason: 'manual' | 'failing' | 'gone' | null
  readonly disabledAt: string | null
  readonly failingSince: string | null
  readonly lastSuccessAt: string | null
  readonly lastAttemptAt: string | null
  /** Fingerprints only: the secret is shown once, when made. */
  readonly secrets: Array<{ fingerprint: string, expiresAt: string | null }>
  readonly createdAt: string
  readonly updatedAt: string
}

interface EndpointRow {
  endpoint_id: string, org_id: string, url: string, description: string, event_types: unknown, state: 'active' | 'disabled',
  disabled_reason: EndpointView['disabledReason'], disabled_at: Time, failing_since: Time, last_success_at: Time, last_attempt_at: Time,
  secret_fingerprint: string, previous_fingerprint: string | null, previous_expires_at: Time, created_at: Time, updated_at: Time
}

const ENDPOINT_COLUMNS = `endpoint_id, org_id, url, description, event_types, state, disabled_reason, disabled_at, failing_since,
  last_success_at, last_attempt_at, secret_fingerprint, previous_fingerprint, previous_expires_at, created_at, updated_at`

function endpointOf (row: EndpointRow, now: Date): EndpointView {
  const previous = row.previous_fingerprint !== null && row.previous_expires_at !== null &&
    new Date(row.previous_expires_at).getTime() > now.getTime()
    ? [{ fingerprint: row.previous_fingerprint, expiresAt: iso(row.previous_expires_at) }]
    : []
  return {
    endpointId: row.endpoint_id, orgId: row.org_id, url: row.url, description: row.description,
    eventTypes: parsed(row.event_types) as string[], state: row.state, disabledReason: row.disabled_reason,
    disabledAt: iso(row.disabled_at), failingSince: iso(row.failing_since), lastSuccessAt: iso(row.last_success_at),
    lastAttemptAt: iso(row.last_attempt_at), secrets: [{ fingerprint: row.secret_fingerprint, expiresAt: null }, ...previous],
    createdAt: iso(row.created_at)!, updatedAt: iso(row.updated_at)!
  }
}

/** Where a page of endpoints continues: the last one's creation time and id (newest first). */
export interface EndpointKey { readonly createdAt: string, readonly endpointId: string }

export async function endpointsPage (
  sql: SqlExecutor, orgId: string, listing: { limit: number, after?: EndpointKey, now: Date }
): Promise<EndpointView[]> {
  const { limit, after, now } = listing
  const { rows } = await sql.query<EndpointRow>(
    `SELECT ${ENDPOINT_COLUMNS} FROM outbound_endpoints
      WHERE org_id = $1 AND state <> 'deleted'
        AND ($2::timestamptz IS NULL OR (created_at, endpoint_id COLLATE "C") < ($2::timestamptz, $3 COLLATE "C"))
      ORDER BY created_at DESC, endpoint_id COLLATE "C" DESC LIMIT $4`,
    [orgId, after?.createdAt ?? null, after?.endpointId ?? null, limit])
  return rows.map((row) => endpointOf(row, now))
}

export async function endpointView (sql: SqlExecutor, orgId: string, endpointId: string, now: Date): Promise<EndpointView | undefined> {
  const { rows } = await sql.query<EndpointRow>(
    `SELECT ${ENDPOINT_COLUMNS} FROM outbound_endpoints WHERE org_id = $1 AND endpoint_id = $2 AND state <> 'deleted'`, [orgId, endpointId])
  return rows[0] === undefined ? undefined : endpointOf(rows[0], now)
}

/** An endpoint as the fan-out matches events against it: where it was created in the log, its filters, whether it is held. */
export interface Subscription {
  readonly endpointId: string
  readonly eventTypes: readonly string[]
  /** Disabled after failures or a 410: its messages are written, and held. */
  readonly held: boolean
  readonly createdAt: { readonly major: bigint, readonly minor: bigint }
}

/** The organization's endpoints that get messages: active ones, and those disabled by the receiver's failures (held). */
export async function subscriptionsOf (sql: SqlExecutor, orgId: string): Promise<Subscription[]> {
  const { rows } = await sql.query<{ endpoint_id: string, event_types: unknown, state: string, pos_major: string, pos_minor: string }>(
    `SELECT endpoint_id, event_types, state, pos_major::text, pos_minor::text FROM outbound_endpoints
      WHERE org_id = $1 AND (state = 'active' OR (state = 'disabled' AND disabled_reason <> 'manual'))
      ORDER BY endpoint_id COLLATE "C"`, [orgId])
  return rows.map((row) => ({
    endpointId: row.endpoint_id, eventTypes: parsed(row.event_types) as string[], held: row.state === 'disabled',
    createdAt: { major: BigInt(row.pos_major), minor: BigInt(row.pos_minor) }
  }))
}

export type MessageStatus = 'pending' | 'held' | 'delivered' | 'gone' | 'exhausted'

export interface AttemptView {
  readonly messageId: string
  readonly eventType: string
  readonly attempt: number
  readonly outcome: string
  /** Where the message stands now: pending, held, delivered, gone, or exhausted (every scheduled attempt failed). */
  readonly messageStatus: MessageStatus
  readonly status: number | null
  readonly latencyMs: number
  readonly excerpt: string
  readonly errorCode: string | null
  readonly at: string
}

/** Where a page of attempts continues: the last one's time, message and number (newest first). */
export interface AttemptKey { readonly at: string, readonly messageId: string, readonly attempt: number }

interface AttemptRow {
  message_id: string, event_type: string, attempt: number, outcome: string, message_status: MessageStatus, status: number | null,
  duration_ms: number, excerpt: string, error_code: string | null, attempted_at: Time
}

/** One page of an endpoint's attempts, newest first (by the time each was made); `after` is the last one shown. */
export async function attemptsPage (
  sql: SqlExecutor, endpointId: string, listing: { limit: number, after?: AttemptKey }
): Promise<AttemptView[]> {
  const { limit, after } = listing
  const { rows } = await sql.query<AttemptRow>(
    `SELECT a.message_id, a.event_type, a.attempt, a.outcome, m.status AS message_status, a.status, a.duration_ms, a.excerpt,
            a.error_code, a.attempted_at
       FROM outbound_attempts a JOIN outbound_messages m ON m.message_id = a.message_id
      WHERE a.endpoint_id = $1
        AND ($2::timestamptz IS NULL
             OR (a.attempted_at, a.message_id COLLATE "C", a.attempt) < ($2::timestamptz, $3 COLLATE "C", $4::integer))
      ORDER BY a.attempted_at DESC, a.message_id COLLATE "C" DESC, a.attempt DESC LIMIT $5`,
    [endpointId, after?.at ?? null, after?.messageId ?? null, after?.attempt ?? null, limit])
  return rows.map((row) => ({
    messageId: row.message_id, eventType: row.event_type, attempt: row.attempt, outcome: row.outcome, messageStatus: row.message_status,
    status: row.status,
    latencyMs: row.duration_ms, excerpt: row.excerpt, errorCode: row.error_code, at: iso(row.attempted_at)!
  }))
}

/** A message waiting in an endpoint's backlog, and where it was created in the log (the order the backlog keeps). */
export interface QueuedMessage { readonly messageId: string, readonly major: string, readonly minor: string }

/**
 * An endpoint's messages to send again, oldest first, after `after`: the held ones and those still waiting for their
 * delivery job (pending: a newer one must not overtake them), and with `since` (a manual recovery) every one created since
 * then that was not delivered (gone and exhausted ones too).
 */
export async function backlogOf (
  sql: SqlExecutor, endpointId: string, options: { since?: string, after?: { major: string, minor: string }, limit: number }
): Promise<QueuedMessage[]> {
  const { since, after, limit } = options
  const { rows } = await sql.query<{ message_id: string, pos_major: string, pos_minor: string }>(
    `SELECT message_id, pos_major::text, pos_minor::text FROM outbound_messages
      WHERE endpoint_id = $1
        AND (status IN ('held', 'pending')
             OR ($2::timestamptz IS NOT NULL AND status <> 'delivered' AND created_at >= $2::timestamptz))
        AND ($3::bigint IS NULL OR (pos_major, pos_minor) > ($3::bigint, $4::bigint))
      ORDER BY pos_major, pos_minor LIMIT $5`,
    [endpointId, since ?? null, after?.major ?? null, after?.minor ?? null, limit])
  return rows.map((row) => ({ messageId: row.message_id, major: row.pos_major, minor: row.pos_minor }))
}

/**
 * Whether a first delivery of `messageId` must wait behind older messages of its endpoint: one of them is held (a backlog
 * sends them, in order), or a backlog job of the endpoint is waiting or running (a recovery is under way). The jobs read
 * model has every backlog scheduled before this message's delivery job: that job was claimed from it. A message not in the
 * outbound read model yet is the newest of its endpoint.
 */
export async function behindOlder (sql: SqlExecutor, endpointId: string, messageId: string): Promise<boolean> {
  const { rows } = await sql.query<{ behind: boolean }>(
    `WITH own AS (SELECT pos_major, pos_minor FROM outbound_messages WHERE message_id = $2)
     SELECT EXISTS (
              SELECT 1 FROM outbound_messages o WHERE o.endpoint_id = $1 AND o.status = 'held' AND o.message_id <> $2
                 AND (NOT EXISTS (SELECT 1 FROM own) OR (o.pos_major, o.pos_minor) < (SELECT pos_major, pos_minor FROM own)))
         OR EXISTS (SELECT 1 FROM jobs WHERE job_type = 'webhook.backlog' AND job_key = $1 AND state IN ('waiting', 'running'))
         AS behind`, [endpointId, messageId])
  return rows[0]?.behind === true
}

/**
 * Whether a backlog job of the endpoint scheduled before `jobId` is running: two backlogs of one endpoint side by side
 * could each send a message the other has not reached, so the later one waits (the earlier never waits for it).
 */
export async function earlierBacklogRunning (sql: SqlExecutor, endpointId: string, jobId: string): Promise<boolean> {
  const { rows } = await sql.query<{ running: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM jobs j, jobs own WHERE own.job_id = $2 AND j.job_type = 'webhook.backlog' AND j.job_key = $1
              AND j.state = 'running' AND (j.scheduled_at, j.job_id COLLATE "C") < (own.scheduled_at, own.job_id COLLATE "C"))
            AS running`, [endpointId, jobId])
  return rows[0]?.running === true
}

/** Whether the message belongs to the organization (a resend of another organization's message is not found). */
export async function messageOrg (sql: SqlExecutor, messageId: string): Promise<{ orgId: string, endpointId: string } | undefined> {
  const { rows } = await sql.query<{ org_id: string, endpoint_id: string }>(
    'SELECT org_id, endpoint_id FROM outbound_messages WHERE message_id = $1', [messageId])
  return rows[0] === undefined ? undefined : { orgId: rows[0].org_id, endpointId: rows[0].endpoint_id }
}

/** What the endpoint's failing health reads: since when every attempt failed, or null. */
export async function failingSince (sql: SqlExecutor, endpointId: string): Promise<Date | null> {
  const { rows } = await sql.query<{ failing_since: Time }>(
    'SELECT failing_since FROM outbound_endpoints WHERE endpoint_id = $1', [endpointId])
  const value = rows[0]?.failing_since ?? null
  return value === null ? null : new Date(value)
}

/** For the gauges at scrape time: endpoints disabled (not deleted), and the creation time of the oldest message not attempted yet. */
export async function outboundHealth (sql: SqlExecutor): Promise<{ disabled: number, oldestUnattemptedAt: Date | null }> {
  const [disabled, oldest] = await Promise.all([
    sql.query<{ count: string }>("SELECT count(*)::text AS count FROM outbound_endpoints WHERE state = 'disabled'"),
    sql.query<{ oldest: Time }>("SELECT min(created_at) AS oldest FROM outbound_messages WHERE status = 'pending' AND attempts = 0")
  ])
  const at = oldest.rows[0]?.oldest ?? null
  return { disabled: Number(disabled.rows[0]?.count ?? 0), oldestUnattemptedAt: at === null ? null : new Date(at) }
}
