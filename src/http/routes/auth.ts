/**
 * Sign-up and password login (public, rate-limited) and logout. Login answers
 * a session token with an expiry; it is shown once.
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { createToken, login, registerUser, revokeToken } from '../../application/identity/commands.ts'
import { stopImpersonation } from '../../application/impersonation/commands.ts'
import { normalizeEmail } from '../../domain/identity/email.ts'
import type { Runtime } from '../../runtime.ts'
import { commandMetadata, principalOf } from '../plugins/auth.ts'
import { fixedWindowLimiter, type Limiter } from '../plugins/rate-limit.ts'
import { BEARER, DisplayName, Email, Id, Password, Position, Written, problems } from '../schemas.ts'

const Session = z.object({
  userId: Id,
  token: z.string().describe('bearer token; shown only in this response'),
  tokenId: z.string(),
  expiresAt: z.string().nullable(),
  position: Position
})

const loginLimiters = new WeakMap<Runtime, Limiter>()

/**
 * The one password-guessing budget per address and e-mail of a runtime, shared by
 * login, sign-up and the dashboard's sign-in (two limiters would double it).
 */
export function loginLimiter (runtime: Runtime): Limiter {
  let limiter = loginLimiters.get(runtime)
  if (limiter === undefined) {
    limiter = fixedWindowLimiter(runtime.config.loginRateLimitPerMinute, 60_000)
    loginLimiters.set(runtime, limiter)
  }
  return limiter
}

export async function publicAuthRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const limiter = loginLimiter(runtime)
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.post('/v1/auth/register', {
    schema: {
      tags: ['auth'],
      summary: 'Sign up: creates a user and answers a session token',
      body: z.object({ email: Email, password: Password, displayName: DisplayName }).strict(),
      response: { 201: Session, ...problems }
    }
  }, async (request, reply) => {
    limiter.hit(reply, [`ip:${request.clientIp}`, `email:${normalizeEmail(request.body.email)}`])
    const metadata = commandMetadata(request)
    const { userId } = await registerUser(runtime.identity, metadata, request.body)
    const session = await createToken(runtime.identity,
      { ...metadata, commandId: crypto.randomUUID(), actor: { type: 'user', id: userId } }, userId,
      { name: 'sign-up', kind: 'session', expiresAt: new Date(metadata.now.getTime() + runtime.identity.sessionTtlMs) })
    return reply.code(201).send({
      userId, token: session.token, tokenId: session.tokenId, expiresAt: session.expiresAt, position: session.position
    })
  })

  api.post('/v1/auth/login', {
    schema: {
      tags: ['auth'],
      summary: 'Password login: answers a session token',
      body: z.object({ email: Email, password: z.string().min(1).max(256) }).strict(),
      response: { 200: Session, ...problems }
    }
  }, async (request, reply) => {
    limiter.hit(reply, [`ip:${request.clientIp}`, `email:${normalizeEmail(request.body.email)}`])
    const session = await login(runtime.identity, commandMetadata(request), request.body)
    return {
      userId: session.userId, token: session.token, tokenId: session.tokenId, expiresAt: session.expiresAt, position: session.position
    }
  })
}

export async function authRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().post('/v1/auth/logout', {
    schema: {
      tags: ['auth'], summary: 'Revokes the token this request was made with', security: BEARER, response: { 200: Written, ...problems }
    }
  }, async (request) => {
    const principal = principalOf(request)
    const session = principal.impersonation
    // Logging out of an impersonation ends it.
    if (session !== undefined) {
      return stopImpersonation(runtime.impersonation, commandMetadata(request, session.orgId), session.sessionId, session.impersonatorId)
    }
    return revokeToken(runtime.identity, commandMetadata(request), principal.userId, principal.token.id, 'logout')
  })
}
