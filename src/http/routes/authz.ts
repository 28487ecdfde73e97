/**
 * Authorization checks for an organization's members, as the API itself
 * decides them: a batch of `can()` checks, and `explain()` for one
 * (src/application/rbac/checks.ts). Permission `authz:check`. A user who is
 * not a member holds no role, so every check for them is a default deny; an
 * action outside the catalogue is a 400 (`rbac.unknown_action`, naming the
 * checks), not a deny.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { decideChecks, explainCheck, type Asker } from '../../application/rbac/checks.ts'
import type { Runtime } from '../../runtime.ts'
import { principalOf } from '../plugins/auth.ts'
import { BEARER, Id, problems } from '../schemas.ts'
import { Check, CheckBody, checkValidatorCompiler } from './authz-input.ts'

const Decision = z.object({
  allowed: z.boolean(),
  reason: z.enum(['allowed', 'denied', 'no_matching_grant']),
  deciding: z.array(z.object({ roleId: z.string(), grant: z.number().int(), effect: z.enum(['allow', 'deny']) })),
  failedConditions: z.array(z.object({
    roleId: z.string(), grant: z.number().int(), effect: z.enum(['allow', 'deny']), clause: z.string()
  }))
})
const OrgParams = z.object({ orgId: Id })

/** Who asks: the caller, and whether they are being impersonated (their checks are then decided under it). */
function askerOf (request: FastifyRequest): Asker {
  const principal = principalOf(request)
  return { userId: principal.userId, impersonated: principal.impersonation !== undefined }
}

export async function authzRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.post('/v1/orgs/:orgId/authz/check', {
    schema: {
      tags: ['authorization'],
      summary: 'Decides up to 100 checks with can() (authz:check); an action outside the catalogue is a 400 naming the check',
      security: BEARER, 'x-permission': 'authz:check', params: OrgParams,
      body: CheckBody,
      response: { 200: z.object({ results: z.array(z.object({ allowed: z.boolean() })) }), ...problems }
    },
    validatorCompiler: checkValidatorCompiler
  }, async (request) => {
    const { orgId } = request.params
    const { results, allowed } = await decideChecks(runtime.identity.policies, orgId, askerOf(request), request.body.checks)
    if (allowed > 0) runtime.metrics.authzDecision(orgId, true, allowed)
    if (allowed < results.length) runtime.metrics.authzDecision(orgId, false, results.length - allowed)
    return { results }
  })

  api.post('/v1/orgs/:orgId/authz/explain', {
    schema: {
      tags: ['authorization'], summary: 'Explains one check: the deciding grant, its role, the condition that failed (authz:check)',
      security: BEARER, 'x-permission': 'authz:check', params: OrgParams,
      body: Check, response: { 200: Decision, ...problems }
    }
  }, async (request) => {
    const decision = await explainCheck(runtime.identity.policies, request.params.orgId, askerOf(request), request.body)
    return { ...decision, deciding: [...decision.deciding], failedConditions: [...decision.failedConditions] }
  })
}
