/**
 * The body of GET /v1/orgs/:orgId/roles, serialized once per organization
 * state: the list (src/application/rbac/role-list.ts) is shared per state and
 * never changed, so every request on the same state sends the same bytes
 * instead of re-serializing thousands of roles and holders.
 */
import { listRoles, type RoleListing } from '../application/rbac/role-list.ts'
import type { IdentityServices } from '../application/identity/commands.ts'

const bodies = new WeakMap<readonly RoleListing[], Buffer>()

/** The role list as UTF-8 JSON, as the route's response schema describes it (encoded once, too: it may be 200 kB). */
export async function roleListBody (services: IdentityServices, orgId: string): Promise<Buffer> {
  const roles = await listRoles(services, orgId)
  let body = bodies.get(roles)
  if (body === undefined) bodies.set(roles, body = Buffer.from(JSON.stringify({ items: roles.map(roleView) })))
  return body
}

/** A role as the API shows it: a custom role with its holders. */
function roleView (role: RoleListing): unknown {
  const { roleId, name, description, builtIn } = role
  const grants = role.grants.map(({ actions, resource, effect, when }) => ({
    actions, resource, effect, ...(when === undefined ? {} : { when })
  }))
  if (role.builtIn) return { roleId, name, description, builtIn, grants }
  return { roleId, name, description, builtIn, grants, holders: role.holders }
}
