/**
 * What nobody may do while impersonating: the one list. An impersonation is
 * for seeing what a user sees and doing their everyday work with them, not
 * for changing who they are, what they can do, or what the organization pays.
 *
 * - Organization routes are blocked by the catalogue action they declare
 *   (`x-permission`), so a new route that needs one of these is blocked the
 *   day it lands.
 * - Other routes are named here by method and path; `/v1/admin/` is blocked
 *   as a whole. test/impersonation-blocked.test.ts walks every route of the
 *   app and checks each entry still names a route.
 *
 * A blocked attempt answers 403 `impersonation.forbidden_action` and is
 * recorded in the session (`impersonation.session.action_recorded` with
 * outcome `blocked`), so it shows in the organization's audit log.
 */

/** Catalogue actions refused while impersonating, with the reason a caller is told. */
export const BLOCKED_ACTIONS: ReadonlyMap<string, string> = new Map([
  ['billing:update', 'billing and plan changes'],
  ['org:delete', 'deleting the organization'],
  ['role:create', 'granting permissions'],
  ['role:update', 'granting permissions'],
  ['role:delete', 'changing roles'],
  ['role:assign', 'assigning roles'],
  ['role:unassign', 'changing roles'],
  ['member:add', 'assigning roles'],
  ['member:invite', 'assigning roles'],
  ['member:remove', 'changing who has access'],
  ['ai:manage', 'changing AI budgets'],
  ['audit:configure', 'changing how long the audit log is kept'],
  ['impersonation:start', 'starting another impersonation'],
  ['impersonation:approve', 'approving impersonations'],
  ['impersonation:revoke', 'ending other impersonations'],
  ['impersonation:configure', 'changing support access']
])

/** Routes outside organizations refused while impersonating: `METHOD /path` as Fastify names the route. */
export const BLOCKED_ROUTES: ReadonlyMap<string, string> = new Map([
  ['PUT /v1/me/password', 'changing the password'],
  ['POST /v1/tokens', 'creating tokens'],
  ['DELETE /v1/tokens/:tokenId', 'revoking tokens'],
  ['POST /v1/orgs', 'creating organizations']
])

const BLOCKED_PREFIXES: ReadonlyArray<readonly [string, string]> = [['/v1/admin/', 'platform administration']]

/** Why the route is refused while impersonating, or undefined when it is allowed. */
export function blockedWhileImpersonating (method: string, url: string, action: string | undefined): string | undefined {
  if (action !== undefined) {
    const reason = BLOCKED_ACTIONS.get(action)
    if (reason !== undefined) return reason
  }
  const route = BLOCKED_ROUTES.get(`${method} ${url}`)
  if (route !== undefined) return route
  return BLOCKED_PREFIXES.find(([prefix]) => url.startsWith(prefix))?.[1]
}
