/**
 * Custom roles of an organization: list (with the built-in ones), create,
 * rename and describe, set grants, delete. Conditions are validated with
 * clear `rbac.invalid_condition` errors; escalation and deletion while in use
 * are the aggregate's refusals (`rbac.escalation`, `rbac.role_in_use`).
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { changeOrganization, createRole, updateRole } from '../../application/identity/commands.ts'
import { testPolicy } from '../../application/rbac/cases.ts'
import { PolicyCases } from '../../domain/rbac/cases.ts'
import { GrantsInput as Grants, parseGrants as grants, RoleId } from '../../domain/rbac/events.ts'
import { ACTION_NAME } from '../../domain/rbac/permissions.ts'
import { holdersOf } from '../../projections/rbac/queries.ts'
import type { Runtime } from '../../runtime.ts'
import { commandMetadata } from '../plugins/auth.ts'
import { roleListBody } from '../role-list.ts'
import { BEARER, Id, Position, Written, problems } from '../schemas.ts'


const OrgParams = z.object({ orgId: Id })
const RoleParams = z.object({ orgId: Id, roleId: RoleId })
const GrantView = z.object({ actions: z.array(z.string()), resource: z.string(), effect: z.enum(['allow', 'deny']),
  when: z.unknown().optional() })
const RoleView = z.object({ roleId: z.string(), name: z.string(), description: z.string(), builtIn: z.boolean(), grants: z.array(GrantView),
  holders: z.array(z.string()).optional() })

export async function roleRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get('/v1/orgs/:orgId/roles', {
    schema: { tags: ['roles'], summary: 'Built-in and custom roles, with their grants and holders (role:read)', security: BEARER,
      'x-permission': 'role:read', params: OrgParams, response: { 200: z.object({ items: z.array(RoleView) }), ...problems } }
  }, async (request, reply) => {
    const { orgId } = request.params
    // Serialized once per organization state (src/http/role-list.ts): thousands of roles and holders are not rebuilt per request.
    return reply.type('application/json; charset=utf-8').send(await roleListBody(runtime.identity, orgId) as never)
  })

  api.post('/v1/orgs/:orgId/roles', {
    schema: {
      tags: ['roles'], summary: 'Creates a custom role (role:create; you can grant only what you hold)', security: BEARER,
      'x-permission': 'role:create', params: OrgParams,
      body: z.object({ name: z.string().trim().min(1).max(100), description: z.string().max(1000).optional(), grants: Grants }).strict(),
      response: { 201: z.object({ roleId: z.string(), position: Position }), ...problems }
    }
  }, async (request, reply) => {
    const { orgId } = request.params
    const { name, description, grants: input } = request.body
    const created = await createRole(runtime.identity, commandMetadata(request, orgId), orgId,
      { name, grants: grants(input), ...(description === undefined ? {} : { description }) })
    return reply.code(201).send(created)
  })

  api.patch('/v1/orgs/:orgId/roles/:roleId', {
    schema: {
      tags: ['roles'], summary: 'Renames or describes a custom role (role:update)', security: BEARER, 'x-permission': 'role:update',
      params: RoleParams,
      body: z.object({ name: z.string().trim().min(1).max(100).optional(), description: z.string().max(1000).optional() }).strict()
        .refine((body) => body.name !== undefined || body.description !== undefined, 'give name, description or both'),
      response: { 200: Written, ...problems }
    }
  }, async (request) => {
    const { orgId, roleId } = request.params
    return updateRole(runtime.identity, commandMetadata(request, orgId), orgId, roleId, request.body)
  })

  api.put('/v1/orgs/:orgId/roles/:roleId/grants', {
    schema: {
      tags: ['roles'], summary: 'Replaces the grants of a custom role (role:update; you can grant only what you hold)', security: BEARER,
      'x-permission': 'role:update', params: RoleParams,
      body: z.object({ grants: Grants }).strict(), response: { 200: Written, ...problems }
    }
  }, async (request) => {
    const { orgId, roleId } = request.params
    return changeOrganization(runtime.identity, commandMetadata(request, orgId), orgId,
      { type: 'SetRoleGrants', data: { roleId, grants: grants(request.body.grants) } })
  })

  api.delete('/v1/orgs/:orgId/roles/:roleId', {
    schema: { tags: ['roles'], summary: 'Deletes a custom role nobody holds (role:delete)', security: BEARER, 'x-permission': 'role:delete',
      params: RoleParams, response: { 200: Written, ...problems } }
  }, async (request) => {
    const { orgId, roleId } = request.params
    return changeOrganization(runtime.identity, commandMetadata(request, orgId), orgId, { type: 'DeleteRole', data: { roleId } })
  })
}

const HolderView = z.object({
  userId: z.string(), roleId: z.string(), grant: z.number().int(),
  pattern: z.string().describe('the action as granted: itself, <resource>:* or *'),
  resource: z.string(), effect: z.enum(['allow', 'deny']), conditional: z.boolean().describe('applies only where its condition holds')
})

export async function accessRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get('/v1/orgs/:orgId/access', {
    schema: {
      tags: ['roles'],
      summary: 'Who holds an action: every member whose roles name it, with the role and grant, and whether a deny or a condition limits ' +
        'it (role:read; from the RBAC read model, so send X-Consistent-With to see a change of yours)',
      security: BEARER, 'x-permission': 'role:read', params: OrgParams,
      querystring: z.object({ action: z.string().regex(ACTION_NAME, '<resource>:<verb>') }).strict(),
      response: { 200: z.object({ action: z.string(), holders: z.array(HolderView) }), ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    return { action: request.query.action, holders: await holdersOf(runtime.sql, orgId, request.query.action) }
  })
}

export async function roleTestRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().post('/v1/orgs/:orgId/roles/:roleId/test', {
    schema: {
      tags: ['roles'], summary: 'Runs policy test cases against the organization\'s policy: a case naming a member (principal.id) holds ' +
        'their roles, one giving principal.roles those, one naming neither this role ' +
        '(role:read)', security: BEARER, 'x-permission': 'role:read',
      params: z.object({ orgId: Id, roleId: z.union([RoleId, z.enum(['owner', 'admin', 'member', 'viewer'])]) }),
      body: z.object({ cases: PolicyCases }).strict(),
      response: { 200: z.object({ passed: z.number().int(), failed: z.number().int(),
        results: z.array(z.object({ name: z.string(), passed: z.boolean(), expected: z.string(), got: z.string(),
          explanation: z.unknown().optional() })) }), ...problems }
    }
  }, async (request) => {
    const { orgId, roleId } = request.params
    return testPolicy(runtime.identity.policies, orgId, request.body.cases, roleId)
  })
}
