/**
 * Critical accounts: impersonating one is break-glass. An owner; or a member
 * whose roles could give (whatever the conditions) an owner-only action, a
 * sensitive one (exports, billing, impersonation, money; host actions marked
 * sensitive included), or the power to hand out roles. Decided from the
 * organization's state, so a session that was ordinary when it started is
 * judged again on every request (src/application/impersonation/admission.ts).
 */
import type { OrgState } from '../identity/organization.ts'
import type { Catalogue } from '../rbac/permissions.ts'
import { actionsHeld } from '../rbac/roles.ts'

const ADMINISTRATIVE_ACTIONS = ['role:create', 'role:update', 'role:assign']

export function isCritical (catalogue: Catalogue, state: Extract<OrgState, { status: 'active' }>, userId: string): boolean {
  const roles = Object.hasOwn(state.members, userId) ? state.members[userId]! : []
  if (roles.includes('owner')) return true
  const held = actionsHeld(catalogue, state, roles)
  return ADMINISTRATIVE_ACTIONS.some((action) => held.has(action)) ||
    catalogue.actions.some((definition) => (definition.ownerOnly || definition.sensitive) && held.has(definition.action))
}
