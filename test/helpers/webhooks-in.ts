/**
 * What the inbound webhook tests share (test/webhooks-in*.test.ts): Stripe
 * events signed with the SDK's own test header, Standard Webhooks messages
 * signed with the package's `Webhook.sign`, and waits for processing to have
 * recorded an outcome.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { Webhook } from 'standardwebhooks'
import Stripe from 'stripe'
import { changeOrganization } from '../../src/application/identity/commands.ts'
import { messageStreamId } from '../../src/application/webhooks/inbound/receive.ts'
import { systemCommand } from '../../src/domain/envelope.ts'
import type { RecordedEvent } from '../../src/eventstore/types.ts'
import type { Runtime } from '../../src/runtime.ts'

export const STRIPE_SECRET = 'whsec_test_inbound_0123456789abcdef'
export const PRICES = { pro: 'price_inbound_pro', enterprise: 'price_inbound_enterprise' } as const
export const stripeEnv: Record<string, string> = {
  STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, STRIPE_PRICE_PRO: PRICES.pro, STRIPE_PRICE_ENTERPRISE: PRICES.enterprise
}

export interface StripeEventInput {
  readonly id: string
  readonly type: string
  /** Seconds since the epoch: the order Stripe's events are applied in. */
  readonly created: number
  readonly object: Record<string, unknown>
}

export const stripeEventBody = (event: StripeEventInput): string => JSON.stringify({
  id: event.id, object: 'event', api_version: '2025-01-27', created: event.created, type: event.type, livemode: false,
  pending_webhooks: 1, request: { id: null, idempotency_key: null }, data: { object: event.object }
})

export function subscription (id: string, customer: string, price: string, status = 'active'): Record<string, unknown> {
  return { id, object: 'subscription', customer, status, items: { object: 'list', data: [{ id: `si_${id}`, price: { id: price } }] } }
}

export function invoice (id: string, customer: string, created: number, status: string, total = 1200): Record<string, unknown> {
  return {
    id, object: 'invoice', customer, number: `N-${id}`, status, currency: 'eur', total, amount_due: total,
    amount_paid: status === 'paid' ? total : 0, created, period_start: created - 86_400, period_end: created,
    hosted_invoice_url: `https://invoice.stripe.test/${id}`
  }
}

/** POST /v1/webhooks/stripe with a Stripe-Signature the SDK made (its timestamp `timestamp` seconds, now by default). */
export function sendStripe (
  app: FastifyInstance, body: string, options: { secret?: string, timestamp?: number, header?: string } = {}
): Promise<LightMyRequestResponse> {
  const header = options.header ?? Stripe.webhooks.generateTestHeaderString({
    payload: body, secret: options.secret ?? STRIPE_SECRET, ...(options.timestamp === undefined ? {} : { timestamp: options.timestamp })
  })
  const headers = { 'content-type': 'application/json', 'stripe-signature': header }
  return app.inject({ method: 'POST', url: '/v1/webhooks/stripe', headers, payload: body })
}

/** The three Standard Webhooks headers for `body`, signed with `secret` at `timestamp` (now by default). */
export function standardHeaders (secret: string, id: string, body: string, timestamp = new Date()): Record<string, string> {
  const seconds = new Date(Math.floor(timestamp.getTime() / 1000) * 1000)
  return {
    'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(seconds.getTime() / 1000),
    'webhook-signature': new Webhook(secret).sign(id, seconds, body)
  }
}

export function sendStandard (
  app: FastifyInstance, sourceId: string, body: string, headers: Record<string, string>
): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: `/v1/webhooks/in/${sourceId}`, headers, payload: body })
}

/** Links the organization to a Stripe customer, as billing does on first need. */
export async function linkCustomer (runtime: Runtime, orgId: string, customerId: string): Promise<void> {
  await changeOrganization(runtime.identity, systemCommand('test'), orgId, { type: 'LinkBilling', data: { customerId } })
}

export const stripeStream = (eventId: string): string => messageStreamId('stripe', 'stripe', eventId)

/** The message stream's events once it holds at least `outcomes` outcomes (waits up to 30 s for the job). */
export async function processed (runtime: Runtime, streamId: string, outcomes = 1): Promise<RecordedEvent[]> {
  for (let i = 0; i < 600; i++) {
    const events = await runtime.store.readStream(streamId)
    // The processing job records its own outcome after the message's: a caller comparing the log's head waits for both.
    if (events.filter((event) => event.type === 'webhook.processed').length >= outcomes && runtime.jobs.runner.idle) return events
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`${streamId} has no processing outcome after 30 s`)
}

/** The last outcome recorded in the message stream. */
export const lastOutcome = (events: readonly RecordedEvent[]): unknown =>
  events.filter((event) => event.type === 'webhook.processed').at(-1)?.data

/** The value of a counter series in the runtime's registry. */
export async function counter (runtime: Runtime, name: string, labels: Record<string, string>): Promise<number> {
  const metric = await runtime.metrics.registry.getSingleMetric(name)?.get()
  const value = metric?.values.find((entry) => Object.entries(labels).every(([key, v]) => entry.labels[key] === v))
  return value?.value ?? 0
}
