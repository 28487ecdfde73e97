/**
 * Compiled policy snapshots, one per organization: the built-in roles plus
 * the organization's custom roles, folded from its stream (the truth) and
 * compiled once. A role event drops the snapshot — on this node as soon as
 * the command is appended, on others when their subscription delivers it —
 * so the next check compiles the new roles.
 */
import { fold } from '../../domain/decider.ts'
import { organizationDecider, orgStreamId } from '../../domain/identity/organization.ts'
import { BUILT_IN_ROLE_GRANTS } from '../../domain/rbac/permissions.ts'
import { Policy, type RoleDefinition } from '../../domain/rbac/policy.ts'
import type { EventStore } from '../../eventstore/types.ts'
import { BoundedCache } from '../cache.ts'

const BUILT_IN: RoleDefinition[] = Object.entries(BUILT_IN_ROLE_GRANTS).map(([roleId, actions]) => ({
  roleId,
  grants: [{ actions, resource: '*', effect: 'allow' }]
}))

/** The policy of the built-in roles alone. */
export const BUILT_IN_POLICY = new Policy(BUILT_IN)

export class PolicySnapshots {
  readonly #cache = new BoundedCache<Policy>(10_000, 10 * 60_000)
  #epoch = 0

  constructor (private readonly store: EventStore) {}

  async policyOf (orgId: string): Promise<Policy> {
    const cached = this.#cache.get(orgId)
    if (cached !== undefined) return cached
    const epoch = this.#epoch
    const state = fold(organizationDecider, await this.store.readStream(orgStreamId(orgId)) as never[])
    const custom = state.status === 'active' ? Object.entries(state.roles).map(([roleId, role]) => ({ roleId, grants: role.grants })) : []
    const policy = custom.length === 0 ? BUILT_IN_POLICY : new Policy([...BUILT_IN, ...custom])
    if (epoch === this.#epoch) this.#cache.set(orgId, policy)
    return policy
  }

  /** Drops the snapshot of the organization whose stream an RBAC event landed in. */
  observe (streamId: string, type: string): void {
    if (!type.startsWith('rbac.role.') || !streamId.startsWith('org-')) return
    this.#cache.delete(streamId.slice('org-'.length))
    this.#epoch++
  }
}
