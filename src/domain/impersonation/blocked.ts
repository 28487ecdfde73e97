/**
 * What nobody may do while impersonating: the one list. An impersonation is
 * for seeing what a user sees and doing their everyday work with them in one
 * organization, not for changing who they are, what they can do, or what the
 * organization pays, nor for looking at the rest of their account.
 *
 * - Organization routes are blocked by the catalogue action they declare
 *   (`x-permission`), so a new route that needs one of these is blocked the
 *   day it lands. Another organization's routes are not found.
 * - Outside organizations, only what a session needs is allowed (its own
 *   description, ending it, the catalogue); everything else — password,
 *   e-mail, tokens, the security log, new organizations, administration, and
 *   any route added later — is blocked.
 *
 * test/impersonation-blocked.test.ts walks every route of the app against
 * this list and checks README documents each entry. A blocked attempt answers
 * 403 `impersonation.forbidden_action` and is recorded in the session
 * (`impersonation.session.action_recorded` with outcome `blocked`), so it
 * shows in the organization's audit log.
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
  ['member:add', 'adding members'],
  ['member:invite', 'assigning roles'],
  ['member:remove', 'changing who has access'],
  ['ai:manage', 'changing AI budgets'],
  ['audit:configure', 'changing how long the audit log is kept'],
  ['impersonation:start', 'starting another impersonation'],
  ['impersonation:approve', 'approving impersonations'],
  ['impersonation:revoke', 'ending other impersonations'],
  ['impersonation:configure', 'changing support access'],
  ['webhook:manage', 'changing webhooks and their secrets']
])

/** Routes outside organizations an impersonation may use: `METHOD /path` as Fastify names the route. */
export const ALLOWED_OUTSIDE_ORGS: ReadonlySet<string> = new Set([
  'GET /v1/session',
  'HEAD /v1/session',
  'GET /v1/orgs',
  'HEAD /v1/orgs',
  'POST /v1/impersonation/stop',
  'POST /v1/auth/logout',
  'GET /v1/permissions',
  'HEAD /v1/permissions'
])

const ORG_ROUTE = /^\/v1\/orgs\/:orgId(\/|$)/

/** Why the route is refused while impersonating, or undefined when it is allowed. */
export function blockedWhileImpersonating (method: string, url: string, action: string | undefined): string | undefined {
  if (!ORG_ROUTE.test(url)) {
    return ALLOWED_OUTSIDE_ORGS.has(`${method} ${url}`) ? undefined : 'acting outside the organization of the session'
  }
  return action === undefined ? undefined : BLOCKED_ACTIONS.get(action)
}
