/**
 * Compiled policy snapshots, one per organization: the built-in roles plus
 * the organization's custom roles, and every member's roles, folded from its
 * stream (the truth) and compiled once. A role or member event drops the
 * snapshot — on this node as soon as the command is appended, on others when
 * their subscription delivers it — so the next check compiles the new roles
 * and sees the new members. Checks about other members (`authz/check`) read
 * their roles here, with no query per request.
 */
import { readState, type StateCache } from '../../domain/decider.ts'
import { organizationDeciderFor, orgStreamId } from '../../domain/identity/organization.ts'
import { isCritical } from '../../domain/impersonation/critical.ts'
import type { Catalogue } from '../../domain/rbac/permissions.ts'
import { Policy, type RoleDefinition } from '../../domain/rbac/policy.ts'
import type { EventStore } from '../../eventstore/types.ts'
import { BoundedCache } from '../cache.ts'

function builtInRoles (catalogue: Catalogue): RoleDefinition[] {
  return Object.entries(catalogue.builtInRoleGrants)
    .map(([roleId, actions]) => ({ roleId, grants: [{ actions, resource: '*', effect: 'allow' }] }))
}

export interface PolicySnapshot {
  readonly policy: Policy
  /** A member's roles (built-in names and custom role ids); none for someone who is not a member. */
  rolesOf(userId: string): readonly string[]
  isMember(userId: string): boolean
  /** A built-in role or one of the organization's custom roles. */
  hasRole(roleId: string): boolean
  /** Platform support may impersonate members here (impersonations re-check it on every request). */
  readonly supportAccess: boolean
  /** Impersonating this member is break-glass (src/domain/impersonation/critical.ts). */
  isCritical(userId: string): boolean
}

const NO_ROLES: readonly string[] = Object.freeze([])

export class PolicySnapshots {
  readonly #cache = new BoundedCache<PolicySnapshot>(10_000, 10 * 60_000)
  #epoch = 0
  /** The built-in roles of the catalogue (host actions included). */
  readonly #builtIn: readonly RoleDefinition[]
  /** The policy of organizations without custom roles: the built-in roles alone. */
  readonly #builtInPolicy: Policy

  /**
   * `catalogue`: the permission catalogue the policies are compiled over (the runtime's); `states`: the commands'
   * folded states, so a snapshot reads only what was appended since (not the whole stream).
   */
  constructor (private readonly store: EventStore, readonly catalogue: Catalogue, private readonly states?: StateCache) {
    this.#builtIn = builtInRoles(catalogue)
    this.#builtInPolicy = new Policy(this.#builtIn)
  }

  async policyOf (orgId: string): Promise<Policy> {
    return (await this.snapshotOf(orgId)).policy
  }

  async snapshotOf (orgId: string): Promise<PolicySnapshot> {
    const cached = this.#cache.get(orgId)
    if (cached !== undefined) return cached
    const epoch = this.#epoch
    const { state } = await readState(this.store, organizationDeciderFor(this.catalogue), orgStreamId(orgId), this.states)
    const active = state.status === 'active'
    const custom = active ? Object.entries(state.roles).map(([roleId, role]) => ({ roleId, grants: role.grants })) : []
    const members = active ? state.members : {}
    // Asked on every impersonated request; the answer holds for the snapshot's life.
    const critical = new Map<string, boolean>()
    const snapshot: PolicySnapshot = {
      policy: custom.length === 0 ? this.#builtInPolicy : new Policy([...this.#builtIn, ...custom]),
      rolesOf: (userId) => (Object.hasOwn(members, userId) ? members[userId]! : NO_ROLES),
      isMember: (userId) => Object.hasOwn(members, userId),
      hasRole: (roleId) => Object.hasOwn(this.catalogue.builtInRoleGrants, roleId) || (active && Object.hasOwn(state.roles, roleId)),
      supportAccess: active && state.supportAccess,
      isCritical: (userId) => {
        let answer = critical.get(userId)
        if (answer === undefined) critical.set(userId, answer = active && isCritical(this.catalogue, state, userId))
        return answer
      }
    }
    if (epoch === this.#epoch) this.#cache.set(orgId, snapshot)
    return snapshot
  }

  /** Drops the snapshot of the organization whose stream a role, member or support access event landed in. */
  observe (streamId: string, type: string): void {
    if (!(type.startsWith('rbac.role.') || type.startsWith('org.member.') || type === 'org.organization.support_access_set') ||
      !streamId.startsWith('org-')) return
    this.#cache.delete(streamId.slice('org-'.length))
    this.#epoch++
  }
}
