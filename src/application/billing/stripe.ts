/**
 * The Stripe client, built once per runtime from the configuration (none
 * without STRIPE_SECRET_KEY), and the translation of Stripe's errors into
 * billing's. The SDK retries a failed connection or a 409/5xx itself, with
 * the request's idempotency key, so a retry never does a change twice.
 */
import Stripe from 'stripe'
import type { StripeConfig } from '../../config.ts'
import { LedgerlineError } from '../../domain/errors.ts'
import type { Plan } from '../../domain/identity/events.ts'
import {
  BillingCardDeclined, BillingIdempotencyConflict, BillingInvalidRequest, BillingNotFound, BillingUnavailable
} from './errors.ts'

/** What the billing functions call: the SDK's client and the price of each paid plan. */
export interface Billing {
  readonly stripe: Stripe
  readonly prices: StripeConfig['prices']
}

/** A Stripe request waits at most this long (the SDK's default is 80 s; a tool's budget is shorter). */
const REQUEST_TIMEOUT_MS = 20_000

export function billingOf (config: StripeConfig | undefined): Billing | undefined {
  if (config === undefined) return undefined
  const stripe = new Stripe(config.secretKey.reveal(), {
    maxNetworkRetries: 2,
    timeout: REQUEST_TIMEOUT_MS,
    telemetry: false,
    appInfo: { name: 'Ledgerline' },
    ...(config.apiBase === undefined ? {} : { host: config.apiBase.host, port: config.apiBase.port, protocol: config.apiBase.protocol })
  })
  return { stripe, prices: config.prices }
}

/** The paid plan whose configured price this is; undefined for a price Ledgerline does not sell. */
export function planOfPrice (billing: Billing, priceId: string): Exclude<Plan, 'free'> | undefined {
  if (priceId === billing.prices.pro) return 'pro'
  if (priceId === billing.prices.enterprise) return 'enterprise'
  return undefined
}

/** Stripe's facts that are safe to show a caller: its error code, decline code and parameter, when it gave them. */
function factsOf (error: Stripe.errors.StripeError): Record<string, string> {
  const facts: Record<string, string> = { stripeType: error.type }
  if (error.code !== undefined) facts.stripeCode = error.code
  if (error.decline_code !== undefined) facts.declineCode = error.decline_code
  if (error.param !== undefined) facts.param = error.param
  return facts
}

/** Billing's error for what a Stripe call threw; Ledgerline's own errors pass as they are. */
export function billingErrorOf (error: unknown): unknown {
  if (error instanceof LedgerlineError || !(error instanceof Stripe.errors.StripeError)) return error
  const facts = factsOf(error)
  switch (error.type) {
    case 'StripeCardError': return new BillingCardDeclined(undefined, facts)
    case 'StripeIdempotencyError': return new BillingIdempotencyConflict(undefined, facts)
    case 'StripeInvalidRequestError':
      return error.statusCode === 404 ? new BillingNotFound(undefined, facts) : new BillingInvalidRequest(undefined, facts)
    default: return new BillingUnavailable(undefined, facts)
  }
}

/** Runs a Stripe call, its errors translated. */
export async function stripeCall<T> (call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    throw billingErrorOf(error)
  }
}
