/**
 * What billing reads from Stripe for an organization: its subscription and
 * its invoices, through its linked customer. An organization not linked yet
 * has neither (it never paid), which is an answer, not an error.
 */
import type Stripe from 'stripe'
import type { Plan } from '../../domain/identity/events.ts'
import type { IdentityServices } from '../identity/commands.ts'
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
  if (customer === null) return { items: [], nextCursor: null }
  const list = await stripeCall(() => billing.stripe.invoices.list({
    customer, limit: page.limit, ...(page.startingAfter === undefined ? {} : { starting_after: page.startingAfter })
  }))
  const items = list.data.map(invoiceView)
  return { items, nextCursor: list.has_more && items.length > 0 ? items.at(-1)!.invoiceId : null }
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
