/**
 * Roles and permissions of one organization: the roles with their grants and
 * holders, the action catalogue, policy tests, and who holds an action
 * (GET …/access) with each holder's decision (POST …/authz/check).
 */
import { useQuery } from '@tanstack/react-query'
import { api } from '../../lib/api.ts'
import type { Member } from '../members/api.ts'
import type { Condition } from './condition.ts'

export interface Grant { actions: string[], resource: string, effect: 'allow' | 'deny', when?: Condition }
export interface Role { roleId: string, name: string, description: string, builtIn: boolean, grants: Grant[], holders?: string[] }
export interface ActionDefinition { action: string, description: string, sensitive: boolean, ownerOnly: boolean }
export interface Written { position: string }

export interface Decision {
  allowed: boolean
  reason: 'allowed' | 'denied' | 'no_matching_grant'
  deciding: Array<{ roleId: string, grant: number, effect: 'allow' | 'deny' }>
  failedConditions: Array<{ roleId: string, grant: number, effect: 'allow' | 'deny', clause: string }>
}
export interface CaseInput {
  name: string, action: string, resource: Record<string, unknown> & { type: string }, context: Record<string, unknown>,
  expect: 'allow' | 'deny'
}
export interface CaseResult { name: string, passed: boolean, expected: string, got: string, explanation?: Decision }
export interface Holder {
  userId: string, roleId: string, grant: number, pattern: string, resource: string, effect: 'allow' | 'deny', conditional: boolean
}

const orgPath = (orgId: string) => `/v1/orgs/${encodeURIComponent(orgId)}`
const rolePath = (orgId: string, roleId: string) => `${orgPath(orgId)}/roles/${encodeURIComponent(roleId)}`

/** Under the members page's roles key (rolesKey): invalidating that one after a change refreshes both lists. */
export const roleListKey = (orgId: string) => ['orgs', orgId, 'roles', 'full'] as const

export function useRoles (orgId: string) {
  return useQuery({
    queryKey: roleListKey(orgId),
    queryFn: async () => (await api<{ items: Role[] }>('GET', `${orgPath(orgId)}/roles`)).items
  })
}

export function useCatalogue () {
  return useQuery({
    queryKey: ['permissions'],
    queryFn: async () => (await api<{ actions: ActionDefinition[] }>('GET', '/v1/permissions')).actions,
    staleTime: Infinity
  })
}

/** The first 200 members (the route's largest page): enough to name holders; an id the page lacks shows as is. */
export function useMemberNames (orgId: string) {
  return useQuery({
    queryKey: ['orgs', orgId, 'members', 'names'],
    queryFn: async () => {
      const page = await api<{ items: Member[] }>('GET', `${orgPath(orgId)}/members?limit=200`)
      return new Map(page.items.map((member) => [member.userId, member]))
    }
  })
}

export const createRole = (orgId: string, body: { name: string, description: string, grants: Grant[] }) =>
  api<{ roleId: string } & Written>('POST', `${orgPath(orgId)}/roles`, body)
export const updateRole = (orgId: string, roleId: string, body: { name?: string, description?: string }) =>
  api<Written>('PATCH', rolePath(orgId, roleId), body)
export const setGrants = (orgId: string, roleId: string, grants: Grant[]) =>
  api<Written>('PUT', `${rolePath(orgId, roleId)}/grants`, { grants })
export const deleteRole = (orgId: string, roleId: string) => api<Written>('DELETE', rolePath(orgId, roleId))
export const testRole = (orgId: string, roleId: string, cases: CaseInput[]) =>
  api<{ passed: number, failed: number, results: CaseResult[] }>('POST', `${rolePath(orgId, roleId)}/test`, { cases })

/** Who holds the action, and for each of them whether a check on this resource is allowed (at most 100 holders are checked). */
export async function whoCan (orgId: string, action: string, resource: { type: string, id?: string }) {
  const { holders } = await api<{ holders: Holder[] }>('GET', `${orgPath(orgId)}/access?${new URLSearchParams({ action }).toString()}`)
  const users = [...new Set(holders.map((holder) => holder.userId))].slice(0, 100)
  const allowed = new Map<string, boolean>()
  if (users.length > 0) {
    const { results } = await api<{ results: Array<{ allowed: boolean }> }>('POST', `${orgPath(orgId)}/authz/check`,
      { checks: users.map((userId) => ({ userId, action, resource })) })
    users.forEach((userId, i) => allowed.set(userId, results[i]?.allowed ?? false))
  }
  return { holders, users, allowed }
}
