/**
 * The plan, as billing changes it: what `PUT /v1/orgs/:orgId/plan` and the
 * `billing.plan.change` tool both call. With Stripe configured, the
 * organization's customer (linked on first need) is subscribed to the plan's
 * price first, then `org.organization.plan_changed` is recorded; the free plan
 * has no price, so moving to it cancels the subscription. Without Stripe, the
 * plan is recorded alone (what the route always did).
 *
 * Every Stripe write carries an idempotency key derived from the command
 * (a tool call's id, a request's Idempotency-Key), so a retried attempt gets
 * Stripe's first answer back instead of a second subscription; the customer's
 * key derives from the organization, so two changes at once create one.
 */
import type Stripe from 'stripe'
import { uuidV5, type CommandMetadata } from '../../domain/envelope.ts'
import { BillingAlreadyLinked, OrgNotFound } from '../../domain/identity/errors.ts'
import type { Plan } from '../../domain/identity/events.ts'
import type { OrgState } from '../../domain/identity/organization.ts'
import type { Written } from '../commands.ts'
import { changeOrganization, organizationState, type IdentityServices } from '../identity/commands.ts'
import { BillingNotFound } from './errors.ts'
import { stripeCall, type Billing } from './stripe.ts'

type Active = Extract<OrgState, { status: 'active' }>

/** What a plan change answers: where the plan's event landed, and the subscription it is billed by (none on free). */
export interface PlanChanged extends Written {
  readonly subscriptionId: string | null
}

/** The `name`-th command of a use case: an id of its own, derived, so a retry repeats it. */
function step (metadata: CommandMetadata, name: string): CommandMetadata {
  return { ...metadata, commandId: uuidV5(`${metadata.commandId}/${name}`) }
}

export async function activeOrganization (services: IdentityServices, orgId: string): Promise<Active> {
  const state = await organizationState(services, orgId)
  if (state.status !== 'active') throw new OrgNotFound()
  return state
}

/**
 * The organization's Stripe customer: the linked one, or `customerId` checked at Stripe and linked, or a new
 * one created and linked. An organization linked to another customer is 409 `billing.already_linked`.
 */
export async function linkCustomer (
  services: IdentityServices, billing: Billing, metadata: CommandMetadata, orgId: string, customerId?: string
): Promise<Written & { customerId: string }> {
  const state = await activeOrganization(services, orgId)
  const linked = state.billingCustomerId
  if (linked !== null && (customerId === undefined || customerId === linked)) return { customerId: linked, position: null }
  // Refused here before asking Stripe; the decider refuses it again against the stream's latest state.
  if (linked !== null) throw new BillingAlreadyLinked(undefined, { customerId: linked })
  const customer = customerId === undefined ? await createCustomer(billing, state) : await existingCustomer(billing, customerId)
  const { position } = await changeOrganization(services, metadata, orgId, { type: 'LinkBilling', data: { customerId: customer } })
  return { customerId: customer, position }
}

async function createCustomer (billing: Billing, state: Active): Promise<string> {
  // The parameters derive from the organization alone: the same key with other parameters would be refused.
  const customer = await stripeCall(() => billing.stripe.customers.create(
    { description: `Ledgerline organization ${state.orgId}`, metadata: { orgId: state.orgId } },
    { idempotencyKey: `ledgerline-customer-${state.orgId}` }))
  return customer.id
}

async function existingCustomer (billing: Billing, customerId: string): Promise<string> {
  const customer = await stripeCall(() => billing.stripe.customers.retrieve(customerId))
  if (customer.deleted === true) throw new BillingNotFound(undefined, { customerId })
  return customer.id
}

/** The subscription billing the customer: the newest not canceled (one a plan change made, or one made at Stripe). */
export async function currentSubscription (billing: Billing, customerId: string): Promise<Stripe.Subscription | undefined> {
  const { data } = await stripeCall(() => billing.stripe.subscriptions.list({ customer: customerId, limit: 10 }))
  return data.find((subscription) => subscription.status !== 'canceled' && subscription.status !== 'incomplete_expired')
}

/**
 * Changes the plan: through Stripe when `billing` is given, then recorded. The command's metadata is the caller's;
 * `signal` (a tool's timeout) stops the change between its steps, so nothing runs after the caller gave up.
 */
export async function changePlan (
  services: IdentityServices, billing: Billing | undefined, metadata: CommandMetadata, orgId: string, plan: Plan, signal?: AbortSignal
): Promise<PlanChanged> {
  if (billing === undefined) return { ...await recordPlan(services, metadata, orgId, plan), subscriptionId: null }
  const { customerId } = await linkCustomer(services, billing, step(metadata, 'customer'), orgId)
  signal?.throwIfAborted()
  const subscription = await subscribe(billing, customerId, orgId, plan, metadata.commandId)
  signal?.throwIfAborted()
  return { ...await recordPlan(services, step(metadata, 'plan'), orgId, plan), subscriptionId: subscription?.id ?? null }
}

async function recordPlan (services: IdentityServices, metadata: CommandMetadata, orgId: string, plan: Plan): Promise<Written> {
  return changeOrganization(services, metadata, orgId, { type: 'ChangePlan', data: { plan } })
}

/** The customer's subscription made to bill `plan`: created, its price changed, cancelled (free), or left as it is. */
async function subscribe (
  billing: Billing, customerId: string, orgId: string, plan: Plan, commandId: string
): Promise<Stripe.Subscription | undefined> {
  const current = await currentSubscription(billing, customerId)
  const key = (name: string): { idempotencyKey: string } => ({ idempotencyKey: `ledgerline-${commandId}-${name}` })
  if (plan === 'free') {
    if (current !== undefined) await stripeCall(() => billing.stripe.subscriptions.cancel(current.id, {}, key('cancel')))
    return undefined
  }
  const price = billing.prices[plan]
  // error_if_incomplete: a declined payment fails the change (402) instead of leaving a subscription waiting for one.
  if (current === undefined) {
    return stripeCall(() => billing.stripe.subscriptions.create(
      { customer: customerId, items: [{ price }], payment_behavior: 'error_if_incomplete', metadata: { orgId } }, key('create')))
  }
  // Ledgerline's subscriptions have one item, the plan's price: it is the one changed.
  const item = current.items.data[0]
  if (item?.price.id === price) return current
  return stripeCall(() => billing.stripe.subscriptions.update(current.id, {
    items: [item === undefined ? { price } : { id: item.id, price }],
    payment_behavior: 'error_if_incomplete', proration_behavior: 'create_prorations'
  }, key('update')))
}
