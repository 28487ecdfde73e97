/**
 * An organization's roles as one list: the built-in roles (each one grant:
 * its actions on every resource), then the custom roles by name, with their
 * grants and holders. The use case behind `GET /v1/orgs/:orgId/roles` and
 * `ledgerline rbac roles`, each of which shapes it for its own answer.
 *
 * Built from the organization's cached command state (customRoles, through
 * the state cache: no fold of the stream per call), and once per state: the
 * state is never changed once shared, so neither is its list.
 */
import { customRoles, type CustomRoleView, type IdentityServices } from '../identity/commands.ts'
import type { GrantData } from '../../domain/rbac/events.ts'
import type { Catalogue } from '../../domain/rbac/permissions.ts'

export interface BuiltInRoleListing {
  readonly roleId: string
  readonly name: string
  readonly description: string
  readonly builtIn: true
  readonly actions: readonly string[]
  /** One grant: `actions` on every resource. */
  readonly grants: readonly GrantData[]
}

export interface CustomRoleListing extends CustomRoleView {
  readonly builtIn: false
}

export type RoleListing = BuiltInRoleListing | CustomRoleListing

/** Lists already built, per catalogue and custom roles: the built-in roles' actions are the catalogue's. */
const lists = new WeakMap<Catalogue, WeakMap<readonly CustomRoleView[], readonly RoleListing[]>>()

/** The organization's roles, built-in then custom (none for an organization that is not active). Shared: never change it. */
export async function listRoles (services: IdentityServices, orgId: string): Promise<readonly RoleListing[]> {
  const custom = await customRoles(services, orgId)
  let ofCatalogue = lists.get(services.catalogue)
  if (ofCatalogue === undefined) lists.set(services.catalogue, ofCatalogue = new WeakMap())
  let list = ofCatalogue.get(custom)
  if (list === undefined) {
    ofCatalogue.set(custom, list = [...builtInRoles(services.catalogue), ...custom.map((role) => ({ ...role, builtIn: false as const }))])
  }
  return list
}

/** The built-in roles of the catalogue, host actions included. */
function builtInRoles (catalogue: Catalogue): BuiltInRoleListing[] {
  return Object.entries(catalogue.builtInRoleGrants).map(([roleId, actions]) => ({
    roleId, name: roleId, description: 'built-in role', builtIn: true, actions,
    grants: [{ actions: [...actions], resource: '*', effect: 'allow' }]
  }))
}
