/**
 * The caller's session, their security log and their own tokens. During an
 * impersonation, `GET /v1/session` says so (who, why, since when, until
 * when) for the banner a UI must show, and lists only the session's
 * organization.
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { changePassword, createToken, revokeToken } from '../../application/identity/commands.ts'
import { securityLog } from '../../projections/audit/security-log.ts'
import { tokensOf } from '../../projections/identity/queries.ts'
import type { Runtime } from '../../runtime.ts'
import { securityLogCursor } from '../../domain/cursor.ts'
import { commandMetadata, principalOf } from '../plugins/auth.ts'
import { cursorParam, pageLimit } from '../query.ts'
import { BEARER, DisplayName, Id, Password, Position, Written, problems } from '../schemas.ts'

const SessionView = z.object({
  user: z.object({ userId: Id, email: z.string(), displayName: z.string(), platformAdmin: z.boolean(), platformSupport: z.boolean() }),
  token: z.object({ id: z.string(), kind: z.enum(['api', 'session', 'impersonation']), expiresAt: z.string().nullable() }),
  memberships: z.array(z.object({ orgId: Id, name: z.string(), plan: z.string(), roles: z.array(z.string()) })),
  impersonation: z.object({
    sessionId: Id,
    orgId: Id,
    impersonator: z.object({ userId: Id, email: z.string().nullable(), displayName: z.string().nullable() }),
    via: z.enum(['support', 'member']),
    reason: z.string(),
    ticket: z.string().nullable(),
    breakGlass: z.boolean(),
    startedAt: z.string(),
    expiresAt: z.string()
  }).nullable().describe('the impersonation this request is made in: show a banner for as long as it is not null'),
  act: z.object({ sub: Id }).nullable()
    .describe('RFC 8693 actor: who really acts for the user (the impersonator), null when the user acts themselves')
})

const SecurityLogEntry = z.object({
  id: z.string(), seq: z.number().int(), occurredAt: z.string(), action: z.string(), orgId: z.string().nullable(), actor: z.string(),
  impersonatorId: z.string().nullable(), ip: z.string().nullable(), userAgent: z.string().nullable(),
  details: z.record(z.string(), z.unknown())
})

const TokenView = z.object({
  tokenId: z.string(), kind: z.string(), name: z.string(), prefix: z.string(),
  createdAt: z.string(), expiresAt: z.string().nullable(), revokedAt: z.string().nullable()
})

export async function sessionRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get('/v1/session', {
    schema: {
      tags: ['session'], summary: 'Who is calling: user, token, memberships, impersonation', security: BEARER,
      response: { 200: SessionView, ...problems }
    }
  }, async (request) => {
    const principal = principalOf(request)
    const session = principal.impersonation
    const all = await runtime.identity.directory.membershipsOf(principal.userId, request.consistentWith)
    const memberships = session === undefined ? all : all.filter((membership) => membership.orgId === session.orgId)
    const impersonator = session === undefined ? undefined : await runtime.identity.directory.userOf(session.impersonatorId)
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
      act: session === undefined ? null : { sub: session.impersonatorId },
      impersonation: session === undefined
        ? null
        : {
            sessionId: session.sessionId,
            orgId: session.orgId,
            impersonator: {
              userId: session.impersonatorId, email: impersonator?.email ?? null, displayName: impersonator?.displayName ?? null
            },
            via: session.via,
            reason: session.reason,
            ticket: session.ticket,
            breakGlass: session.breakGlass,
            startedAt: session.startedAt,
            expiresAt: session.expiresAt
          }
    }
  })

  api.get('/v1/me/security-log', {
    schema: {
      tags: ['session'],
      summary: 'What happened to your account, newest first: sign-ins, failed sign-ins, new addresses, password and status changes, ' +
        'impersonations of you',
      security: BEARER,
      querystring: z.object({ limit: pageLimit(200, 50), cursor: cursorParam.optional() }).strict(),
      response: { 200: z.object({ items: z.array(SecurityLogEntry), nextCursor: z.string().nullable() }), ...problems }
    }
  }, async (request) => {
    const { limit, cursor } = request.query
    const after = cursor === undefined ? undefined : securityLogCursor.decode(cursor)
    const items = await securityLog(runtime.sql, principalOf(request).userId,
      { limit: limit + 1, ...(after === undefined ? {} : { after }) })
    const page = items.slice(0, limit)
    const last = page.at(-1)
    return {
      items: page,
      nextCursor: items.length > limit && last !== undefined
        ? securityLogCursor.encode({ occurredAt: last.occurredAt, seq: String(last.seq), id: last.id })
        : null
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
    return changePassword(runtime.identity, commandMetadata(request), principal.userId,
      { ...request.body, keepTokenId: principal.token.id })
  })

  api.get('/v1/tokens', {
    schema: {
      tags: ['tokens'], summary: 'Your API and session tokens (never the secrets)', security: BEARER,
      response: { 200: z.object({ items: z.array(TokenView) }), ...problems }
    }
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
      response: {
        201: z.object({ token: z.string(), tokenId: z.string(), prefix: z.string(), expiresAt: z.string().nullable(), position: Position }),
        ...problems
      }
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
    schema: {
      tags: ['tokens'], summary: 'Revokes one of your tokens', security: BEARER, params: z.object({ tokenId: Id }),
      response: { 200: Written, ...problems }
    }
  }, async (request) => revokeToken(runtime.identity, commandMetadata(request), principalOf(request).userId, request.params.tokenId))
}
