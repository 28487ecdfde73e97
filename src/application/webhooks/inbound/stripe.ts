/**
 * What a Stripe event means for Ledgerline, decided from the stored event
 * alone (pure): `customer.subscription.created|updated|deleted` set the
 * organization's plan, from the subscription's price (the configured
 * STRIPE_PRICE_PRO and STRIPE_PRICE_ENTERPRISE; deleted or canceled is free);
 * `invoice.*` keep the invoice for the billing tools. Anything else Stripe
 * sends is stored and skipped (`unhandled_type`).
 */
import type { Plan } from '../../../domain/identity/events.ts'
import type { InvoiceSnapshot } from '../../../domain/webhooks/inbound-events.ts'

export interface StripePrices { readonly pro: string | undefined, readonly enterprise: string | undefined }

type Json = Record<string, unknown>

/** What the event is about and what applying it would set. */
export type StripeMeaning =
  | { kind: 'unhandled' }
  | { kind: 'subscription', objectId: string, customerId: string | undefined, created: number, plan: Plan | undefined }
  | { kind: 'invoice', objectId: string, customerId: string | undefined, created: number, invoice: InvoiceSnapshot }

const SUBSCRIPTION_EVENTS = new Set(['customer.subscription.created', 'customer.subscription.updated', 'customer.subscription.deleted'])
const OBJECT_ID = /^[A-Za-z0-9_]{1,190}$/
/** A subscription in one of these bills nothing: the organization is on the free plan. */
const ENDED = new Set(['canceled', 'incomplete_expired'])

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)
const text = (value: unknown): string | undefined =>
  (typeof value === 'string' && value.length > 0 && value.length <= 255 ? value : undefined)
const int = (value: unknown): number => (typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : 0)
const idOf = (value: unknown): string | undefined => (isObject(value) ? text(value.id) : text(value))

function planOf (eventType: string, subscription: Json, prices: StripePrices): Plan | undefined {
  if (eventType === 'customer.subscription.deleted' || ENDED.has(String(subscription.status))) return 'free'
  const items = isObject(subscription.items) && Array.isArray(subscription.items.data) ? subscription.items.data : []
  const price = isObject(items[0]) ? idOf(items[0].price) : undefined
  if (price === undefined) return undefined
  if (price === prices.pro) return 'pro'
  if (price === prices.enterprise) return 'enterprise'
  return undefined
}

function invoiceOf (invoice: Json, id: string): InvoiceSnapshot {
  const nullable = (value: unknown): string | null => text(value) ?? null
  return {
    invoiceId: id,
    number: nullable(invoice.number),
    status: nullable(invoice.status),
    currency: text(invoice.currency)?.slice(0, 10) ?? 'usd',
    total: Math.trunc(Number(invoice.total) || 0),
    amountDue: Math.trunc(Number(invoice.amount_due) || 0),
    amountPaid: Math.trunc(Number(invoice.amount_paid) || 0),
    created: int(invoice.created),
    periodStart: int(invoice.period_start),
    periodEnd: int(invoice.period_end),
    hostedInvoiceUrl: typeof invoice.hosted_invoice_url === 'string' && invoice.hosted_invoice_url.length <= 2000
      ? invoice.hosted_invoice_url : null
  }
}

/** The meaning of a stored Stripe event (`body` is the event as Stripe sent it). */
export function stripeMeaning (eventType: string | null, body: unknown, prices: StripePrices): StripeMeaning {
  const object = isObject(body) && isObject(body.data) && isObject(body.data.object) ? body.data.object : undefined
  const objectId = text(object?.id)
  // The object's id names its ordering stream: Stripe's ids (`sub_…`, `in_…`) are letters, digits and `_`.
  if (eventType === null || object === undefined || objectId === undefined || !OBJECT_ID.test(objectId)) return { kind: 'unhandled' }
  const created = int((body as Json).created)
  const customerId = idOf(object.customer)
  if (SUBSCRIPTION_EVENTS.has(eventType)) {
    return { kind: 'subscription', objectId, customerId, created, plan: planOf(eventType, object, prices) }
  }
  if (eventType.startsWith('invoice.')) return { kind: 'invoice', objectId, customerId, created, invoice: invoiceOf(object, objectId) }
  return { kind: 'unhandled' }
}
