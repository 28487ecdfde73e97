/**
 * Impersonation: start (or request, for a critical target), approve or deny
 * a break-glass request, start an approved one, stop, revoke, list; support
 * access per organization. Each route calls one use case
 * (src/application/impersonation/use-cases.ts); who may do what
 * (src/application/impersonation/access.ts and the session's decider):
 *
 * - start: holders of `impersonation:start` in the organization (for its
 *   members), or platform support staff when support access is on; at most
 *   20 requests a minute per person;
 * - approve: holders of `impersonation:approve`, or a platform admin for a
 *   support session; never the requester, never the target (the decider's
 *   rule, src/domain/impersonation/session.ts);
 * - deny: the same people, the target included; not the requester, who
 *   withdraws with stop;
 * - stop: the impersonator, with their own token or the session's
 *   (`POST /v1/impersonation/stop`);
 * - revoke: holders of `impersonation:revoke` (owners), or a platform admin;
 *   deny and revoke take the person's words as `reason` (`note`, its former
 *   name, is accepted for one release);
 * - list and read: holders of `impersonation:read`, platform admins, and the
 *   requester for their own session; each read is recorded
 *   (`audit.record.sensitive_read`);
 * - support access: owners (`impersonation:configure`); turning it off ends
 *   every support session in the organization.
 *
 * A start made with the dashboard's cookie puts the token in that cookie, not
 * the body (`enterByCookie`, src/http/routes/dashboard-session.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { PersonCaller } from '../../application/impersonation/access.ts'
import { setSupportAccess, supportAccessOf } from '../../application/impersonation/support-access.ts'
import {
  approveSession, denySession, listSessions, readSession, revokeSession, revokeSessions, startApprovedSession, startImpersonation,
  stopCurrentSession, stopSession
} from '../../application/impersonation/use-cases.ts'
import { Reason, Ticket } from '../../domain/impersonation/events.ts'
import { MAX_MINUTES } from '../../domain/impersonation/session.ts'
import type { Runtime } from '../../runtime.ts'
import { impersonationCursor } from '../../domain/cursor.ts'
import { commandMetadata, principalOf } from '../plugins/auth.ts'
import { cursorParam, pageLimit } from '../query.ts'
import { BEARER, Id, Position, Written, problems } from '../schemas.ts'
import { fixedWindowLimiter } from '../plugins/rate-limit.ts'
import { authorize } from '../tenancy.ts'
import { enterByCookie } from './dashboard-session.ts'

/** Impersonation requests per person per minute, per server. */
const START_REQUESTS_PER_MINUTE = 20

const OrgParams = z.object({ orgId: Id })
const SessionParams = z.object({ orgId: Id, sessionId: Id })

/**
 * Why a request is denied or a session revoked, in the person's words:
 * `reason`, as in the request and the CLI's `--reason`. `note` is the name
 * this field had before; it is accepted until the next release, never with
 * `reason`.
 */
const Why = z.object({
  reason: z.string().trim().max(500).optional().describe('why, in your words; kept with the event in the audit log'),
  note: z.string().trim().max(500).optional()
    .meta({ deprecated: true, description: 'deprecated: the former name of `reason`, accepted for one release' })
}).strict()
  .refine((body) => body.reason === undefined || body.note === undefined, { message: 'give reason only (note is its former name)' })
  .optional()
const reasonOf = (body: z.infer<typeof Why>): string | undefined => body?.reason ?? body?.note

const Started = z.object({
  sessionId: Id,
  status: z.enum(['active', 'pending']).describe('`pending`: a break-glass request waiting for a second approver'),
  token: z.string().nullable().describe('the impersonation token, shown once; null while pending, and for the dashboard\'s ' +
    'cookie session, which it replaces (src/http/routes/dashboard-session.ts)'),
  expiresAt: z.string().nullable(),
  position: Position
})

export const SessionView = z.object({
  sessionId: Id, orgId: Id, impersonatorId: Id, targetUserId: Id, via: z.string(), reason: z.string(), ticket: z.string().nullable(),
  critical: z.boolean(), breakGlass: z.boolean(), durationMinutes: z.number().int(),
  status: z.string().describe('denied, pending, approved, active, stopped, revoked or expired'),
  requestedAt: z.string(), approvedBy: z.string().nullable(), approvedAt: z.string().nullable(), startedAt: z.string().nullable(),
  expiresAt: z.string().nullable(), endedAt: z.string().nullable(), endedBy: z.string().nullable(), endReason: z.string().nullable(),
  actions: z.number().int(), blockedActions: z.number().int()
})

