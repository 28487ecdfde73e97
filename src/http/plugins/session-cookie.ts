/**
 * The dashboard's session: the same session token a password login answers,
 * kept in an `HttpOnly`, `SameSite=Strict` cookie that the page's scripts
 * cannot read. It is `Secure` and named with the `__Host-` prefix (no
 * `Domain`, so a sibling subdomain cannot set it) when the request came over
 * https (a trusted proxy's scheme counts) and always in production; plain
 * names only on plain HTTP, where browsers refuse `__Host-`. A request that
 * carries the session or CSRF cookie more than once (a cookie tossed in by a
 * sibling subdomain) is refused: 403 `auth.cookie_conflict`. A request
 * authenticated by the cookie rather than a bearer token must come from this
 * server's own origin, and one that changes state must also carry the CSRF
 * token in `X-CSRF-Token` (src/http/plugins/csrf.ts). Bearer tokens are not
 * touched: a request with an Authorization header never reads the cookie.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { domainError } from '../../domain/errors.ts'
import { csrfRefusal, csrfTokenOf } from './csrf.ts'

export const SESSION_COOKIE = 'll_session'
/** Readable by the page's scripts on purpose: it is the double-submit half the server compares with the session. */
export const CSRF_COOKIE = 'll_csrf'
const HOST_PREFIX = '__Host-'

export class CookieConflict extends domainError('auth.cookie_conflict', 403,
  'the request carries the session or CSRF cookie more than once (one may have been set by another site): ' +
  'clear the cookies and sign in again') {}

const COOKIE_VALUE = /^[\x21-\x7e]{1,512}$/

/** The values of every cookie named `name` or `__Host-name` in the Cookie header. */
function cookieValues (request: FastifyRequest, name: string): string[] {
  const header = request.headers.cookie
  if (typeof header !== 'string') return []
  const values: string[] = []
  for (const part of header.split(';')) {
    const at = part.indexOf('=')
    const key = at === -1 ? '' : part.slice(0, at).trim()
    if (key === name || key === HOST_PREFIX + name) values.push(part.slice(at + 1).trim())
  }
  return values
}

/** One cookie's value from the Cookie header (plain or `__Host-` name), or undefined; a conflict when it is there more than once. */
export function cookieValue (request: FastifyRequest, name: string): string | undefined | CookieConflict {
  const values = cookieValues(request, name)
  if (values.length > 1) return new CookieConflict()
  const value = values[0]
  return value !== undefined && COOKIE_VALUE.test(value) ? value : undefined
}

/**
 * The token a request without an Authorization header authenticates with:
 * the session cookie's, once the CSRF checks pass (an error says why they
 * did not); undefined without the cookie.
 */
export function cookieToken (request: FastifyRequest): string | Error | undefined {
  if (cookieValues(request, CSRF_COOKIE).length > 1) return new CookieConflict()
  const token = cookieValue(request, SESSION_COOKIE)
  if (token === undefined || token instanceof Error) return token
  return csrfRefusal(request, token) ?? token
}

/** Secure (and `__Host-` names) over https, as the request's scheme says (a trusted proxy's counts), and always in production. */
export function secureCookies (request: FastifyRequest, production: boolean): boolean {
  return production || request.protocol === 'https'
}

function cookie (name: string, value: string, secure: boolean, attributes: string[]): string {
  const named = secure ? HOST_PREFIX + name : name
  return [`${named}=${value}`, 'Path=/', 'SameSite=Strict', ...attributes, ...(secure ? ['Secure'] : [])].join('; ')
}

/** Sets the session and CSRF cookies; they end when the token does (a session token always has an expiry). */
export function setSessionCookies (reply: FastifyReply, secure: boolean, token: string, expiresAt: string | null): void {
  const expires = expiresAt === null ? [] : [`Expires=${new Date(expiresAt).toUTCString()}`]
  // No cache may keep (and hand another user) an answer that sets a session.
  reply.header('cache-control', 'no-store')
  reply.header('set-cookie', [
    cookie(SESSION_COOKIE, token, secure, ['HttpOnly', ...expires]),
    cookie(CSRF_COOKIE, csrfTokenOf(token), secure, expires)
  ])
}

export function clearSessionCookies (reply: FastifyReply, secure: boolean): void {
  const past = 'Expires=Thu, 01 Jan 1970 00:00:00 GMT'
  reply.header('cache-control', 'no-store')
  reply.header('set-cookie', [
    cookie(SESSION_COOKIE, '', secure, ['HttpOnly', past, 'Max-Age=0']),
    cookie(CSRF_COOKIE, '', secure, [past, 'Max-Age=0'])
  ])
}
