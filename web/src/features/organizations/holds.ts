/**
 * Whether the signed-in user's roles here name an action, for the navigation
 * to leave out a page its API would refuse them. Asked of GET …/access (who
 * holds an action, role:read), not of the page's own route: a refused
 * sensitive action is written to the audit log, and a page view is no
 * attempt. A hint only: a condition on the grant may still refuse, and the
 * page then shows the API's 403. Some actions are blocked while
 * impersonating whatever the roles (src/domain/impersonation/blocked.ts):
 * the caller says so. Someone without role:read is not shown the link.
 */
import { useQuery } from '@tanstack/react-query'
import { api } from '../../lib/api.ts'
import { useSession } from '../auth/api.ts'

interface Holder { userId: string, effect: 'allow' | 'deny', conditional: boolean }

export function useHolds (orgId: string | undefined, action: string, blockedWhileImpersonating: boolean): boolean {
  const session = useSession().data
  const userId = session?.user.userId
  // Only of an organization the session lists: the address may name another, which the API answers 404.
  const member = session?.memberships.some((membership) => membership.orgId === orgId) === true
  const asked = member && userId !== undefined && !(blockedWhileImpersonating && session?.impersonation != null)
  const access = useQuery({
    queryKey: ['orgs', orgId, 'access', action],
    queryFn: () => api<{ holders: Holder[] }>('GET', `/v1/orgs/${encodeURIComponent(orgId ?? '')}/access?${
      new URLSearchParams({ action }).toString()}`),
    enabled: asked,
    staleTime: 60_000,
    retry: false
  })
  const mine = access.data?.holders.filter((holder) => holder.userId === userId) ?? []
  return asked && mine.some((holder) => holder.effect === 'allow') &&
    !mine.some((holder) => holder.effect === 'deny' && !holder.conditional)
}
