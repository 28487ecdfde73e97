/**
 * Verifying a message before anything is stored: Stripe's with its SDK
 * (`constructEvent` on the raw body, 300 s tolerance), a Standard Webhooks
 * source's with the `standardwebhooks` package (5 minutes). Each tries every
 * active secret, so a sender that moved to a rotated secret and one that has
 * not yet both pass. The MACs are compared by the libraries, in constant
 * time; what is checked here first is only the headers' shape and the
 * timestamp, which say nothing about a secret.
 *
 * The refusals (src/domain/webhooks/inbound-errors.ts): malformed or missing
 * headers 400, a timestamp more than the tolerance away from now (either
 * way) 401 `webhook.stale_timestamp`, no matching signature 401
 * `webhook.invalid_signature`, a signed body that is not a JSON object with
 * what the sender always sends 400 `webhook.invalid_body`.
 */
import { Webhook, WebhookVerificationError } from 'standardwebhooks'
import Stripe from 'stripe'
import {
  WebhookInvalidBody, WebhookInvalidHeaders, WebhookInvalidSignature, WebhookStaleTimestamp
} from '../../../domain/webhooks/inbound-errors.ts'

/** Stripe's and Standard Webhooks' tolerance: a message signed further from now than this is refused. */
export const TOLERANCE_SECONDS = 300

export interface VerifiedMessage {
  readonly messageId: string
  readonly eventType: string | null
  readonly body: Record<string, unknown>
}

type Headers = Record<string, string | string[] | undefined>

const header = (headers: Headers, name: string): string | undefined => {
  const value = headers[name]
  return typeof value === 'string' ? value : undefined
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

function requireRecent (timestamp: number, now: Date): void {
  if (Math.abs(Math.floor(now.getTime() / 1000) - timestamp) > TOLERANCE_SECONDS) throw new WebhookStaleTimestamp()
}

/** `t=<seconds>`, `v1=<hex HMAC>`, or another scheme's `name=value` (Stripe sends `v0=` in test mode), which the SDK ignores. */
const STRIPE_PART = /^(t=\d{1,12}|v1=[0-9a-f]{64}|(?!t=|v1=)[a-z0-9]{1,10}=[^,]*)$/
/** Stripe's event ids (`evt_…`): they name the message's stream, so nothing else is taken. */
const STRIPE_EVENT_ID = /^[A-Za-z0-9_]{1,190}$/

/** `t=<seconds>` and at least one `v1=<hex>`; other schemes Stripe may add are let through to the SDK. */
function stripeTimestamp (signature: string | undefined): number {
  const parts = signature?.split(',') ?? []
  const timestamp = parts.find((part) => part.startsWith('t='))
  if (timestamp === undefined || !parts.every((part) => STRIPE_PART.test(part)) || !parts.some((part) => part.startsWith('v1='))) {
    throw new WebhookInvalidHeaders(undefined, { header: 'stripe-signature' })
  }
  return Number(timestamp.slice(2))
}

/** A Stripe event, verified against each of `secrets` (oldest or newest alike). */
export function verifyStripe (secrets: readonly string[], raw: Buffer, headers: Headers, now: Date): VerifiedMessage {
  const signature = header(headers, 'stripe-signature')
  const timestamp = stripeTimestamp(signature)
  let event: Stripe.Event | undefined
  for (const secret of secrets) {
    try {
      // The SDK checks the signature, then the age against `receivedAt` (our clock); a message from the future is ours to refuse.
      event = Stripe.webhooks.constructEvent(raw, signature!, secret, TOLERANCE_SECONDS, undefined, now.getTime())
      break
    } catch (error) {
      if (error instanceof SyntaxError) throw new WebhookInvalidBody()
      if (!(error instanceof Stripe.errors.StripeSignatureVerificationError)) throw error
      if (/tolerance/i.test(error.message)) throw new WebhookStaleTimestamp()
    }
  }
  if (event === undefined) throw new WebhookInvalidSignature()
  requireRecent(timestamp, now)
  const body = event as unknown
  if (!isObject(body) || typeof body.id !== 'string' || !STRIPE_EVENT_ID.test(body.id) || typeof body.type !== 'string' ||
    body.type.length === 0 || body.type.length > 200) throw new WebhookInvalidBody()
  return { messageId: body.id, eventType: body.type, body }
}

const MESSAGE_ID = /^[\x21-\x7e]{1,256}$/
const SIGNATURE_ENTRY = /^v[0-9a-z]{1,8},[A-Za-z0-9+/=_-]{1,200}$/

/** The three Standard Webhooks headers, shaped as the specification says, and the timestamp they carry. */
function standardHeaders (headers: Headers): { id: string, timestamp: number, signature: string } {
  const id = header(headers, 'webhook-id')
  const timestamp = header(headers, 'webhook-timestamp')
  const signature = header(headers, 'webhook-signature')
  const entries = signature?.split(' ') ?? []
  if (id === undefined || !MESSAGE_ID.test(id) || timestamp === undefined || !/^\d{1,12}$/.test(timestamp) || entries.length === 0 ||
    entries.length > 20 || !entries.every((entry) => SIGNATURE_ENTRY.test(entry))) {
    throw new WebhookInvalidHeaders(undefined, { headers: ['webhook-id', 'webhook-timestamp', 'webhook-signature'] })
  }
  return { id, timestamp: Number(timestamp), signature: signature! }
}

/** A Standard Webhooks message, verified against each of `secrets` (`whsec_…`). */
export function verifyStandard (secrets: readonly string[], raw: Buffer, headers: Headers, now: Date): VerifiedMessage {
  const { id, timestamp, signature } = standardHeaders(headers)
  requireRecent(timestamp, now)
  const signed = { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature }
  for (const secret of secrets) {
    let body: unknown
    try {
      body = new Webhook(secret).verify(raw, signed)
    } catch (error) {
      if (error instanceof SyntaxError) throw new WebhookInvalidBody()
      if (!(error instanceof WebhookVerificationError)) throw error
      if (/timestamp/i.test(error.message)) throw new WebhookStaleTimestamp()
      continue
    }
    if (!isObject(body)) throw new WebhookInvalidBody()
    const type = typeof body.type === 'string' && body.type.length > 0 && body.type.length <= 200 ? body.type : null
    return { messageId: id, eventType: type, body }
  }
  throw new WebhookInvalidSignature()
}
