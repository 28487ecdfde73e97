/**
 * Organizations: create (the caller becomes owner), list yours, read, rename
 * and settings (owners and admins), plan (owners).
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { changePlan } from '../../application/billing/plan.ts'
import { createOrganization, updateOrganization } from '../../application/identity/commands.ts'
import { OrgNotFound } from '../../domain/identity/errors.ts'
import { organization } from '../../projections/identity/queries.ts'
import type { Runtime } from '../../runtime.ts'
import { commandMetadata, principalOf } from '../plugins/auth.ts'
import { authorizedMembership } from '../plugins/authorization.ts'
import { orgCursor } from '../../domain/cursor.ts'
import { cursorParam, pageLimit } from '../query.ts'
import { BEARER, DisplayName, Id, Plan, Position, Written, problems } from '../schemas.ts'

const OrgParams = z.object({ orgId: Id })
const SettingValue = z.union([z.string().max(1000), z.number(), z.boolean(), z.null()])
const Settings = z.record(z.string().min(1).max(100), SettingValue)
  .refine((settings) => Object.keys(settings).length <= 100, 'at most 100 settings per change')

const OrganizationView = z.object({
  orgId: Id, name: z.string(), plan: Plan, settings: z.record(z.string(), z.unknown()),
  memberCount: z.number().int(), createdAt: z.string(), updatedAt: z.string(),
  roles: z.array(z.string()).describe('your roles in this organization')
})

const MembershipItem = z.object({
  orgId: Id, name: z.string(), plan: Plan, roles: z.array(z.string()).describe('your roles in this organization')
})

/** Your organizations, by id. */

export async function organizationRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.post('/v1/orgs', {
    schema: {
      tags: ['organizations'], summary: 'Creates an organization owned by the caller', security: BEARER,
      body: z.object({ name: DisplayName, plan: Plan.optional() }).strict(),
      response: { 201: z.object({ orgId: Id, position: Position }), ...problems }
    }
  }, async (request, reply) => {
    const created = await createOrganization(runtime.identity, commandMetadata(request), principalOf(request).userId, request.body)
    return reply.code(201).send(created)
  })

  api.get('/v1/orgs', {
    schema: {
      tags: ['organizations'],
      summary: 'Your organizations, a page at a time (ordered by id), with your roles in each; ' +
        'while impersonating, only the session\'s organization',
      security: BEARER,
      querystring: z.object({ limit: pageLimit(200, 50), cursor: cursorParam.optional() }).strict(),
      response: { 200: z.object({ items: z.array(MembershipItem), nextCursor: z.string().nullable() }), ...problems }
    }
  }, async (request) => {
    const { limit, cursor } = request.query
    const after = cursor === undefined ? undefined : orgCursor.decode(cursor).orgId
    const principal = principalOf(request)
    const session = principal.impersonation
    // The directory's memberships honour X-Consistent-With (a new organization of yours is listed once it is visible).
    const all = await runtime.identity.directory.membershipsOf(principal.userId, request.consistentWith)
    const mine = all
      .filter((membership) =>
        (session === undefined || membership.orgId === session.orgId) && (after === undefined || membership.orgId > after))
      .sort((a, b) => (a.orgId < b.orgId ? -1 : a.orgId > b.orgId ? 1 : 0))
    const page = mine.slice(0, limit).map(({ orgId, name, plan, roles }) => ({ orgId, name, plan: plan as z.infer<typeof Plan>, roles }))
    return { items: page, nextCursor: mine.length > limit ? orgCursor.encode({ orgId: page.at(-1)!.orgId }) : null }
  })

  api.get('/v1/orgs/:orgId', {
    schema: {
      tags: ['organizations'], summary: 'An organization you are a member of', security: BEARER, 'x-permission': 'org:read',
      params: OrgParams, response: { 200: OrganizationView, ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    const membership = authorizedMembership(request)
    const view = await organization(runtime.sql, orgId)
    if (view === undefined) throw new OrgNotFound()
    return { ...view, plan: view.plan as z.infer<typeof Plan>, roles: membership.roles }
  })

  api.patch('/v1/orgs/:orgId', {
    schema: {
      tags: ['organizations'], summary: 'Renames the organization and/or changes settings (org:update)', security: BEARER,
      'x-permission': 'org:update', params: OrgParams,
      body: z.object({ name: DisplayName.optional(), settings: Settings.optional() }).strict()
        .refine((body) => body.name !== undefined || body.settings !== undefined, 'give name, settings or both'),
      response: { 200: Written, ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    return updateOrganization(runtime.identity, commandMetadata(request, orgId), orgId, request.body)
  })

  api.put('/v1/orgs/:orgId/plan', {
    schema: {
      tags: ['organizations'],
      summary: 'Changes the plan (billing:update, owners only); with Stripe configured, through the organization\'s subscription first',
      security: BEARER, 'x-permission': 'billing:update', params: OrgParams,
      body: z.object({ plan: Plan }).strict(), response: { 200: Written, ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    // The function the billing.plan.change tool calls; without Stripe configured it records the plan alone, as it always did.
    const { position } = await changePlan(runtime.identity, runtime.billing, commandMetadata(request, orgId), orgId, request.body.plan)
    return { position }
  })
}