/**
 * The caller as the use cases take it (src/application/impersonation/access.ts):
 * the principal, in the path's organization, and their roles' say on the
 * route's declared action there.
 */
function callerOf (runtime: Runtime, request: FastifyRequest, orgId: string): PersonCaller {
  return { ...principalOf(request), kind: 'person', orgId, authorize: () => authorize(runtime, request, orgId) }
}

export async function impersonationRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()
  const services = runtime.impersonation
  const starts = fixedWindowLimiter(START_REQUESTS_PER_MINUTE, 60_000)

  api.post('/v1/orgs/:orgId/impersonations', {
    schema: {
      tags: ['impersonation'],
      summary: 'Starts impersonating a member (201 with the token), or asks a second approver first when the member is an owner ' +
        'or another critical account (202, break-glass: ticket required, at most 15 minutes)',
      security: BEARER, 'x-permission': 'impersonation:start', params: OrgParams,
      'x-authorizes-itself': 'holders of the action, or platform support staff where support access is on',
      body: z.object({
        targetUserId: Id,
        reason: Reason,
        ticket: Ticket.optional().describe('a support ticket reference; required to impersonate a critical account'),
        durationMinutes: z.number().int().min(1).max(MAX_MINUTES).optional()
          .describe('default 30 (15 for break-glass); at most 60 (15); never extended')
      }).strict(),
      response: { 201: Started, 202: Started, ...problems }
    }
  }, async (request, reply) => {
    const { orgId } = request.params
    const caller = callerOf(runtime, request, orgId)
    // Each request, refused or not, is an event: a person needs a few a minute, not a flood.
    const admitted = (): void => starts.hit(reply, [`user:${caller.userId}`])
    const started = await startImpersonation(services, commandMetadata(request, orgId), caller, request.body, admitted)
    return reply.code(started.status === 'active' ? 201 : 202).send(await enterByCookie(runtime, request, reply, started))
  })

  api.get('/v1/orgs/:orgId/impersonations', {
    schema: {
      tags: ['impersonation'], summary: 'Impersonation sessions of the organization, newest first: active, pending, ended, or all',
      security: BEARER, 'x-permission': 'impersonation:read', params: OrgParams,
      'x-authorizes-itself': 'holders of the action, or a platform admin',
      querystring: z.object({
        status: z.enum(['active', 'pending', 'ended', 'all']).default('all'),
        limit: pageLimit(200, 50),
        cursor: cursorParam.optional()
      }).strict(),
      response: { 200: z.object({ items: z.array(SessionView), nextCursor: z.string().nullable() }), ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    const { status, limit, cursor } = request.query
    const after = cursor === undefined ? undefined : impersonationCursor.decode(cursor)
    const { items, next } = await listSessions(services, commandMetadata(request, orgId), callerOf(runtime, request, orgId),
      { status, limit, ...(after === undefined ? {} : { after }) })
    return { items, nextCursor: next === undefined ? null : impersonationCursor.encode(next) }
  })

  api.get('/v1/orgs/:orgId/impersonations/:sessionId', {
    schema: {
      tags: ['impersonation'], summary: 'One session (its requester may read it too, e.g. to see whether it was approved)',
      security: BEARER, 'x-permission': 'impersonation:read', params: SessionParams, response: { 200: SessionView, ...problems },
      'x-authorizes-itself': 'holders of the action, a platform admin, or the session\'s requester'
    }
  }, async (request) => {
    const { orgId, sessionId } = request.params
    return readSession(services, commandMetadata(request, orgId), callerOf(runtime, request, orgId), sessionId)
  })

  api.post('/v1/orgs/:orgId/impersonations/:sessionId/approve', {
    schema: {
      tags: ['impersonation'],
      summary: 'Approves a break-glass request (someone other than the requester; a platform admin may approve a support session)',
      security: BEARER, 'x-permission': 'impersonation:approve', params: SessionParams, response: { 200: Written, ...problems },
      'x-authorizes-itself': 'holders of the action, or a platform admin for a support session'
    }
  }, async (request) => {
    const { orgId, sessionId } = request.params
    return approveSession(services, commandMetadata(request, orgId), callerOf(runtime, request, orgId), sessionId)
  })

  api.post('/v1/orgs/:orgId/impersonations/:sessionId/deny', {
    schema: {
      tags: ['impersonation'], summary: 'Turns a break-glass request down',
      security: BEARER, 'x-permission': 'impersonation:approve', params: SessionParams,
      'x-authorizes-itself': 'holders of the action, or a platform admin for a support session',
      body: Why,
      response: { 200: Written, ...problems }
    }
  }, async (request) => {
    const { orgId, sessionId } = request.params
    return denySession(services, commandMetadata(request, orgId), callerOf(runtime, request, orgId), sessionId, reasonOf(request.body))
  })

  api.post('/v1/orgs/:orgId/impersonations/:sessionId/start', {
    schema: {
      tags: ['impersonation'], summary: 'The requester starts an approved break-glass session; the token is in this response only',
      security: BEARER, 'x-permission': 'impersonation:start', params: SessionParams, response: { 201: Started, ...problems },
      'x-authorizes-itself': 'holders of the action, or platform support staff where support access is on'
    }
  }, async (request, reply) => {
    const { orgId, sessionId } = request.params
    const started = await startApprovedSession(services, commandMetadata(request, orgId), callerOf(runtime, request, orgId), sessionId)
    return reply.code(201).send(await enterByCookie(runtime, request, reply, started))
  })

  api.post('/v1/orgs/:orgId/impersonations/:sessionId/stop', {
    schema: {
      tags: ['impersonation'], summary: 'The impersonator ends their session (or withdraws their request)', security: BEARER,
      'x-permission': 'impersonation:start', params: SessionParams, response: { 200: Written, ...problems },
      'x-authorizes-itself': 'the impersonator stops their own session; anyone else is refused, after the action is checked'
    }
  }, async (request) => {
    const { orgId, sessionId } = request.params
    return stopSession(services, commandMetadata(request, orgId), callerOf(runtime, request, orgId), sessionId)
  })

  api.post('/v1/orgs/:orgId/impersonations/:sessionId/revoke', {
    schema: {
      tags: ['impersonation'], summary: 'Ends someone\'s session now (owners, holders of impersonation:revoke, platform admins)',
      security: BEARER, 'x-permission': 'impersonation:revoke', params: SessionParams,
      'x-authorizes-itself': 'holders of the action, or a platform admin',
      body: Why,
      response: { 200: Written, ...problems }
    }
  }, async (request) => {
    const { orgId, sessionId } = request.params
    return revokeSession(services, commandMetadata(request, orgId), callerOf(runtime, request, orgId), sessionId, reasonOf(request.body))
  })

  api.post('/v1/orgs/:orgId/impersonations/revoke-all', {
    schema: {
      tags: ['impersonation'],
      summary: 'Ends every open session in the organization (owners, holders of impersonation:revoke, platform admins)',
      security: BEARER, 'x-permission': 'impersonation:revoke', params: OrgParams,
      'x-authorizes-itself': 'holders of the action, or a platform admin',
      body: Why,
      response: { 200: z.object({ revoked: z.array(Id), position: Position }), ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    return revokeSessions(services, commandMetadata(request, orgId), callerOf(runtime, request, orgId), reasonOf(request.body))
  })

  api.get('/v1/orgs/:orgId/support-access', {
    schema: {
      tags: ['impersonation'], summary: 'Whether platform support may impersonate members of the organization',
      security: BEARER, 'x-permission': 'org:read',
      params: OrgParams, response: { 200: z.object({ enabled: z.boolean() }), ...problems }
    }
  }, async (request) => {
    return supportAccessOf(services, request.params.orgId)
  })

  api.put('/v1/orgs/:orgId/support-access', {
    schema: {
      tags: ['impersonation'],
      summary: 'Turns support impersonation on or off (owners); off ends every support session in the organization at once',
      security: BEARER, 'x-permission': 'impersonation:configure', params: OrgParams, body: z.object({ enabled: z.boolean() }).strict(),
      response: { 200: z.object({ position: Position, revoked: z.array(Id) }), ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    return setSupportAccess(services, commandMetadata(request, orgId), orgId, request.body.enabled)
  })

  api.post('/v1/impersonation/stop', {
    schema: {
      tags: ['impersonation'], summary: 'Ends the impersonation this request is made with (the banner\'s "stop" button)', security: BEARER,
      response: { 200: Written, ...problems }
    }
  }, async (request) => {
    const { impersonation } = principalOf(request)
    return stopCurrentSession(services, commandMetadata(request, impersonation?.orgId), impersonation)
  })
}
