/**
 * Inbound webhooks' refusals, each with a stable code. The refusals of a
 * message (signature, time, headers, size, source, rate) are answered before
 * anything is written: only a metric counts them.
 */
import { domainError } from '../errors.ts'

export class WebhookInvalidSignature extends domainError('webhook.invalid_signature', 401,
  'no signature of the message matches a secret of this source') {}
export class WebhookStaleTimestamp extends domainError('webhook.stale_timestamp', 401,
  'the message\'s timestamp is more than 5 minutes away from now: a replayed or delayed message') {}
export class WebhookInvalidHeaders extends domainError('webhook.invalid_headers', 400,
  'the signature headers are missing or malformed') {}
export class WebhookInvalidBody extends domainError('webhook.invalid_body', 400,
  'the signed body is not a JSON object this source sends') {}
export class WebhookTooLarge extends domainError('webhook.too_large', 413, 'the message is larger than 1 MiB') {}
export class WebhookUnknownSource extends domainError('webhook.unknown_source', 404, 'no enabled webhook source has this id') {}
export class WebhookRateLimited extends domainError('webhook.rate_limited', 429,
  'this source sends more messages than its rate allows: retry after the time Retry-After gives') {}
export class WebhookSourceNotConfigured extends domainError('webhook.source_not_configured', 503,
  'this webhook source is not configured on this server (no STRIPE_WEBHOOK_SECRET)') {}
export class WebhookSourceNotFound extends domainError('webhook.source_not_found', 404, 'webhook source not found') {}
export class WebhookSourceDisabled extends domainError('webhook.source_disabled', 409, 'the webhook source is disabled') {}
/**
 * A message inbound or outbound that is not there (or not this organization's) is the same failure to a client: one code,
 * `webhook.message_not_found`, declared once beside the outbound errors.
 */
export { MessageNotFound as WebhookMessageNotFound } from './endpoint-errors.ts'
/** Processing: the object has had a newer event applied (by `created`, then event id). */
export class WebhookOlderThanApplied extends domainError('webhook.older_than_applied', 409,
  'a newer event of this object has been applied') {}
