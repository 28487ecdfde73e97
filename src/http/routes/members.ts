/**
 * Members of an organization: list (keyset pages), invite by e-mail (list,
 * revoke; accepting is src/http/routes/invitations.ts), remove, assign and
 * unassign roles. Nobody becomes a member without accepting an invitation.
 * Each route declares the catalogue action it authorizes through can()
 * (`x-permission`); anyone may leave without it. Only owners touch the owner
 * role or an owner, and the last owner stays: both are the organization
 * aggregate's rules, checked against its latest state.
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { assignRole, changeOrganization, unassignRole } from '../../application/identity/commands.ts'
import { createInvitation, invitationServices, listInvitations, revokeInvitation } from '../../application/identity/invitations.ts'
import { MemberAddNeedsInvitation } from '../../domain/identity/errors.ts'
import { INVITATION_STATUSES } from '../../projections/identity/invitation-queries.ts'
import { membersPage } from '../../projections/identity/queries.ts'
import { RoleId } from '../../domain/rbac/events.ts'
import type { Runtime } from '../../runtime.ts'
import { invitationCursor, memberCursor } from '../../domain/cursor.ts'
import { commandMetadata, principalOf } from '../plugins/auth.ts'
import { cursorParam, pageLimit } from '../query.ts'
import { BEARER, Email, Id, Position, Role, Roles, Written, problems } from '../schemas.ts'
import { authorize, membershipOf } from '../tenancy.ts'

const OrgParams = z.object({ orgId: Id })
const MemberParams = z.object({ orgId: Id, userId: Id })
const RoleParams = z.object({ orgId: Id, userId: Id, role: z.union([Role, RoleId]).describe('a built-in role or a custom role id') })

const InvitationCreated = z.object({
  inviteId: Id, email: z.string(), roles: z.array(z.string()), status: z.literal('pending'), expiresAt: z.string(),
  token: z.string().describe('shown only in this response: send it to the invitee (a link to your page that accepts it); never stored, ' +
    'never in an event'),
  position: Position
})
const InvitationView = z.object({
  inviteId: Id, email: z.string(), roles: z.array(z.string()), status: z.enum(INVITATION_STATUSES), invitedBy: z.string(),
  createdAt: z.string(), expiresAt: z.string(),
  endedAt: z.string().nullable().describe('when it was accepted, revoked or recorded as expired'),
  endedBy: z.string().nullable().describe('the member who accepted, or who revoked it'),
  reason: z.string().nullable()
})

/** Invitations, newest first: the last one's creation time and id. */

const MemberView = z.object({ userId: Id, email: z.string(), displayName: z.string(), status: z.string(), roles: z.array(z.string()),
  joinedAt: z.string() })

