/** Members and invitations of the organization in the URL: invite, revoke, remove, roles. */
import { useParams } from 'react-router'
import { useSession } from '../auth/api.ts'
import { InvitationsSection } from './InvitationsSection.tsx'
import { InviteForm } from './InviteForm.tsx'
import { MembersTable } from './MembersTable.tsx'

export function MembersPage () {
  const { orgId = '' } = useParams()
  const session = useSession()
  const org = session.data?.memberships.find((membership) => membership.orgId === orgId)
  return (
    <section aria-labelledby="members-title">
      <h1 id="members-title">Members{org === undefined ? '' : ` of ${org.name}`}</h1>
      <InviteForm orgId={orgId} />
      <MembersTable key={`members-${orgId}`} orgId={orgId} me={session.data?.user.userId} />
      <InvitationsSection key={`invitations-${orgId}`} orgId={orgId} />
    </section>
  )
}
