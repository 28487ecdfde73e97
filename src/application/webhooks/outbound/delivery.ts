/**
 * One delivery attempt of one message: signed as Standard Webhooks says,
 * sent through the SSRF-guarded client, and recorded as
 * `webhook.attempt.recorded` in the message's stream, whoever sends it (the
 * delivery job, the probe, the backlog).
 *
 * Headers: `webhook-id` is the message id, the same on every attempt, so a
 * receiver dedupes; `webhook-timestamp` is the attempt's time (receivers
 * refuse stale ones); `webhook-signature` holds one `v1,<base64>` per active
 * secret, space separated, so during a rotation the receiver verifies with
 * the old secret or the new one.
 */
import { Webhook } from 'standardwebhooks'
import type { Logger } from 'pino'
import { execute, type CommandServices } from '../../commands.ts'
import type { CommandMetadata } from '../../../domain/envelope.ts'
import type { AttemptOutcome, CreatedMessage } from '../../../domain/webhooks/outbound-events.ts'
import { messageDecider, messageStreamId } from '../../../domain/webhooks/outbound-message.ts'
import type { SqlClient } from '../../../sql/client.ts'
import { DELIVERY_TIMEOUT_MS, OutboundFailed, OutboundRefused, type OutboundClient } from '../outbound-http.ts'
import type { WebhookSecretStore } from '../secrets.ts'
import type { OutboundMetrics } from './metrics.ts'

const EXCERPT = 1024
/** A Retry-After beyond this is read as this: the jobs engine caps it at 24 h anyway. */
const MAX_RETRY_AFTER_MS = 86_400_000

export interface DeliveryServices {
  readonly services: CommandServices
  readonly sql: SqlClient
  readonly secrets: WebhookSecretStore
  readonly client: OutboundClient
  readonly metrics: OutboundMetrics
  readonly logger: Logger
  readonly now: () => Date
  /** An endpoint failing for longer than this is disabled (WEBHOOK_DISABLE_AFTER_MS). */
  readonly disableAfterMs: number
  readonly timeoutMs?: number
}

export interface AttemptResult {
  readonly outcome: AttemptOutcome
  readonly status: number | null
  readonly durationMs: number
  readonly excerpt: string
  readonly errorCode: string | null
  /** From a Retry-After header on a failed answer. */
  readonly retryAfterMs?: number
  /** The refusal of the SSRF guard, rethrown by the job (it is permanent). */
  readonly refusal?: Error
}

/** The bytes every attempt sends: the payload as stored. */
export function bodyOf (message: CreatedMessage): string {
  return JSON.stringify(message.payload)
}

/** `v1,<base64>` per secret, space separated (the newest first). */
export function signatures (secrets: readonly string[], messageId: string, at: Date, body: string): string {
  return secrets.map((secret) => new Webhook(secret).sign(messageId, at, body)).join(' ')
}

/** Retry-After as seconds or an HTTP date, in milliseconds from `now`; undefined when absent or unreadable. */
export function retryAfterMs (value: string | undefined, now: Date): number | undefined {
  if (value === undefined || value.trim() === '') return undefined
  const text = value.trim()
  const ms = /^\d{1,10}$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now.getTime()
  return Number.isFinite(ms) ? Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms)) : undefined
}

function outcomeOfStatus (status: number): AttemptOutcome {
  if (status >= 200 && status < 300) return 'delivered'
  return status === 410 ? 'gone' : 'failed'
}

/** A thrown error as an attempt's result: the guard's refusal, a timeout, or a connection that failed. */
function failureOf (error: unknown, durationMs: number): AttemptResult {
  if (error instanceof OutboundRefused) {
    return { outcome: 'refused', status: null, durationMs, excerpt: '', errorCode: error.code, refusal: error }
  }
  const timedOut = error instanceof OutboundFailed && error.code === 'webhook.timeout'
  const errorCode = timedOut ? 'webhook.timeout' : 'webhook.connection_failed'
  return { outcome: timedOut ? 'timeout' : 'failed', status: null, durationMs, excerpt: '', errorCode }
}

async function send (deps: DeliveryServices, message: CreatedMessage, url: string, at: Date, signal: AbortSignal): Promise<AttemptResult> {
  const secrets = await deps.secrets.active(message.endpointId, at)
  const body = bodyOf(message)
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'Ledgerline-Webhooks/1',
    'webhook-id': message.messageId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signatures(secrets.map((s) => s.secret), message.messageId, at, body)
  }
  const started = performance.now()
  try {
    const response = await deps.client.post({ url, headers, body, timeoutMs: deps.timeoutMs ?? DELIVERY_TIMEOUT_MS, signal })
    const outcome = outcomeOfStatus(response.status)
    const retryAfter = outcome === 'failed' ? retryAfterMs(response.headers['retry-after'], at) : undefined
    return {
      outcome, status: response.status, durationMs: Math.round(response.durationMs), excerpt: response.excerpt.slice(0, EXCERPT),
      errorCode: outcome === 'delivered' ? null : `http.${response.status}`,
      ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter })
    }
  } catch (error) {
    // The job was stopped (its timeout, a lost lease, shutdown): not the receiver's failure, and not recorded.
    if (signal.aborted && !(error instanceof OutboundRefused)) throw error
    return failureOf(error, Math.round(performance.now() - started))
  }
}

/**
 * Sends the message once to `url` (the endpoint's now: a fixed typo reaches the backlog too) and records the attempt, its
 * command id from `metadata` (the same job attempt records it once). The metrics count every attempt.
 */
export async function attemptDelivery (
  deps: DeliveryServices, message: CreatedMessage, url: string, metadata: CommandMetadata, signal: AbortSignal
): Promise<AttemptResult> {
  const at = deps.now()
  const result = await send(deps, message, url, at, signal)
  deps.metrics.attempted(result.outcome, result.durationMs / 1000)
  const { outcome, status, durationMs, excerpt, errorCode } = result
  await execute(deps.services, messageDecider, messageStreamId(message.messageId), {
    type: 'RecordAttempt', data: { outcome, status, durationMs, excerpt, errorCode, attemptedAt: at.toISOString() }
  }, { ...metadata, orgId: message.orgId })
  deps.logger.debug({ messageId: message.messageId, endpointId: message.endpointId, outcome, status }, 'webhook attempt')
  return result
}
