/** The members and invitations routes of one organization. */
import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { api } from '../../lib/api.ts'

export const BUILT_IN_ROLES = ['owner', 'admin', 'member', 'viewer'] as const
export const PAGE_SIZE = 20

export interface Member { userId: string, email: string, displayName: string, status: string, roles: string[], joinedAt: string }
export interface Invitation {
  inviteId: string, email: string, roles: string[], status: string, invitedBy: string, createdAt: string, expiresAt: string
}
export interface Page<T> { items: T[], nextCursor: string | null }
export interface CreatedInvitation { inviteId: string, email: string, token: string, expiresAt: string }

const orgPath = (orgId: string) => `/v1/orgs/${encodeURIComponent(orgId)}`
const pageQuery = (cursor: string | undefined, extra: Record<string, string> = {}) =>
  new URLSearchParams({ limit: String(PAGE_SIZE), ...extra, ...(cursor === undefined ? {} : { cursor }) }).toString()

export interface Role { roleId: string, name: string, builtIn: boolean }

export const membersKey = (orgId: string) => ['orgs', orgId, 'members'] as const
export const rolesKey = (orgId: string) => ['orgs', orgId, 'roles'] as const

/** The organization's custom roles, to assign; empty for someone who may not read roles (role:read). */
export function useCustomRoles (orgId: string) {
  return useQuery({
    queryKey: rolesKey(orgId),
    queryFn: async () => (await api<{ items: Role[] }>('GET', `${orgPath(orgId)}/roles`)).items.filter((role) => !role.builtIn),
    staleTime: 60_000
  })
}
export const invitationsKey = (orgId: string) => ['orgs', orgId, 'invitations'] as const

export function useMembers (orgId: string, cursor: string | undefined) {
  return useQuery({
    queryKey: [...membersKey(orgId), cursor ?? null],
    queryFn: () => api<Page<Member>>('GET', `${orgPath(orgId)}/members?${pageQuery(cursor)}`),
    placeholderData: keepPreviousData
  })
}

export function usePendingInvitations (orgId: string, cursor: string | undefined) {
  return useQuery({
    queryKey: [...invitationsKey(orgId), cursor ?? null],
    queryFn: () => api<Page<Invitation>>('GET', `${orgPath(orgId)}/invitations?${pageQuery(cursor, { status: 'pending' })}`),
    placeholderData: keepPreviousData
  })
}

export const invite = (orgId: string, email: string, roles: string[]) =>
  api<CreatedInvitation>('POST', `${orgPath(orgId)}/invitations`, { email, roles })
export const revokeInvitation = (orgId: string, inviteId: string) =>
  api('DELETE', `${orgPath(orgId)}/invitations/${encodeURIComponent(inviteId)}`)
export const removeMember = (orgId: string, userId: string) =>
  api('DELETE', `${orgPath(orgId)}/members/${encodeURIComponent(userId)}`)
export const setRole = (orgId: string, userId: string, role: string, held: boolean) =>
  api(held ? 'PUT' : 'DELETE', `${orgPath(orgId)}/members/${encodeURIComponent(userId)}/roles/${encodeURIComponent(role)}`)

/** With a name and password: a new account for the invited address. Without: the signed-in user joins. */
export const acceptInvitation = (token: string, account?: { displayName: string, password: string }) =>
  api<{ orgId: string, userId: string }>('POST', `/v1/invitations/${encodeURIComponent(token)}/accept`, account)
