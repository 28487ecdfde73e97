/**
 * Members of an organization: list (keyset pages), add an existing user,
 * invite by e-mail, remove, assign and unassign roles. Each route declares
 * the catalogue action it authorizes through can() (`x-permission`); anyone
 * may leave without it. Only owners touch the owner role or an owner, and
 * the last owner stays: both are the organization aggregate's rules, checked
 * against its latest state.
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { addMember, assignRole, changeOrganization, inviteMember, unassignRole } from '../../application/identity/commands.ts'
import { membersPage } from '../../projections/identity/queries.ts'
import { RoleId } from '../../domain/rbac/events.ts'
import type { Runtime } from '../../runtime.ts'
import { memberCursor } from '../cursor.ts'
import { commandMetadata, principalOf } from '../plugins/auth.ts'
import { cursorParam, pageLimit } from '../query.ts'
import { BEARER, Email, Id, Position, Role, Roles, Written, problems } from '../schemas.ts'
import { authorize, membershipOf } from '../tenancy.ts'

const OrgParams = z.object({ orgId: Id })
const MemberParams = z.object({ orgId: Id, userId: Id })
const RoleParams = z.object({ orgId: Id, userId: Id, role: z.union([Role, RoleId]).describe('a built-in role or a custom role id') })

const MemberView = z.object({ userId: Id, email: z.string(), displayName: z.string(), status: z.string(), roles: z.array(z.string()), joinedAt: z.string() })

export async function memberRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get('/v1/orgs/:orgId/members', {
    schema: {
      tags: ['members'], summary: 'Members, a page at a time (ordered by user id)', security: BEARER, 'x-permission': 'member:read', params: OrgParams,
      querystring: z.object({ limit: pageLimit(200, 50), cursor: cursorParam.optional() }).strict(),
      response: { 200: z.object({ items: z.array(MemberView), nextCursor: z.string().nullable() }), ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    const { limit, cursor } = request.query
    const after = cursor === undefined ? undefined : memberCursor.decode(cursor).userId
    await authorize(runtime, request, orgId)
    const items = await membersPage(runtime.sql, orgId, limit + 1, after)
    const more = items.length > limit
    const page = more ? items.slice(0, limit) : items
    return { items: page, nextCursor: more ? memberCursor.encode({ userId: page.at(-1)!.userId }) : null }
  })

  api.post('/v1/orgs/:orgId/members', {
    schema: {
      tags: ['members'], summary: 'Adds an existing user, by id or e-mail address (with the owner role: owners only)', security: BEARER, 'x-permission': 'member:add', params: OrgParams,
      body: z.object({ userId: Id.optional(), email: Email.optional(), roles: Roles }).strict()
        .refine((body) => (body.userId === undefined) !== (body.email === undefined), 'give exactly one of userId and email'),
      response: { 201: z.object({ userId: Id, position: Position }), ...problems }
    }
  }, async (request, reply) => {
    const { orgId } = request.params
    await authorize(runtime, request, orgId)
    const added = await addMember(runtime.identity, commandMetadata(request, orgId), orgId, request.body)
    return reply.code(201).send(added)
  })

  api.post('/v1/orgs/:orgId/invitations', {
    schema: {
      tags: ['members'], summary: 'Invites an e-mail address with roles (with the owner role: owners only)', security: BEARER, 'x-permission': 'member:invite', params: OrgParams,
      body: z.object({ email: Email, roles: Roles }).strict(),
      response: { 201: z.object({ inviteId: Id, position: Position }), ...problems }
    }
  }, async (request, reply) => {
    const { orgId } = request.params
    await authorize(runtime, request, orgId)
    return reply.code(201).send(await inviteMember(runtime.identity, commandMetadata(request, orgId), orgId, request.body))
  })

  api.delete('/v1/orgs/:orgId/members/:userId', {
    schema: { tags: ['members'], summary: 'Removes a member (an owner: owners only); anyone may remove themselves, to leave', security: BEARER, 'x-permission': 'member:remove', params: MemberParams, response: { 200: Written, ...problems } }
  }, async (request) => {
    const { orgId, userId } = request.params
    // Leaving takes membership only. Removing an owner takes an owner: the organization's aggregate checks it, against its latest state.
    if (userId === principalOf(request).userId) await membershipOf(runtime, request, orgId)
    else await authorize(runtime, request, orgId)
    return changeOrganization(runtime.identity, commandMetadata(request, orgId), orgId, { type: 'RemoveMember', data: { userId } })
  })

  api.put('/v1/orgs/:orgId/members/:userId/roles/:role', {
    schema: { tags: ['members'], summary: 'Assigns a built-in or custom role (the owner role: owners only; a custom role: only one whose actions you hold)', security: BEARER, 'x-permission': 'role:assign', params: RoleParams, response: { 200: Written, ...problems } }
  }, async (request) => {
    const { orgId, userId, role } = request.params
    await authorize(runtime, request, orgId)
    return assignRole(runtime.identity, commandMetadata(request, orgId), orgId, userId, role)
  })

  api.delete('/v1/orgs/:orgId/members/:userId/roles/:role', {
    schema: { tags: ['members'], summary: 'Unassigns a built-in or custom role (the owner role: owners only)', security: BEARER, 'x-permission': 'role:unassign', params: RoleParams, response: { 200: Written, ...problems } }
  }, async (request) => {
    const { orgId, userId, role } = request.params
    await authorize(runtime, request, orgId)
    return unassignRole(runtime.identity, commandMetadata(request, orgId), orgId, userId, role)
  })
}