export async function memberRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get('/v1/orgs/:orgId/members', {
    schema: {
      tags: ['members'], summary: 'Members, a page at a time (ordered by user id)', security: BEARER, 'x-permission': 'member:read',
      params: OrgParams,
      querystring: z.object({ limit: pageLimit(200, 50), cursor: cursorParam.optional() }).strict(),
      response: { 200: z.object({ items: z.array(MemberView), nextCursor: z.string().nullable() }), ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    const { limit, cursor } = request.query
    const after = cursor === undefined ? undefined : memberCursor.decode(cursor).userId
    const items = await membersPage(runtime.sql, orgId, limit + 1, after)
    const more = items.length > limit
    const page = more ? items.slice(0, limit) : items
    return { items: page, nextCursor: more ? memberCursor.encode({ userId: page.at(-1)!.userId }) : null }
  })

  // Adding someone without their consent is gone (issue 13.6): the route invites, like POST …/invitations, and says so.
  api.post('/v1/orgs/:orgId/members', {
    schema: {
      tags: ['members'],
      summary: 'Invites an e-mail address (members join by accepting an invitation; adding by user id is gone): the same as POST ' +
        '…/invitations',
      security: BEARER, 'x-permission': 'member:invite', params: OrgParams,
      body: z.object({ userId: Id.optional(), email: Email.optional(), roles: Roles }).strict(),
      response: { 202: InvitationCreated, ...problems }
    }
  }, async (request, reply) => {
    const { orgId } = request.params
    const { userId, email, roles } = request.body
    if (userId !== undefined || email === undefined) throw new MemberAddNeedsInvitation()
    const created = await createInvitation(invitationServices(runtime), commandMetadata(request, orgId), orgId, { email, roles })
    return reply.code(202).header('link', `</v1/orgs/${orgId}/invitations>; rel="successor-version"`).send(created)
  })

  api.post('/v1/orgs/:orgId/invitations', {
    schema: {
      tags: ['members'],
      summary: 'Invites an e-mail address with roles (with the owner role: owners only); answers the token once, for you to send. The ' +
        'same answer whether the address has an account or not',
      security: BEARER, 'x-permission': 'member:invite', params: OrgParams,
      body: z.object({ email: Email, roles: Roles }).strict(),
      response: { 201: InvitationCreated, ...problems }
    }
  }, async (request, reply) => {
    const { orgId } = request.params
    return reply.code(201).send(await createInvitation(invitationServices(runtime), commandMetadata(request, orgId), orgId, request.body))
  })

  api.get('/v1/orgs/:orgId/invitations', {
    schema: {
      tags: ['members'], summary: 'Invitations, newest first, a page at a time; a pending one past its expiry reads as expired',
      security: BEARER, 'x-permission': 'member:read',
      params: OrgParams,
      querystring: z.object({
        status: z.enum(INVITATION_STATUSES).optional(),
        limit: pageLimit(200, 50),
        cursor: cursorParam.optional()
      }).strict(),
      response: { 200: z.object({ items: z.array(InvitationView), nextCursor: z.string().nullable() }), ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    const { status, limit, cursor } = request.query
    const after = cursor === undefined ? undefined : invitationCursor.decode(cursor)
    const items = await listInvitations(invitationServices(runtime), orgId,
      { limit: limit + 1, now: new Date(), ...(status === undefined ? {} : { status }), ...(after === undefined ? {} : { after }) })
    const more = items.length > limit
    const page = more ? items.slice(0, limit) : items
    return { items: page, nextCursor: more ? invitationCursor.encode({ createdAt: page.at(-1)!.createdAt,
      inviteId: page.at(-1)!.inviteId }) : null }
  })

  api.delete('/v1/orgs/:orgId/invitations/:inviteId', {
    schema: {
      tags: ['members'], summary: 'Revokes a pending invitation: its token stops working', security: BEARER,
      'x-permission': 'member:invite',
      params: z.object({ orgId: Id, inviteId: Id }), body: z.object({ reason: z.string().max(500).optional() }).strict().nullish(),
      response: { 200: Written, ...problems }
    }
  }, async (request) => {
    const { orgId, inviteId } = request.params
    return revokeInvitation(invitationServices(runtime), commandMetadata(request, orgId), orgId, inviteId, request.body?.reason)
  })

  api.delete('/v1/orgs/:orgId/members/:userId', {
    schema: {
      tags: ['members'], summary: 'Removes a member (an owner: owners only); anyone may remove themselves, to leave', security: BEARER,
      'x-permission': 'member:remove',
      'x-authorizes-itself': 'leaving takes membership alone: the action is checked only when the member removed is someone else',
      params: MemberParams, response: { 200: Written, ...problems }
    }
  }, async (request) => {
    const { orgId, userId } = request.params
    // Leaving takes membership only. Removing an owner takes an owner: the organization's aggregate checks it, against its latest state.
    if (userId === principalOf(request).userId) await membershipOf(runtime, request, orgId)
    else await authorize(runtime, request, orgId)
    return changeOrganization(runtime.identity, commandMetadata(request, orgId), orgId, { type: 'RemoveMember', data: { userId } })
  })

  api.put('/v1/orgs/:orgId/members/:userId/roles/:role', {
    schema: { tags: ['members'],
      summary: 'Assigns a built-in or custom role (the owner role: owners only; a custom role: only one whose actions you hold)',
      security: BEARER, 'x-permission': 'role:assign', params: RoleParams, response: { 200: Written, ...problems } }
  }, async (request) => {
    const { orgId, userId, role } = request.params
    return assignRole(runtime.identity, commandMetadata(request, orgId), orgId, userId, role)
  })

  api.delete('/v1/orgs/:orgId/members/:userId/roles/:role', {
    schema: { tags: ['members'], summary: 'Unassigns a built-in or custom role (the owner role: owners only)', security: BEARER,
      'x-permission': 'role:unassign', params: RoleParams, response: { 200: Written, ...problems } }
  }, async (request) => {
    const { orgId, userId, role } = request.params
    return unassignRole(runtime.identity, commandMetadata(request, orgId), orgId, userId, role)
  })
}
