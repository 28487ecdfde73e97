/** The signed-in user, their organizations and any impersonation: GET /v1/session, and the cookie sign-in and sign-out. */
import { useQuery } from '@tanstack/react-query'
import { api } from '../../lib/api.ts'

export interface Membership { orgId: string, name: string, plan: string, roles: string[] }
export interface Impersonation {
  sessionId: string
  orgId: string
  impersonator: { userId: string, email: string | null, displayName: string | null }
  via: 'support' | 'member'
  reason: string
  ticket: string | null
  breakGlass: boolean
  startedAt: string
  expiresAt: string
}
export interface Session {
  user: { userId: string, email: string, displayName: string, platformAdmin: boolean, platformSupport: boolean }
  token: { id: string, kind: string, expiresAt: string | null }
  memberships: Membership[]
  impersonation: Impersonation | null
}

export const sessionKey = ['session'] as const

export function useSession () {
  return useQuery({ queryKey: sessionKey, queryFn: () => api<Session>('GET', '/v1/session') })
}

export function signIn (email: string, password: string) {
  return api<{ userId: string, expiresAt: string | null }>('POST', '/v1/auth/session', { email, password })
}

export function signOut () {
  return api<{ signedOut: boolean }>('DELETE', '/v1/auth/session')
}
