/**
 * The caller's session and their own tokens. `impersonation` is null until
 * the impersonation pack fills it; a UI can already reserve its banner.
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { changePassword, createToken, revokeToken } from '../../application/identity/commands.ts'
import { tokensOf } from '../../projections/identity/queries.ts'
import type { Runtime } from '../../runtime.ts'
import { commandMetadata, principalOf } from '../plugins/auth.ts'
import { BEARER, DisplayName, Id, Password, Position, Written, problems } from '../schemas.ts'

const SessionView = z.object({
  user: z.object({ userId: Id, email: z.string(), displayName: z.string(), platformAdmin: z.boolean(), platformSupport: z.boolean() }),
  token: z.object({ id: z.string(), kind: z.enum(['api', 'session']), expiresAt: z.string().nullable() }),
  memberships: z.array(z.object({ orgId: Id, name: z.string(), plan: z.string(), roles: z.array(z.string()) })),
  impersonation: z.null().describe('the impersonation in progress, if any (filled by the impersonation pack)')
})

const TokenView = z.object({
  tokenId: z.string(), kind: z.string(), name: z.string(), prefix: z.string(),
  createdAt: z.string(), expiresAt: z.string().nullable(), revokedAt: z.string().nullable()
})

export async function sessionRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get('/v1/session', {
    schema: { tags: ['session'], summary: 'Who is calling: user, token, memberships, impersonation', security: BEARER, response: { 200: SessionView, ...problems } }
  }, async (request) => {
    const principal = principalOf(request)
    const memberships = await runtime.identity.directory.membershipsOf(principal.userId, request.consistentWith)
    return {
      user: {
        userId: principal.userId,
        email: principal.email,
        displayName: principal.displayName,
        platformAdmin: principal.platformAdmin,
        platformSupport: principal.platformSupport
      },
      token: { id: principal.token.id, kind: principal.token.kind, expiresAt: principal.token.expiresAt ?? null },
      memberships,
      impersonation: null
    }
  })

  api.put('/v1/me/password', {
    schema: {
      tags: ['session'],
      summary: 'Sets your password (the current one is required when you have one); your other sessions are revoked',
      security: BEARER,
      body: z.object({ currentPassword: z.string().max(256).optional(), newPassword: Password }).strict(),
      response: { 200: z.object({ position: Position, sessionsRevoked: z.number().int() }), ...problems }
    }
  }, async (request) => {
    const principal = principalOf(request)
    return changePassword(runtime.identity, commandMetadata(request), principal.userId, { ...request.body, keepTokenId: principal.token.id })
  })

  api.get('/v1/tokens', {
    schema: { tags: ['tokens'], summary: 'Your API and session tokens (never the secrets)', security: BEARER, response: { 200: z.object({ items: z.array(TokenView) }), ...problems } }
  }, async (request) => ({ items: await tokensOf(runtime.sql, principalOf(request).userId) }))

  api.post('/v1/tokens', {
    schema: {
      tags: ['tokens'],
      summary: 'Creates an API token; the token is in this response only',
      security: BEARER,
      body: z.object({
        name: DisplayName,
        expiresInDays: z.number().int().min(1).max(3650).optional().describe('omit for a token that does not expire')
      }).strict(),
      response: { 201: z.object({ token: z.string(), tokenId: z.string(), prefix: z.string(), expiresAt: z.string().nullable(), position: Position }), ...problems }
    }
  }, async (request, reply) => {
    const metadata = commandMetadata(request)
    const { expiresInDays } = request.body
    const created = await createToken(runtime.identity, metadata, principalOf(request).userId, {
      name: request.body.name,
      kind: 'api',
      ...(expiresInDays === undefined ? {} : { expiresAt: new Date(metadata.now.getTime() + expiresInDays * 86_400_000) })
    })
    return reply.code(201).send(created)
  })

  api.delete('/v1/tokens/:tokenId', {
    schema: { tags: ['tokens'], summary: 'Revokes one of your tokens', security: BEARER, params: z.object({ tokenId: Id }), response: { 200: Written, ...problems } }
  }, async (request) => revokeToken(runtime.identity, commandMetadata(request), principalOf(request).userId, request.params.tokenId))
}
