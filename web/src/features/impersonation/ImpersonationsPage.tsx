/**
 * Impersonation in the organization of the address: start one (or ask for
 * break-glass), the sessions with what can be done to each, and support
 * access. The banner (ImpersonationBanner.tsx) takes over once a session runs.
 */
import { useParams } from 'react-router'
import { useSession } from '../auth/api.ts'
import { SessionsSection } from './SessionsSection.tsx'
import { StartForm } from './StartForm.tsx'
import { SupportAccess } from './SupportAccess.tsx'

export function ImpersonationsPage () {
  const { orgId = '' } = useParams()
  const session = useSession()
  const me = session.data?.user.userId
  const org = session.data?.memberships.find((membership) => membership.orgId === orgId)
  return (
    <section aria-labelledby="imp-title">
      <h1 id="imp-title">Impersonation{org === undefined ? '' : ` in ${org.name}`}</h1>
      <StartForm key={`start-${orgId}`} orgId={orgId} me={me} />
      <SessionsSection key={`sessions-${orgId}`} orgId={orgId} me={me} />
      <SupportAccess key={`support-${orgId}`} orgId={orgId} />
    </section>
  )
}
