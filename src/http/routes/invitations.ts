/**
 * Accepting an invitation: `POST /v1/invitations/:token/accept`. Signed in
 * (a bearer token, or the dashboard's session cookie under its CSRF checks),
 * the caller accepts as themselves, and their address must be the invited
 * one. Signed out, `{ displayName, password }` creates the account with the
 * invited address, accepts, and answers a session token (rate-limited like
 * sign-up). An impersonation token is refused, as everywhere outside the
 * session's organization.
 *
 * The route sits outside the authenticated scope, so it runs the
 * authentication hook itself, only when a bearer token or a session cookie
 * is sent. A cookie whose session has ended counts as signed out (a browser
 * may still hold one when its user creates a new account); a bearer token
 * that is not valid is refused.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { acceptInvitation, invitationServices, registerAndAccept } from '../../application/identity/invitations.ts'
import { InvalidInput } from '../../domain/errors.ts'
import { Unauthenticated } from '../../domain/identity/errors.ts'
import type { Runtime } from '../../runtime.ts'
import { authenticator, commandMetadata } from '../plugins/auth.ts'
import { fixedWindowLimiter } from '../plugins/rate-limit.ts'
import { cookieValue, SESSION_COOKIE } from '../plugins/session-cookie.ts'
import { BEARER, DisplayName, Id, Password, Position, problems } from '../schemas.ts'

const Accepted = z.object({ orgId: Id, userId: Id, roles: z.array(z.string()), position: Position })
const Registered = Accepted.extend({
  token: z.string().describe('session token of the new account; shown only in this response'),
  tokenId: z.string(),
  expiresAt: z.string().nullable()
})

export async function invitationRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const authenticate = authenticator(runtime)
  const limiter = fixedWindowLimiter(runtime.config.loginRateLimitPerMinute, 60_000)
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.post('/v1/invitations/:token/accept', {
    onRequest (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) {
      if (request.headers.authorization !== undefined) return authenticate(request, reply, done)
      if (cookieValue(request, SESSION_COOKIE) === undefined) return done()
      authenticate(request, reply, (error) => {
        if (!(error instanceof Unauthenticated)) return done(error)
        reply.removeHeader('www-authenticate')
        done()
      })
    },
    schema: {
      tags: ['members'],
      summary: 'Accepts an invitation: signed in with the invited address, or, without a bearer token, ' +
        'creating that account with { displayName, password }',
      // Either signed in, or not at all.
      security: [{}, ...BEARER],
      params: z.object({ token: z.string().min(1).max(200) }),
      body: z.object({ displayName: DisplayName, password: Password }).strict().nullish(),
      response: { 200: Accepted, 201: Registered, ...problems }
    }
  }, async (request, reply) => {
    const { token } = request.params
    const services = invitationServices(runtime)
    if (request.principal !== null) {
      if (request.body != null) {
        throw new InvalidInput([{ path: '', message: 'signed in, send no body: displayName and password are for a new account' }])
      }
      return acceptInvitation(services, commandMetadata(request), token, request.principal.userId)
    }
    if (request.body == null) {
      throw new Unauthenticated('sign in with the invited address, or send { displayName, password } to create that account')
    }
    limiter.hit(reply, [`ip:${request.clientIp}`])
    const { session, ...accepted } = await registerAndAccept(services, commandMetadata(request), token, request.body)
    return reply.code(201).send({
      ...accepted, token: session.token, tokenId: session.tokenId, expiresAt: session.expiresAt, position: session.position
    })
  })
}
