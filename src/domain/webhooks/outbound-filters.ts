/**
 * What an organization may subscribe its endpoints to, and how a filter
 * matches: role changes (`rbac.*`), impersonations (`impersonation.*`), tool
 * calls (`ai.*`), audit actions (`audit.*`), and later budget alerts. A
 * filter is an exact type, a prefix ending in `.*`, or `*` (all of these).
 * Webhook events themselves are never sent: an endpoint would be told about
 * its own deliveries, for ever.
 */
import { EndpointUrlInvalid, UnknownEventTypeFilter } from './endpoint-errors.ts'

export const SUBSCRIBABLE_FAMILIES = ['rbac', 'impersonation', 'ai', 'audit', 'budget'] as const

/** Whether events of `type` may be sent to endpoints at all. */
export function subscribable (type: string): boolean {
  const family = type.slice(0, type.indexOf('.'))
  return (SUBSCRIBABLE_FAMILIES as readonly string[]).includes(family)
}

/** Whether one filter takes `type`. */
export function filterMatches (filter: string, type: string): boolean {
  if (filter === '*') return true
  if (filter.endsWith('.*')) return type.startsWith(filter.slice(0, -1))
  return filter === type
}

/** Whether an endpoint with these filters gets events of `type` (a subscribable one). */
export function matchesAny (filters: readonly string[], type: string): boolean {
  return filters.some((filter) => filterMatches(filter, type))
}

/** Refuses a filter that can match no subscribable type (a typo would otherwise subscribe to nothing, silently). */
export function checkFilters (filters: readonly string[], known: readonly string[]): void {
  const unknown = filters.filter((filter) => !known.some((type) => filterMatches(filter, type)))
  if (unknown.length > 0) {
    throw new UnknownEventTypeFilter(`no event type that may be subscribed matches ${unknown.join(', ')}`, { filters: unknown })
  }
}

export const MAX_URL_LENGTH = 2048

/**
 * The URL checks made when an endpoint is written: http or https (https only
 * unless private targets are allowed, which is for tests and local work), at
 * most 2048 characters, no user name or password, a host. The address is
 * checked again at every delivery (the SSRF guard resolves the name then).
 */
export function checkEndpointUrl (text: string, options: { allowPlainHttp: boolean }): string {
  const refuse = (reason: string): never => {
    throw new EndpointUrlInvalid(`the endpoint URL ${reason}`, { reason })
  }
  if (text.length > MAX_URL_LENGTH) refuse(`is longer than ${MAX_URL_LENGTH} characters`)
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return refuse('is not an absolute URL')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') refuse('must be http or https')
  if (url.protocol === 'http:' && !options.allowPlainHttp) refuse('must be https')
  if (url.username !== '' || url.password !== '') refuse('must not carry a user name or password')
  if (url.hostname === '') refuse('has no host')
  if (url.hash !== '') refuse('must not have a fragment')
  return url.toString()
}
