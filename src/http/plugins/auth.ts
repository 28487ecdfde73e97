/**
 * Bearer authentication and the command metadata a request carries into the
 * domain. `authenticate` is the onRequest hook of every protected scope; a
 * missing, malformed, unknown, revoked or expired token answers 401 with
 * `WWW-Authenticate: Bearer` and the same code, so a probe learns nothing.
 * One exception, for the holder of the token only: the token of an
 * impersonation session that has ended answers 401 `impersonation.ended`
 * saying how (`reason`: stopped, expired, revoked or denied; `cause`: a
 * revocation's code), so the banner can say why it is over.
 *
 * The first use of a token from an address it was not used from before is
 * audited (`identity.token.used_from_new_ip`), fire and forget: the request
 * does not wait for the append, which happens once per token and address per
 * node, and a failure to write it is logged as an error, not answered.
 *
 * An impersonation token (`lli_…`) acts as its session's target; before the
 * handler runs, the session is checked and the request recorded in it
 * (src/application/impersonation/admission.ts), and every response carries
 * an `Impersonation` header naming the session, the impersonator and the end.
 *
 * A request without an Authorization header may authenticate with the
 * dashboard's session cookie instead, under its CSRF checks
 * (src/http/plugins/session-cookie.ts, csrf.ts).
 */
import { randomUUID } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { recordTokenUsedFromNewIp } from '../../application/audit/access.ts'
import type { ImpersonationContext, Principal } from '../../application/identity/directory.ts'
import { admitImpersonated } from '../../application/impersonation/admission.ts'
import type { CommandMetadata } from '../../domain/envelope.ts'
import { Unauthenticated } from '../../domain/identity/errors.ts'
import { SessionEnded } from '../../domain/impersonation/errors.ts'
import { sessionEnded } from '../../domain/impersonation/session.ts'
import type { Runtime } from '../../runtime.ts'
import { cookieToken } from './session-cookie.ts'

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
    /** Set by the idempotency plugin: the command id a key maps to. */
    commandId: string | null
    /**
     * The client's address (as `ip`, behind the trusted proxies), read once when the request arrives: `ip` reads the
     * socket each time, and once the client has gone (a closed tab, an aborted fetch) it is undefined.
     */
    clientIp: string
  }
}

/** Reads the client's address while its socket is open; '' when it has none (already gone). */
export function readClientIp (request: FastifyRequest, _reply: unknown, done: () => void): void {
  const ip = request.ip as string | undefined
  request.clientIp = ip === undefined ? '' : ip.slice(0, 64)
  done()
}

type Impersonated = Principal & { impersonation: ImpersonationContext }

const BEARER = /^Bearer +([\x21-\x7e]{1,512})$/i
const REQUEST_ID = /^[\x21-\x7e]{1,200}$/

export function authenticator (runtime: Runtime) {
  const accept = (
    request: FastifyRequest, reply: FastifyReply, principal: Principal | undefined, done: (error?: Error) => void, token?: string
  ): void => {
    if (principal === undefined) {
      reply.header('www-authenticate', 'Bearer realm="ledgerline"')
      if (token === undefined || !token.startsWith('lli_')) return done(new Unauthenticated())
      return void runtime.identity.directory.impersonationEnd(token)
        .then((end) => done(end === undefined ? new Unauthenticated() : sessionEnded(end)), done)
    }
    request.principal = principal
    if (principal.impersonation !== undefined) return admit(request, reply, principal as Impersonated, done)
    const ip = request.clientIp
    const previousIpCount = ip === '' ? undefined : runtime.identity.directory.noteAddress(principal.token.id, ip)
    if (previousIpCount !== undefined) {
      const use = { tokenId: principal.token.id, userId: principal.userId, ip, previousIpCount }
      const unwritten = 'a token used from a new address could not be written to the audit log'
      recordTokenUsedFromNewIp(runtime.identity, commandMetadata(request), use)
        .catch((error: unknown) => request.log.error({ err: error, tokenId: principal.token.id }, unwritten))
    }
    done()
  }
  /** An impersonation token: its own checks, and every request recorded in the session (src/application/impersonation/admission.ts). */
  const admit = (request: FastifyRequest, reply: FastifyReply, principal: Impersonated, done: (error?: Error) => void): void => {
    const session = principal.impersonation
    reply.header('impersonation',
      `session="${session.sessionId}", impersonator="${session.impersonatorId}", expires="${session.expiresAt}"`)
    const schema = request.routeOptions.schema
    const orgId = (request.params as Record<string, unknown> | undefined)?.orgId
    admitImpersonated(runtime.impersonation, principal, {
      method: request.method,
      route: request.routeOptions.url ?? request.url,
      action: schema?.['x-permission'],
      orgId: typeof orgId === 'string' ? orgId : undefined,
      ip: request.clientIp,
      metadata: { ...commandMetadata(request), commandId: randomUUID() }
    }).then(() => done(), (error: Error) => {
      if (error instanceof SessionEnded) reply.header('www-authenticate', 'Bearer realm="ledgerline"')
      done(error)
    })
  }
  // A callback hook: a cached token is checked without a promise.
  return function authenticate (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void {
    const header = request.headers.authorization
    const match = typeof header === 'string' ? BEARER.exec(header.trim()) : null
    // No Authorization header: the dashboard's session cookie, once its CSRF checks pass (src/http/plugins/session-cookie.ts).
    const token = match !== null ? match[1]! : header === undefined ? cookieToken(request) : undefined
    if (token instanceof Error) return done(token)
    if (token === undefined) return accept(request, reply, undefined, done)
    const principal = runtime.identity.directory.authenticate(token)
    if (principal instanceof Promise) {
      // Whatever goes wrong once the token is loaded answers this request (once), never an unhandled rejection.
      const once = onlyOnce(done)
      principal.then((found) => accept(request, reply, found, once, token), once).catch(once)
    } else accept(request, reply, principal, done, token)
  }
}

function onlyOnce (done: (error?: Error) => void): (error?: unknown) => void {
  let called = false
  return (error) => {
    if (called) return
    called = true
    done(error === undefined ? undefined : error instanceof Error ? error : new Error(String(error)))
  }
}

/** The authenticated principal; routes behind `authenticate` always have one. */
export function principalOf (request: FastifyRequest): Principal {
  if (request.principal === null) throw new Unauthenticated()
  return request.principal
}

/** Who, when, where from and under which trace: what the events of this request will carry. */
export function commandMetadata (request: FastifyRequest, orgId?: string): CommandMetadata {
  const userAgent = request.headers['user-agent']
  const requestId = request.headers['x-request-id']
  return {
    commandId: request.commandId ?? randomUUID(),
    now: new Date(),
    actor: request.principal === null ? { type: 'system', id: 'anonymous' } : { type: 'user', id: request.principal.userId },
    traceId: request.id,
    requestId: typeof requestId === 'string' && REQUEST_ID.test(requestId) ? requestId : randomUUID(),
    ip: request.clientIp,
    ...(typeof userAgent === 'string' ? { userAgent: userAgent.slice(0, 500) } : {}),
    ...(orgId === undefined ? {} : { orgId }),
    // Every event of an impersonated request says who really acted (DESIGN §4).
    ...(request.principal?.impersonation === undefined ? {} : { impersonatorId: request.principal.impersonation.impersonatorId })
  }
}
