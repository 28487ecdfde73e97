/**
 * Tenancy and authorization for organization routes. The organization comes
 * from the path, the right to act from the caller's membership, decided by
 * `can()` over the organization's policy (DESIGN §6). Not a member (or no such
 * organization) is 404, never 403, so ids of other tenants cannot be probed;
 * a member without the permission gets 403 with the action named, and the
 * refusal of a sensitive action is written to the audit log (coalesced).
 *
 * The policy is the organization's: built-in and custom roles, compiled once
 * per change (src/application/rbac/policies.ts).
 *
 * Each organization route declares the catalogue action it needs as
 * `x-permission` in its schema: the OpenAPI document shows it, `authorize`
 * checks it, and test/permissions.test.ts walks every declaration. What a
 * request needs beyond that (the owner role takes an owner; granting a custom
 * role, holding what it allows) is the organization aggregate's to decide,
 * and the route's summary says so.
 */
import type { FastifyRequest } from 'fastify'
import { Forbidden, OrgNotFound } from '../domain/identity/errors.ts'
import type { ToolCaller } from '../application/tools/tool.ts'
import type { MembershipView } from '../projections/identity/queries.ts'
import type { Runtime } from '../runtime.ts'
import { principalOf } from './plugins/auth.ts'
import { recordDenial } from './plugins/denials.ts'

declare module 'fastify' {
  interface FastifySchema {
    /** The catalogue action an organization route authorizes: `authorize` checks it, the OpenAPI operation shows it. */
    'x-permission'?: string
  }
}

/**
 * The caller's membership of `orgId`, once `can()` allowed the action the
 * route declares; 404 for non-members, 403 for members without it.
 */
export async function authorize (runtime: Runtime, request: FastifyRequest, orgId: string): Promise<MembershipView> {
  const action = request.routeOptions.schema?.['x-permission']
  if (action === undefined) throw new Error(`${request.method} ${request.routeOptions.url} authorizes but declares no x-permission`)
  return authorizeAction(runtime, request, orgId, action)
}

/**
 * `authorize` for an action known beforehand: the authorization preHandler (src/http/plugins/authorization.ts) resolves it once per route.
 */
export async function authorizeAction (runtime: Runtime, request: FastifyRequest, orgId: string, action: string): Promise<MembershipView> {
  const membership = await membershipOf(runtime, request, orgId)
  const principal = principalOf(request)
  const policy = await runtime.identity.policies.policyOf(orgId)
  const allowed = policy.can({ id: principal.userId, roles: membership.roles }, action, { type: 'organization', id: orgId },
    policyContextOf(request))
  runtime.metrics.authzDecision(orgId, allowed)
  if (!allowed) {
    // Refusals of sensitive actions go to the audit log, coalesced (src/application/audit/denials.ts).
    if (runtime.catalogue.definition(action)?.sensitive === true) {
      recordDenial(request, { orgId, action, resource: `organization/${orgId}`, reason: 'forbidden' })
    }
    throw new Forbidden(`your roles in this organization do not allow ${action}`, { action })
  }
  return membership
}

/**
 * What the request tells a policy's conditions: the client's address and the time, and whether it is impersonated (a
 * grant may deny under `context.impersonating`).
 */
export function policyContextOf (request: FastifyRequest): { ip: string, time: number, impersonating?: true } {
  const { impersonation } = principalOf(request)
  return { ip: request.clientIp, time: Date.now(), ...(impersonation === undefined ? {} : { impersonating: true }) }
}

/** The caller's membership of `orgId`, or 404 whether the organization does not exist or is another tenant's. */
export async function membershipOf (runtime: Runtime, request: FastifyRequest, orgId: string): Promise<MembershipView> {
  const principal = principalOf(request)
  const memberships = await runtime.identity.directory.membershipsOf(principal.userId, request.consistentWith)
  const membership = memberships.find((m) => m.orgId === orgId)
  if (membership === undefined) throw new OrgNotFound()
  return membership
}

/**
 * The caller as the tool pipeline takes it (HTTP, MCP and the assistant alike): the authenticated principal, and the
 * address conditions may read. Token authentication does not know whether the person used MFA: `context.mfa` is left
 * out, so a condition on it fails.
 */
export function toolCallerOf (request: FastifyRequest): ToolCaller {
  const { userId, platformAdmin, platformSupport, impersonation } = principalOf(request)
  const context = { ip: request.clientIp }
  return { userId, platformAdmin, platformSupport, ...(impersonation === undefined ? {} : { impersonation }), context }
}
