/**
 * Billing through Stripe: the subscription, the invoices, and a plan change
 * (the function `PUT /v1/orgs/:orgId/plan` calls). The tools are made over the
 * runtime's Stripe client, which is absent without STRIPE_SECRET_KEY: they are
 * registered all the same and answer 503 `billing.not_configured`, so a client
 * learns why, and every other tool works.
 *
 * The SDK retries a lost connection or a Stripe 5xx itself (the reads are not
 * retried again here); a plan change's retried attempt repeats its Stripe
 * writes with the same idempotency keys, derived from the call, and Stripe
 * answers what it answered the first time.
 */
import { z } from 'zod'
import { PLANS } from '../../../domain/identity/events.ts'
import { BillingNotConfigured } from '../../billing/errors.ts'
import { changePlan } from '../../billing/plan.ts'
import { billingOverview, invoicesPage } from '../../billing/reads.ts'
import type { Billing } from '../../billing/stripe.ts'
import { defineTool, type AnyTool } from '../tool.ts'
import { EXAMPLE_TIME, orgResource } from './common.ts'

const PaidPlan = z.enum(['pro', 'enterprise'])

const SubscriptionOutput = z.object({
  subscriptionId: z.string(),
  status: z.string().describe('Stripe\'s: active, trialing, past_due, unpaid, incomplete, paused, …'),
  plan: PaidPlan.nullable().describe('the plan its price is for; null for a price set up at Stripe that Ledgerline does not sell'),
  priceId: z.string().nullable(),
  currentPeriodEnd: z.string().nullable(),
  cancelAtPeriodEnd: z.boolean()
}).strict()

const InvoiceOutput = z.object({
  invoiceId: z.string(), number: z.string().nullable(), currency: z.string(),
  status: z.string().nullable().describe('draft, open, paid, uncollectible or void'),
  total: z.number().int().describe('in the currency\'s smallest unit (cents)'), amountDue: z.number().int(), amountPaid: z.number().int(),
  createdAt: z.string(), periodStart: z.string(), periodEnd: z.string(), hostedInvoiceUrl: z.string().nullable()
}).strict()

/** What both reads declare alike: billing:read on the organization; not retried here, since the SDK retries a lost request. */
const BILLING_READ = {
  permission: { action: 'billing:read', resource: (_input: unknown, { orgId }: { orgId: string }) => orgResource(orgId) },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  timeoutMs: 15_000,
  retries: 0,
  approval: 'never'
} as const

function configured (billing: Billing | undefined): Billing {
  if (billing === undefined) throw new BillingNotConfigured()
  return billing
}

/** The three billing tools over the runtime's Stripe client (undefined: not configured). */
export function billingTools (billing: Billing | undefined): AnyTool[] {
  const subscriptionGet = defineTool({
    name: 'billing.subscription.get',
    title: 'Read the subscription',
    description: 'The plan Ledgerline records, the organization\'s Stripe customer, and the subscription that bills it ' +
      '(status, plan, price, end of the current period). Not linked to Stripe yet: no customer and no subscription.',
    input: z.object({}).strict(),
    output: z.object({
      plan: z.enum(PLANS), customerId: z.string().nullable(), subscription: SubscriptionOutput.nullable()
    }).strict(),
    ...BILLING_READ,
    examples: [{
      input: {},
      output: {
        plan: 'pro', customerId: 'cus_Example123',
        subscription: {
          subscriptionId: 'sub_Example123', status: 'active', plan: 'pro', priceId: 'price_Pro123', currentPeriodEnd: EXAMPLE_TIME,
          cancelAtPeriodEnd: false
        }
      }
    }],
    async run (_input, { services, orgId }) {
      return billingOverview(services, configured(billing), orgId)
    }
  })

  const invoicesList = defineTool({
    name: 'billing.invoices.list',
    title: 'List invoices',
    description: 'The organization\'s Stripe invoices, newest first, a page at a time (1 to 100, 10 by default); pass nextCursor ' +
      'to continue. Amounts are in the currency\'s smallest unit.',
    input: z.object({
      limit: z.number().int().min(1).max(100).default(10),
      cursor: z.string().regex(/^in_[A-Za-z0-9]{1,250}$/).optional().describe('nextCursor of the page before')
    }).strict(),
    output: z.object({ items: z.array(InvoiceOutput), nextCursor: z.string().nullable() }).strict(),
    ...BILLING_READ,
    examples: [{
      input: { limit: 1 },
      output: {
        items: [{
          invoiceId: 'in_Example123', number: 'LEDG-0001', status: 'paid', currency: 'usd', total: 4900, amountDue: 4900,
          amountPaid: 4900, createdAt: EXAMPLE_TIME, periodStart: EXAMPLE_TIME, periodEnd: EXAMPLE_TIME,
          hostedInvoiceUrl: 'https://invoice.stripe.com/i/example'
        }],
        nextCursor: 'in_Example123'
      }
    }],
    async run ({ limit, cursor }, { services, orgId }) {
      return invoicesPage(services, configured(billing), orgId, { limit, ...(cursor === undefined ? {} : { startingAfter: cursor }) })
    }
  })

  const planChange = defineTool({
    name: 'billing.plan.change',
    title: 'Change the plan',
    description: 'Moves the organization to another plan: its Stripe subscription gets the plan\'s price (prorated; a declined ' +
      'payment changes nothing), the free plan cancels it, then the plan is recorded. Waits for your approval.',
    input: z.object({ plan: z.enum(PLANS) }).strict(),
    output: z.object({ plan: z.enum(PLANS), subscriptionId: z.string().nullable(), position: z.string().nullable() }).strict(),
    permission: { action: 'billing:update', resource: ({ plan }, { orgId }) => orgResource(orgId, { plan }) },
    // Idempotent through Stripe's idempotency keys, derived from the call: a retried attempt changes nothing twice.
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    timeoutMs: 30_000,
    retries: 1,
    approval: 'always',
    examples: [{ input: { plan: 'enterprise' }, output: { plan: 'enterprise', subscriptionId: 'sub_Example123', position: '1042.0' } }],
    async run ({ plan }, context) {
      const changed = await changePlan(context.services, configured(billing), context.command('plan'), context.orgId, plan, context.signal)
      return { plan, ...changed }
    }
  })

  return [subscriptionGet, invoicesList, planChange] as AnyTool[]
}
