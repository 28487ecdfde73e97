/**
 * Inbound webhooks: what Stripe and an organization's Standard Webhooks
 * senders told Ledgerline, stored once for ever, and what processing made of
 * it. Three kinds of stream:
 *
 * - `whsource-<sourceId>`: a Standard Webhooks source an organization
 *   registered (created, its secret rotated, disabled). Secrets are never
 *   here: the events carry fingerprints (`sha256:…`), the secrets live in the
 *   secret store (src/application/webhooks/secrets.ts).
 * - `whin-stripe-<event id>` and `whin-<sourceId>-<sha256(message id)>`: one
 *   message, `webhook.received` appended with `no_stream` (a duplicate
 *   writes nothing), then its processing outcomes (`webhook.processed`).
 * - `whobj-stripe-<object id>`: the Stripe events applied to one object
 *   (a subscription, an invoice), newest last; appended with the expected
 *   version, so two messages about one object processed at once cannot both
 *   win, and an older event is skipped.
 *
 * The headers a sender signed with are not kept; the body is, parsed, as the
 * product: it can be queried and processed again (`ledgerline webhooks replay`).
 */
import { z } from 'zod'
import { PLANS } from '../identity/events.ts'
import { defineEvent } from '../registry.ts'

export const INBOUND_SOURCE_KINDS = ['stripe', 'standard'] as const
export type InboundSourceKind = typeof INBOUND_SOURCE_KINDS[number]

/** A source's id (`whs_…`), or `stripe` for the one Stripe endpoint. */
export const SourceId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)
const orgId = z.string().min(1).max(200)
const fingerprint = z.string().regex(/^sha256:[0-9a-f]{16}$/)
const secretId = z.string().min(1).max(100)
const at = z.iso.datetime({ offset: true })
const code = z.string().regex(/^[a-z0-9_]+(\.[a-z0-9_]+)*$/).max(100)

export const webhookSourceCreated = defineEvent({
  type: 'webhook.source.created',
  schema: z.object({
    sourceId: SourceId,
    orgId,
    name: z.string().min(1).max(100),
    description: z.string().max(500).nullable(),
    secretId,
    fingerprint
  }).strict()
})

/** A new secret; the ones before it stay active until `expiresAt` (24 h), so the sender can move to the new one. */
export const webhookSourceSecretRotated = defineEvent({
  type: 'webhook.source.secret_rotated',
  schema: z.object({
    sourceId: SourceId,
    secretId,
    fingerprint,
    previous: z.array(z.object({ secretId, fingerprint, expiresAt: at }).strict()).max(100)
  }).strict()
})

/** Messages to a disabled source are refused (404 `webhook.unknown_source`); its secrets are removed. */
export const webhookSourceDisabled = defineEvent({
  type: 'webhook.source.disabled',
  schema: z.object({ sourceId: SourceId }).strict()
})

export const webhookReceived = defineEvent({
  type: 'webhook.received',
  schema: z.object({
    source: z.enum(INBOUND_SOURCE_KINDS),
    /** `stripe`, or the Standard Webhooks source's id. */
    sourceId: SourceId,
    /** The sender's id of the message: Stripe's event id, or the `webhook-id` header. */
    messageId: z.string().min(1).max(256),
    /** Stripe's event type, or the Standard Webhooks payload's `type`; null when the body names none. */
    eventType: z.string().min(1).max(200).nullable(),
    receivedAt: at,
    /** The verified body, parsed. */
    body: z.json()
  }).strict()
})

export const PROCESSED_OUTCOMES = ['applied', 'skipped'] as const
export type ProcessedOutcome = typeof PROCESSED_OUTCOMES[number]

/** What processing made of the message; a later replay that decides otherwise records its own outcome after it. */
export const webhookProcessed = defineEvent({
  type: 'webhook.processed',
  schema: z.object({
    outcome: z.enum(PROCESSED_OUTCOMES),
    /** Why it was skipped: `older_than_applied`, `unknown_customer`, `unknown_price`, `unhandled_type`. */
    reason: code.optional(),
    /** The organization it concerned, once known (a Stripe customer's). */
    orgId: orgId.optional()
  }).strict()
})

const seconds = z.number().int().min(0).max(1e11)

/** An invoice as the billing tools show it, from the Stripe event's object. */
export const InvoiceSnapshot = z.object({
  invoiceId: z.string().min(1).max(255),
  number: z.string().max(255).nullable(),
  status: z.string().max(50).nullable(),
  currency: z.string().max(10),
  total: z.number().int(),
  amountDue: z.number().int(),
  amountPaid: z.number().int(),
  created: seconds,
  periodStart: seconds,
  periodEnd: seconds,
  hostedInvoiceUrl: z.string().max(2000).nullable()
}).strict()
export type InvoiceSnapshot = z.infer<typeof InvoiceSnapshot>

/** One Stripe event applied to its object: newer, by (event `created`, event id), than every one applied before. */
export const webhookObjectApplied = defineEvent({
  type: 'webhook.object.applied',
  schema: z.object({
    objectId: z.string().min(1).max(255),
    objectType: z.enum(['subscription', 'invoice']),
    eventId: z.string().min(1).max(255),
    eventType: z.string().min(1).max(200),
    created: seconds,
    orgId,
    /** The message stream whose processing applied it. */
    messageStreamId: z.string().min(1).max(300),
    /** A subscription's: the plan it bills (free when deleted or canceled). */
    plan: z.enum(PLANS).optional(),
    /** An invoice's: what the invoice list shows. */
    invoice: InvoiceSnapshot.optional()
  }).strict()
})

export const inboundWebhookEvents = [
  webhookSourceCreated, webhookSourceSecretRotated, webhookSourceDisabled, webhookReceived, webhookProcessed, webhookObjectApplied
]

export type WebhookSourceEvent =
  | { type: 'webhook.source.created', data: z.infer<typeof webhookSourceCreated.schema> }
  | { type: 'webhook.source.secret_rotated', data: z.infer<typeof webhookSourceSecretRotated.schema> }
  | { type: 'webhook.source.disabled', data: z.infer<typeof webhookSourceDisabled.schema> }
export type ReceivedData = z.infer<typeof webhookReceived.schema>
export type ProcessedData = z.infer<typeof webhookProcessed.schema>
export type ObjectAppliedData = z.infer<typeof webhookObjectApplied.schema>
export type InboundMessageEvent =
  | { type: 'webhook.received', data: ReceivedData }
  | { type: 'webhook.processed', data: ProcessedData }
export interface ObjectEvent { type: 'webhook.object.applied', data: ObjectAppliedData }
