/**
 * The organization's impersonation routes: the sessions (active, pending and
 * ended, a page at a time), starting one or asking for break-glass, approving,
 * denying, starting an approved one, revoking one or all, and support access.
 * A session started here from the dashboard goes into the session cookie
 * (the API answers `token: null` to a cookie caller): the page is then the
 * impersonation, and never sees its token.
 */
import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { api } from '../../lib/api.ts'
import { membersKey, type Member, type Page } from '../members/api.ts'

export const PAGE_SIZE = 10
export const STATUSES = ['all', 'active', 'pending', 'ended'] as const
export type StatusFilter = typeof STATUSES[number]

export interface SessionView {
  sessionId: string, orgId: string, impersonatorId: string, targetUserId: string, via: string, reason: string, ticket: string | null
  critical: boolean, breakGlass: boolean, durationMinutes: number
  /** denied, pending, approved, active, stopped, revoked or expired */
  status: string
  requestedAt: string, approvedBy: string | null, approvedAt: string | null, startedAt: string | null, expiresAt: string | null
  endedAt: string | null, endedBy: string | null, endReason: string | null, actions: number, blockedActions: number
}
export interface Started { sessionId: string, status: 'active' | 'pending', token: string | null, expiresAt: string | null }
export interface StartInput { targetUserId: string, reason: string, ticket?: string, durationMinutes?: number }

const orgPath = (orgId: string) => `/v1/orgs/${encodeURIComponent(orgId)}`
const sessionPath = (orgId: string, sessionId: string) => `${orgPath(orgId)}/impersonations/${encodeURIComponent(sessionId)}`

export const sessionsKey = (orgId: string) => ['orgs', orgId, 'impersonations'] as const
export const supportAccessKey = (orgId: string) => ['orgs', orgId, 'support-access'] as const

export function useSessions (orgId: string, status: StatusFilter, cursor: string | undefined) {
  return useQuery({
    queryKey: [...sessionsKey(orgId), status, cursor ?? null],
    queryFn: () => api<{ items: SessionView[], nextCursor: string | null }>('GET', `${orgPath(orgId)}/impersonations?${
      new URLSearchParams({ status, limit: String(PAGE_SIZE), ...(cursor === undefined ? {} : { cursor }) }).toString()}`),
    placeholderData: keepPreviousData
  })
}

export function useSupportAccess (orgId: string) {
  return useQuery({
    queryKey: supportAccessKey(orgId),
    queryFn: () => api<{ enabled: boolean }>('GET', `${orgPath(orgId)}/support-access`)
  })
}

export const startImpersonation = (orgId: string, input: StartInput) => api<Started>('POST', `${orgPath(orgId)}/impersonations`, input)
export const startApproved = (orgId: string, sessionId: string) => api<Started>('POST', `${sessionPath(orgId, sessionId)}/start`)
export const approveSession = (orgId: string, sessionId: string) => api('POST', `${sessionPath(orgId, sessionId)}/approve`)
/** Ends the caller's own session, or withdraws their pending request. */
export const stopSession = (orgId: string, sessionId: string) => api('POST', `${sessionPath(orgId, sessionId)}/stop`)

/** Deny and revoke take the person's words as an optional `reason`; a blank one is left out. */
const why = (reason: string) => (reason.trim() === '' ? undefined : { reason: reason.trim() })
export const denySession = (orgId: string, sessionId: string, reason: string) =>
  api('POST', `${sessionPath(orgId, sessionId)}/deny`, why(reason))
export const revokeSession = (orgId: string, sessionId: string, reason: string) =>
  api('POST', `${sessionPath(orgId, sessionId)}/revoke`, why(reason))
export const revokeAll = (orgId: string, reason: string) =>
  api<{ revoked: string[] }>('POST', `${orgPath(orgId)}/impersonations/revoke-all`, why(reason))

export const setSupportAccess = (orgId: string, enabled: boolean) => api('PUT', `${orgPath(orgId)}/support-access`, { enabled })

/** The organization's members (the first 200), to pick whom to impersonate and to name the people in the sessions. */
export function useMemberDirectory (orgId: string) {
  return useQuery({
    queryKey: [...membersKey(orgId), 'directory'],
    queryFn: () => api<Page<Member>>('GET', `${orgPath(orgId)}/members?limit=200`),
    staleTime: 60_000
  })
}
