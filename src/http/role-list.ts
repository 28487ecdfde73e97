/**
 * The body of GET /v1/orgs/:orgId/roles, serialized once per organization
 * state: the list (built-in roles, then custom roles by name, with their
 * grants and holders) is a pure function of the state, which is never changed
 * once shared, so every request on the same state sends the same bytes
 * instead of rebuilding and re-serializing thousands of roles and holders.
 */
import { customRoles, type CustomRoleView } from '../application/identity/commands.ts'
import type { IdentityServices } from '../application/identity/commands.ts'
import { BUILT_IN_ROLE_GRANTS } from '../domain/rbac/permissions.ts'

const bodies = new WeakMap<readonly CustomRoleView[], Buffer>()

/** The role list as UTF-8 JSON, as the route's response schema describes it (encoded once, too: it may be 200 kB). */
export async function roleListBody (services: IdentityServices, orgId: string): Promise<Buffer> {
  const custom = await customRoles(services, orgId)
  let body = bodies.get(custom)
  if (body === undefined) bodies.set(custom, body = Buffer.from(JSON.stringify({ items: roleList(custom) })))
  return body
}

function roleList (custom: readonly CustomRoleView[]): unknown[] {
  const builtIn = Object.entries(BUILT_IN_ROLE_GRANTS).map(([roleId, actions]) => ({ roleId, name: roleId, description: 'built-in role', builtIn: true, grants: [{ actions: [...actions], resource: '*', effect: 'allow' }] }))
  return [...builtIn, ...custom.map(({ roleId, name, description, grants, holders }) => ({
    roleId, name, description, builtIn: false,
    grants: grants.map(({ actions, resource, effect, when }) => ({ actions, resource, effect, ...(when === undefined ? {} : { when }) })),
    holders
  }))]
}
