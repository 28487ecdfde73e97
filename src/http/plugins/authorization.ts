/**
 * Authorization from the declaration: every organization route declares the
 * catalogue action it needs (`x-permission` in its schema), and one
 * preHandler enforces it, so no handler calls `authorize` by hand. The action
 * is resolved once, when the route is registered (onRoute), not per request.
 * The check is src/http/tenancy.ts's: 404 for a non-member (or no such
 * organization), 403 naming the action for a member without it, and the
 * refusal of a sensitive action written to the audit log. The caller's
 * membership is left on the request (`request.membership`) for the handler.
 *
 * A route whose right to act depends on more than its action (platform staff
 * who stand in for it, the impersonator stopping their own session, a member
 * leaving) opts out with `x-authorizes-itself`, the reason in words; it still
 * declares its action, and the permissions walk (test/permissions.test.ts)
 * lists every opt-out.
 *
 * Registered after the consistency wait: the membership read honours
 * X-Consistent-With.
 */
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import type { MembershipView } from '../../projections/identity/queries.ts'
import type { Runtime } from '../../runtime.ts'
import { appendRouteHook } from '../hooks.ts'
import { principalOf } from './auth.ts'
import { authorizeAction, policyContextOf } from '../tenancy.ts'

declare module 'fastify' {
  interface FastifySchema {
    /**
     * The route checks its `x-permission` itself (in the application) instead of the authorization preHandler;
     * the value says why. The permissions walk lists these routes.
     */
    'x-authorizes-itself'?: string
  }
  interface FastifyRequest {
    /** The caller's membership of the path's organization, once the authorization preHandler allowed the route's action. */
    membership: MembershipView | null
  }
}

/** Organization routes: each declares its action. */
const ORG_ROUTE = /^\/v1\/orgs\/:orgId(\/|$)/

/** What the preHandler enforces on `route`: its declared action, or undefined for a route outside organizations or one that opted out. */
export function declaredPermission (route: Pick<RouteOptions, 'url' | 'method' | 'schema'>): string | undefined {
  const action = route.schema?.['x-permission']
  const where = `${String(route.method)} ${route.url}`
  if (action === undefined) {
    if (ORG_ROUTE.test(route.url)) throw new Error(`${where} is an organization route but declares no x-permission`)
    return undefined
  }
  if (!route.url.includes(':orgId')) throw new Error(`${where} declares x-permission but has no :orgId to authorize in`)
  const reason = route.schema?.['x-authorizes-itself']
  if (reason === undefined) return action
  if (reason.trim() === '') throw new Error(`${where}: x-authorizes-itself needs the reason`)
  return undefined
}

/** The preHandler of one route: `action` in the path's organization. */
function permissionCheck (runtime: Runtime, action: string) {
  return async function checkPermission (request: FastifyRequest): Promise<void> {
    request.membership = await authorizeAction(runtime, request, (request.params as { orgId: string }).orgId, action)
  }
}

/** Adds the declaration's check to every route of `scope` that declares an action and does not authorize itself. */
export function authorization (scope: FastifyInstance, runtime: Runtime): void {
  scope.decorateRequest('membership', null)
  scope.addHook('onRoute', (route) => {
    const action = declaredPermission(route)
    if (action !== undefined) appendRouteHook(route, 'preHandler', permissionCheck(runtime, action))
  })
}

/** The membership the preHandler found; a route without the check has none. */
export function authorizedMembership (request: FastifyRequest): MembershipView {
  if (request.membership === null) throw new Error(`${request.method} ${request.routeOptions.url} has no authorized membership`)
  return request.membership
}

/**
 * Whether the caller also holds `action` in the organization whose check passed, asked of `can()` with no denial
 * recorded: for a route that shows more to those who hold it (a member reading only their own is no denial).
 */
export async function holdsAlso (runtime: Runtime, request: FastifyRequest, orgId: string, action: string): Promise<boolean> {
  const policy = await runtime.identity.policies.policyOf(orgId)
  return policy.can({ id: principalOf(request).userId, roles: authorizedMembership(request).roles }, action,
    { type: 'organization', id: orgId }, policyContextOf(request))
}
