/** The landing page: the first organization's members, or how to get one. */
import { Navigate } from 'react-router'
import { Empty } from '../../lib/components.tsx'
import { useSession } from '../auth/api.ts'

export function HomePage () {
  const session = useSession()
  const first = session.data?.memberships[0]
  if (first !== undefined) return <Navigate to={`/orgs/${first.orgId}/members`} replace />
  return (
    <section>
      <h1>Welcome</h1>
      <Empty>You are not a member of any organization yet: accept an invitation, or create one with the API (POST /v1/orgs).</Empty>
    </section>
  )
}
