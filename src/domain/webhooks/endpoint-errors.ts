import { domainError } from '../errors.ts'

export class EndpointNotFound extends domainError('webhook.endpoint_not_found', 404, 'webhook endpoint not found') {}
export class EndpointExists extends domainError('webhook.endpoint_exists', 409, 'the webhook endpoint exists already') {}
/** Refused at write time: not http(s), too long, credentials in it, plain http where https is required, an unknown filter. */
export class EndpointUrlInvalid extends domainError('webhook.url_invalid', 400, 'the endpoint URL is not one deliveries may go to') {}
export class UnknownEventTypeFilter extends domainError('webhook.unknown_event_type', 400,
  'an event type filter matches no event type that may be subscribed') {}
/** Any webhook message, inbound (a stored stream) or outbound (an organization's message): the one declaration of this code. */
export class MessageNotFound extends domainError('webhook.message_not_found', 404, 'webhook message not found') {}
