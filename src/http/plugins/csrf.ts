/**
 * Cross-site request forgery, for requests authenticated by the session
 * cookie only (a bearer token is not sent by a browser on its own):
 *
 * - the request must come from this server's origin: an `Origin` header, when
 *   sent, names it, and `Sec-Fetch-Site`, when sent, is `same-origin` (or
 *   `none`, an address typed by the user);
 * - a request that changes state carries `X-CSRF-Token`, equal to the hash of
 *   the session token the cookie holds (the `ll_csrf` cookie gives the page
 *   that value: a double submit another site can neither read nor forge).
 *
 * SameSite=Strict already keeps the cookie off other sites' requests; these
 * checks hold when it does not (an old browser, a sibling subdomain).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { domainError } from '../../domain/errors.ts'

export const CSRF_HEADER = 'x-csrf-token'

export class CsrfTokenMissing extends domainError('auth.csrf_failed', 403,
  'a request made with the session cookie that changes state needs the X-CSRF-Token header (the ll_csrf cookie\'s value)') {}
export class CrossOriginRefused extends domainError('auth.cross_origin', 403,
  'a request made with the session cookie must come from this server\'s own origin') {}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
const FETCH_SITES = new Set(['same-origin', 'none'])

/** The CSRF token of a session: a hash of its secret, so it says nothing about it and needs no storage. */
export function csrfTokenOf (sessionToken: string): string {
  return createHash('sha256').update(`ledgerline-csrf:${sessionToken}`).digest('base64url')
}

function sameOrigin (request: FastifyRequest): boolean {
  const origin = request.headers.origin
  if (origin !== undefined && origin !== `${request.protocol}://${request.host}`) return false
  const site = request.headers['sec-fetch-site']
  return site === undefined || (typeof site === 'string' && FETCH_SITES.has(site))
}

function tokenMatches (header: string | string[] | undefined, expected: string): boolean {
  if (typeof header !== 'string') return false
  const given = Buffer.from(header)
  const wanted = Buffer.from(expected)
  return given.length === wanted.length && timingSafeEqual(given, wanted)
}

/** Why a cookie-authenticated request is refused, or undefined when it may go on. */
export function csrfRefusal (request: FastifyRequest, sessionToken: string): Error | undefined {
  if (!sameOrigin(request)) return new CrossOriginRefused()
  if (SAFE_METHODS.has(request.method)) return undefined
  return tokenMatches(request.headers[CSRF_HEADER], csrfTokenOf(sessionToken)) ? undefined : new CsrfTokenMissing()
}

/** A sign-in with a password from another site is refused too (login CSRF). */
export function assertSameOrigin (request: FastifyRequest): void {
  if (!sameOrigin(request)) throw new CrossOriginRefused()
}
