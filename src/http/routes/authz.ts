/**
 * Authorization checks for an organization's members, as the API itself
 * decides them: a batch of `can()` checks, and `explain()` for one.
 * Permission `authz:check`. A user who is not a member holds no role, so
 * every check for them is a default deny.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { memberRoles } from '../../projections/identity/queries.ts'
import type { Runtime } from '../../runtime.ts'
import { principalOf } from '../plugins/auth.ts'
import { BEARER, Id, problems } from '../schemas.ts'
import { authorize } from '../tenancy.ts'

const Attribute = z.union([z.string().max(1000), z.number(), z.boolean(), z.null(), z.array(z.union([z.string().max(1000), z.number(), z.boolean(), z.null()])).max(100)])
const Check = z.object({
  userId: Id.optional().describe('whose permission (default: the caller)'),
  action: z.string().regex(/^[a-z][a-z0-9_]{0,63}:[a-z*][a-z0-9_]{0,63}$/, '<resource>:<verb>'),
  resource: z.object({ type: z.string().min(1).max(64), id: z.string().max(200).optional() })
    .catchall(Attribute).refine((resource) => Object.keys(resource).length <= 50, 'at most 50 attributes'),
  context: z.object({
    ip: z.string().max(64).optional(),
    time: z.union([z.iso.datetime({ offset: true }), z.number().int()]).optional(),
    mfa: z.boolean().optional(),
    impersonating: z.boolean().optional()
  }).strict().optional()
}).strict()
type CheckInput = z.infer<typeof Check>

const Decision = z.object({
  allowed: z.boolean(),
  reason: z.enum(['allowed', 'denied', 'no_matching_grant']),
  deciding: z.array(z.object({ roleId: z.string(), grant: z.number().int(), effect: z.enum(['allow', 'deny']) })),
  failedConditions: z.array(z.object({ roleId: z.string(), grant: z.number().int(), effect: z.enum(['allow', 'deny']), clause: z.string() }))
})
const OrgParams = z.object({ orgId: Id })

export async function authzRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()

  /**
   * The principals checks are about, with their roles in this organization
   * (none when not a member): the caller's from their membership, others'
   * read once per request however many checks name them.
   */
  const subjects = (request: FastifyRequest, orgId: string, callerRoles: string[]) => {
    const caller = principalOf(request).userId
    const known = new Map<string, Promise<string[]>>([[caller, Promise.resolve(callerRoles)]])
    return async (check: CheckInput): Promise<{ id: string, roles: string[] }> => {
      const id = check.userId ?? caller
      let roles = known.get(id)
      if (roles === undefined) {
        roles = memberRoles(runtime.sql, orgId, id).then((found) => found ?? [])
        known.set(id, roles)
      }
      return { id, roles: await roles }
    }
  }

  api.post('/v1/orgs/:orgId/authz/check', {
    schema: {
      tags: ['authorization'], summary: 'Decides up to 100 checks with can() (authz:check)', security: BEARER, params: OrgParams,
      body: z.object({ checks: z.array(Check).min(1).max(100) }).strict(),
      response: { 200: z.object({ results: z.array(z.object({ allowed: z.boolean() })) }), ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    const membership = await authorize(runtime, request, orgId, 'authz:check')
    const policy = await runtime.identity.policies.policyOf(orgId)
    const subject = subjects(request, orgId, membership.roles)
    const results = []
    for (const check of request.body.checks) {
      const principal = await subject(check)
      results.push({ allowed: policy.can(principal, check.action, { ...check.resource, type: check.resource.type }, check.context ?? {}) })
    }
    return { results }
  })

  api.post('/v1/orgs/:orgId/authz/explain', {
    schema: {
      tags: ['authorization'], summary: 'Explains one check: the deciding grant, its role, the condition that failed (authz:check)', security: BEARER, params: OrgParams,
      body: Check, response: { 200: Decision, ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    const membership = await authorize(runtime, request, orgId, 'authz:check')
    const principal = await subjects(request, orgId, membership.roles)(request.body)
    const decision = (await runtime.identity.policies.policyOf(orgId)).explain(principal, request.body.action, { ...request.body.resource, type: request.body.resource.type }, request.body.context ?? {})
    return { ...decision, deciding: [...decision.deciding], failedConditions: [...decision.failedConditions] }
  })
}
