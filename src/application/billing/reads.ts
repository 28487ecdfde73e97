/**
 * What billing reads from Stripe for an organization: its subscription and
 * its invoices, through its linked customer. An organization not linked yet
 * has neither (it never paid), which is an answer, not an error.
 *
 * Invoices come from Stripe's `invoice.*` webhooks once any has been
 * processed for the organization (the inbound read model,
 * src/projections/webhooks/inbound.ts): the list is then answered without a
 * call to Stripe, from the newest state of each invoice Stripe sent. Stripe
 * stays authoritative: an organization whose invoices no webhook has told of
 * is read from Stripe's API, and an invoice Stripe has not sent an event
 * about since the webhook endpoint was set up is only there.
 */
import type Stripe from 'stripe'
import type { Plan } from '../../domain/identity/events.ts'
import { hasInvoicesFromEvents, invoicesFromEvents, type InvoiceRow } from '../../projections/webhooks/inbound-queries.ts'
import type { IdentityServices } from '../identity/commands.ts'
import { BillingNotFound } from './errors.ts'
import { activeOrganization, currentSubscription } from './plan.ts'
import { planOfPrice, stripeCall, type Billing } from './stripe.ts'

export interface SubscriptionView {
  readonly subscriptionId: string
  readonly status: Stripe.Subscription.Status
  /** The plan its price is configured for; null for a price Ledgerline does not sell (set up at Stripe by hand). */
  readonly plan: Exclude<Plan, 'free'> | null
  readonly priceId: string | null
  readonly currentPeriodEnd: string | null
  readonly cancelAtPeriodEnd: boolean
}

export interface BillingView {
  /** The plan Ledgerline records (what its limits follow). */
  readonly plan: Plan
  readonly customerId: string | null
  readonly subscription: SubscriptionView | null
}

export interface InvoiceView {
  readonly invoiceId: string
  readonly number: string | null
  readonly status: Stripe.Invoice.Status | null
  readonly currency: string
  /** In the currency's smallest unit (cents), as Stripe gives it. */
  readonly total: number
  readonly amountDue: number
  readonly amountPaid: number
  readonly createdAt: string
  readonly periodStart: string
  readonly periodEnd: string
  readonly hostedInvoiceUrl: string | null
}

const isoOf = (seconds: number): string => new Date(seconds * 1000).toISOString()

export async function billingOverview (services: IdentityServices, billing: Billing, orgId: string): Promise<BillingView> {
  const state = await activeOrganization(services, orgId)
  const customerId = state.billingCustomerId
  const subscription = customerId === null ? undefined : await currentSubscription(billing, customerId)
  return { plan: state.plan, customerId, subscription: subscription === undefined ? null : subscriptionView(billing, subscription) }
}

function subscriptionView (billing: Billing, subscription: Stripe.Subscription): SubscriptionView {
  const item = subscription.items.data[0]
  return {
    subscriptionId: subscription.id,
    status: subscription.status,
    plan: item === undefined ? null : planOfPrice(billing, item.price.id) ?? null,
    priceId: item?.price.id ?? null,
    currentPeriodEnd: item === undefined ? null : isoOf(item.current_period_end),
    cancelAtPeriodEnd: subscription.cancel_at_period_end
  }
}

/** A page of the organization's invoices, newest first; `startingAfter` is the last invoice id of the page before. */
export async function invoicesPage (
  services: IdentityServices, billing: Billing, orgId: string, page: { limit: number, startingAfter?: string }
): Promise<{ items: InvoiceView[], nextCursor: string | null }> {
  const { billingCustomerId: customer } = await activeOrganization(services, orgId)
  if (await hasInvoicesFromEvents(services.sql, orgId)) return invoicesFromWebhooks(services, orgId, page)
  if (customer === null) return { items: [], nextCursor: null }
  const list = await stripeCall(() => billing.stripe.invoices.list({
    customer, limit: page.limit, ...(page.startingAfter === undefined ? {} : { starting_after: page.startingAfter })
  }))
  const items = list.data.map(invoiceView)
  return { items, nextCursor: list.has_more && items.length > 0 ? items.at(-1)!.invoiceId : null }
}

/** A page of the invoices Stripe's webhooks told of; `startingAfter` an invoice not among them is Stripe's 404, as its API answers. */
async function invoicesFromWebhooks (
  services: IdentityServices, orgId: string, page: { limit: number, startingAfter?: string }
): Promise<{ items: InvoiceView[], nextCursor: string | null }> {
  const { rows, found } = await invoicesFromEvents(services.sql, orgId, page.limit + 1, page.startingAfter)
  if (!found) throw new BillingNotFound(undefined, { invoiceId: page.startingAfter })
  const items = rows.slice(0, page.limit).map(invoiceOfRow)
  return { items, nextCursor: rows.length > page.limit ? items.at(-1)!.invoiceId : null }
}

const isoOfTime = (value: Date | string): string => new Date(value).toISOString()

function invoiceOfRow (row: InvoiceRow): InvoiceView {
  return {
    invoiceId: row.invoice_id,
    number: row.number,
    status: row.status as InvoiceView['status'],
    currency: row.currency,
    total: Number(row.total),
    amountDue: Number(row.amount_due),
    amountPaid: Number(row.amount_paid),
    createdAt: isoOfTime(row.created_at),
    periodStart: isoOfTime(row.period_start),
    periodEnd: isoOfTime(row.period_end),
    hostedInvoiceUrl: row.hosted_invoice_url
  }
}

function invoiceView (invoice: Stripe.Invoice): InvoiceView {
  return {
    invoiceId: invoice.id,
    number: invoice.number,
    status: invoice.status,
    currency: invoice.currency,
    total: invoice.total,
    amountDue: invoice.amount_due,
    amountPaid: invoice.amount_paid,
    createdAt: isoOf(invoice.created),
    periodStart: isoOf(invoice.period_start),
    periodEnd: isoOf(invoice.period_end),
    hostedInvoiceUrl: invoice.hosted_invoice_url ?? null
  }
}
