/**
 * Billing's refusals and Stripe's, each with a stable code. Stripe's own
 * errors never leave this module as they are: `billingErrorOf` maps them,
 * keeping Stripe's code, decline code and parameter (safe to show) and
 * leaving its message and request out.
 */
import { domainError } from '../../domain/errors.ts'

export class BillingNotConfigured extends domainError('billing.not_configured', 503,
  'billing is not configured on this server (no STRIPE_SECRET_KEY)') {}
export class BillingCardDeclined extends domainError('billing.card_declined', 402,
  'the payment was declined: the plan is unchanged; update the payment method and try again') {}
export class BillingNotFound extends domainError('billing.not_found', 404, 'Stripe does not know this customer, subscription or invoice') {}
export class BillingInvalidRequest extends domainError('billing.invalid_request', 400, 'Stripe refused the request') {}
export class BillingIdempotencyConflict extends domainError('billing.idempotency_conflict', 409,
  'this request\'s idempotency key was used with other parameters; send the change as a new request') {}
export class BillingUnavailable extends domainError('billing.unavailable', 502, 'Stripe could not be reached or failed; retry later') {}
