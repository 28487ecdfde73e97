/**
 * The dashboard's sign-in and sign-out. `POST /v1/auth/session` checks an
 * e-mail and password like `POST /v1/auth/login` (the same command, audit
 * and rate limit), but answers the session token in cookies, never in the
 * body: the page's scripts cannot read it (src/http/plugins/session-cookie.ts).
 * `DELETE /v1/auth/session` revokes the cookie's session and clears the
 * cookies; a session that is already over (an impersonation that ended
 * included) is cleared all the same, so the browser keeps no dead cookie.
 * A live impersonation cannot use it (the route is outside its
 * organization): it ends with POST /v1/impersonation/stop first. Both sit outside the authenticated scope: the first has no
 * session yet, the second must work when the session has ended.
 * A dashboard caller enters an impersonation it starts through the cookie
 * (`enterByCookie`, called by the impersonation routes).
 */
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { login, revokeToken } from '../../application/identity/commands.ts'
import { LedgerlineError } from '../../domain/errors.ts'
import { Unauthenticated } from '../../domain/identity/errors.ts'
import { normalizeEmail } from '../../domain/identity/email.ts'
import type { Runtime } from '../../runtime.ts'
import { authenticator, commandMetadata, principalOf } from '../plugins/auth.ts'
import { assertSameOrigin } from '../plugins/csrf.ts'
import { loginLimiter } from './auth.ts'
import { clearSessionCookies, secureCookies, setSessionCookies } from '../plugins/session-cookie.ts'
import { Email, Id, Position, problems } from '../schemas.ts'

const SignedIn = z.object({
  userId: Id,
  expiresAt: z.string().nullable().describe('when the session ends: the dashboard then asks to sign in again'),
  position: Position
})

/**
 * A started impersonation, for a caller signed in with the session cookie:
 * the cookie now holds the impersonation's token (the page never sees it, as
 * it never sees its own) until the impersonation ends, and the answer's
 * `token` is null. The impersonator's own session, which the browser no
 * longer holds, is revoked: after Stop they sign in again, as the banner
 * says. A bearer caller gets the token in the body, unchanged.
 */
export async function enterByCookie<T extends { token: string | null, expiresAt: string | null }> (
  runtime: Runtime, request: FastifyRequest, reply: FastifyReply, started: T
): Promise<T> {
  if (started.token === null || request.headers.authorization !== undefined) return started
  const own = principalOf(request)
  // A command of its own: under an Idempotency-Key the request's command id is the start's.
  const metadata = { ...commandMetadata(request), commandId: randomUUID() }
  await revokeToken(runtime.identity, metadata, own.userId, own.token.id, 'impersonation_started')
  setSessionCookies(reply, secureCookies(request, runtime.config.env === 'production'), started.token, started.expiresAt)
  return { ...started, token: null }
}

export async function dashboardSessionRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const limiter = loginLimiter(runtime)
  const production = runtime.config.env === 'production'
  const authenticate = authenticator(runtime)
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.post('/v1/auth/session', {
    schema: {
      tags: ['auth'],
      summary: 'Dashboard sign-in: checks an e-mail and password and sets the session in an HttpOnly cookie (the token is not in ' +
        'the body); the ll_csrf cookie holds the X-CSRF-Token value that requests changing state must send',
      body: z.object({ email: Email, password: z.string().min(1).max(256) }).strict(),
      response: { 200: SignedIn, ...problems }
    }
  }, async (request, reply) => {
    // Signing someone in from another site (login CSRF) is refused like any cross-origin cookie request.
    assertSameOrigin(request)
    limiter.hit(reply, [`ip:${request.clientIp}`, `email:${normalizeEmail(request.body.email)}`])
    const session = await login(runtime.identity, commandMetadata(request), request.body)
    setSessionCookies(reply, secureCookies(request, production), session.token, session.expiresAt)
    return { userId: session.userId, expiresAt: session.expiresAt, position: session.position }
  })

  api.delete('/v1/auth/session', {
    onRequest (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) {
      // Only the cookie: a bearer token signs out with POST /v1/auth/logout. A session already over is not an error here.
      if (request.headers.authorization !== undefined) {
        return done(new Unauthenticated('sign out of a bearer token with POST /v1/auth/logout'))
      }
      // Any 401: a token unknown, revoked or expired, or an impersonation that has ended (impersonation.ended).
      authenticate(request, reply, (error) => {
        if (!(error instanceof LedgerlineError && error.status === 401)) return done(error)
        // The authenticator may have named a principal before refusing it (an ended impersonation): nothing to revoke.
        request.principal = null
        done()
      })
    },
    schema: {
      tags: ['auth'],
      summary: 'Dashboard sign-out: revokes the session cookie\'s token and clears the cookies (an impersonation ends with POST ' +
        '/v1/impersonation/stop first)',
      response: { 200: z.object({ signedOut: z.boolean().describe('false when there was no live session to end') }), ...problems }
    }
  }, async (request, reply) => {
    const principal = request.principal
    clearSessionCookies(reply, secureCookies(request, production))
    reply.removeHeader('www-authenticate')
    if (principal === null) return { signedOut: false }
    await revokeToken(runtime.identity, commandMetadata(request), principal.userId, principal.token.id, 'logout')
    return { signedOut: true }
  })
}
