/**
 * After a start answered 201 to the dashboard, the session cookie holds the
 * impersonation: everything cached belongs to the impersonator, so it goes,
 * and the member's own members page opens under the banner.
 */
import { useNavigate } from 'react-router'
import { queryClient } from '../../lib/query.ts'

export function useEnterImpersonation (orgId: string): () => Promise<void> {
  const navigate = useNavigate()
  return async () => {
    queryClient.clear()
    await navigate(`/orgs/${orgId}/members`)
  }
}
