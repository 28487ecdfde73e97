/**
 * Authorization checks for an organization's members, as the API itself
 * decides them: a batch of `can()` checks, and `explain()` for one.
 * Permission `authz:check`. A user who is not a member holds no role, so
 * every check for them is a default deny; an action outside the catalogue
 * is a 400 (`rbac.unknown_action`, naming the checks), not a deny.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { PolicySnapshot } from '../../application/rbac/policies.ts'
import type { Principal } from '../../domain/rbac/policy.ts'
import { BLOCKED_ACTIONS } from '../../domain/impersonation/blocked.ts'
import { requireCatalogueActions } from '../../domain/rbac/permissions.ts'
import type { Runtime } from '../../runtime.ts'
import { principalOf } from '../plugins/auth.ts'
import { BEARER, Id, problems } from '../schemas.ts'
import { Check, CheckBody, checkValidatorCompiler, type CheckInput } from './authz-input.ts'


const Decision = z.object({
  allowed: z.boolean(),
  reason: z.enum(['allowed', 'denied', 'no_matching_grant']),
  deciding: z.array(z.object({ roleId: z.string(), grant: z.number().int(), effect: z.enum(['allow', 'deny']) })),
  failedConditions: z.array(z.object({ roleId: z.string(), grant: z.number().int(), effect: z.enum(['allow', 'deny']), clause: z.string() }))
})
const OrgParams = z.object({ orgId: Id })
const NO_CONTEXT = Object.freeze({})

/**
 * A check's context as the request gives it; for a check about a caller who
 * is being impersonated, with `impersonating: true` (a grant may deny under
 * it), and null when the action is blocked while impersonating (denied).
 */
const contextFor = (request: FastifyRequest) => {
  const principal = principalOf(request)
  const impersonated = principal.impersonation === undefined ? undefined : principal.userId
  return (check: CheckInput): CheckInput['context'] | null => {
    if (impersonated === undefined || (check.userId !== undefined && check.userId !== impersonated)) return check.context ?? NO_CONTEXT
    return BLOCKED_ACTIONS.has(check.action) ? null : { ...check.context, impersonating: true }
  }
}

export async function authzRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()

  /**
   * The principals checks are about, with their roles in this organization
   * (none when not a member), from the organization's policy snapshot: the
   * same fold as the policy, in memory, one principal per person per request.
   */
  const subjects = (request: FastifyRequest, snapshot: PolicySnapshot) => {
    const caller = principalOf(request).userId
    const known = new Map<string, Principal>()
    return (check: CheckInput): Principal => {
      const id = check.userId ?? caller
      let principal = known.get(id)
      if (principal === undefined) {
        principal = { id, roles: snapshot.rolesOf(id) }
        known.set(id, principal)
      }
      return principal
    }
  }

  api.post('/v1/orgs/:orgId/authz/check', {
    schema: {
      tags: ['authorization'], summary: 'Decides up to 100 checks with can() (authz:check); an action outside the catalogue is a 400 naming the check', security: BEARER, 'x-permission': 'authz:check', params: OrgParams,
      body: CheckBody,
      response: { 200: z.object({ results: z.array(z.object({ allowed: z.boolean() })) }), ...problems }
    },
    validatorCompiler: checkValidatorCompiler
  }, async (request) => {
    const { orgId } = request.params
    requireCatalogueActions(request.body.checks)
    const snapshot = await runtime.identity.policies.snapshotOf(orgId)
    const subject = subjects(request, snapshot)
    const context = contextFor(request)
    const results = request.body.checks.map((check) => {
      const given = context(check)
      return { allowed: given !== null && snapshot.policy.can(subject(check), check.action, check.resource, given) }
    })
    const allowed = results.reduce((n, result) => result.allowed ? n + 1 : n, 0)
    if (allowed > 0) runtime.metrics.authzDecision(orgId, true, allowed)
    if (allowed < results.length) runtime.metrics.authzDecision(orgId, false, results.length - allowed)
    return { results }
  })

  api.post('/v1/orgs/:orgId/authz/explain', {
    schema: {
      tags: ['authorization'], summary: 'Explains one check: the deciding grant, its role, the condition that failed (authz:check)', security: BEARER, 'x-permission': 'authz:check', params: OrgParams,
      body: Check, response: { 200: Decision, ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    requireCatalogueActions([request.body])
    const snapshot = await runtime.identity.policies.snapshotOf(orgId)
    // A blocked action is explained by the policy alone, under the impersonation (authz/check denies it whatever it says).
    const context = contextFor(request)(request.body) ?? { ...request.body.context, impersonating: true }
    const decision = snapshot.policy.explain(subjects(request, snapshot)(request.body), request.body.action, request.body.resource, context)
    return { ...decision, deciding: [...decision.deciding], failedConditions: [...decision.failedConditions] }
  })
}
