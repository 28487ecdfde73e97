/**
 * One layout for every signed-in page: the organization switcher, the
 * navigation, who is signed in and sign-out, and the impersonation banner
 * whenever the session is one. Without a session it sends the user to sign in.
 */
import { useMutation } from '@tanstack/react-query'
import { Navigate, NavLink, Outlet, useLocation, useNavigate } from 'react-router'
import { ApiProblem } from '../lib/api.ts'
import { ErrorText, Loading } from '../lib/components.tsx'
import { signInPath } from '../lib/navigation.ts'
import { queryClient } from '../lib/query.ts'
import { signOut, useSession } from '../features/auth/api.ts'
import { ImpersonationBanner, stopImpersonating } from '../features/impersonation/ImpersonationBanner.tsx'
import { useCurrentOrg } from '../features/organizations/current.ts'
import { useHolds } from '../features/organizations/holds.ts'
import { OrgSwitcher } from '../features/organizations/OrgSwitcher.tsx'

export function Layout () {
  const session = useSession()
  const location = useLocation()
  const navigate = useNavigate()
  const orgId = useCurrentOrg(session.data?.memberships)
  // Only for those who may set it: the page's routes declare ai:manage, which an impersonation never holds.
  const managesAi = useHolds(orgId, 'ai:manage', true)
  const out = useMutation({
    // During an impersonation, signing out ends it first (the session route is outside its organization).
    mutationFn: () => (session.data?.impersonation == null ? signOut().then(() => undefined) : stopImpersonating()),
    onSettled: async () => {
      queryClient.clear()
      await navigate('/sign-in', { replace: true })
    }
  })
  if (session.error instanceof ApiProblem && session.error.status === 401) {
    return <Navigate to={signInPath(`${location.pathname}${location.search}`, false)} replace />
  }
  if (session.isPending) return <main><Loading what="your session" /></main>
  if (session.data === undefined) return <main><ErrorText error={session.error} /></main>
  const { user, memberships, impersonation } = session.data
  return (
    <>
      {impersonation !== null && <ImpersonationBanner session={session.data} impersonation={impersonation} />}
      <header className="top">
        <a className="brand" href="/app/">Ledgerline</a>
        <OrgSwitcher memberships={memberships} current={orgId} />
        <nav aria-label="Pages">
          {orgId !== undefined && <NavLink to={`/orgs/${orgId}/members`}>Members</NavLink>}
          {orgId !== undefined && <NavLink to={`/orgs/${orgId}/audit`}>Audit log</NavLink>}
          {orgId !== undefined && <NavLink to={`/orgs/${orgId}/impersonations`}>Impersonation</NavLink>}
          {orgId !== undefined && <NavLink to={`/orgs/${orgId}/roles`}>Roles</NavLink>}
          {orgId !== undefined && <NavLink to={`/orgs/${orgId}/assistant`}>Assistant</NavLink>}
          {orgId !== undefined && managesAi && <NavLink to={`/orgs/${orgId}/ai-budget`}>AI budget</NavLink>}
          <NavLink to="/me/security-log">My security log</NavLink>
        </nav>
        <span className="who" title={user.email}>{user.displayName}</span>
        <button type="button" className="secondary" onClick={() => out.mutate()} disabled={out.isPending}>Sign out</button>
      </header>
      <main id="content"><Outlet /></main>
    </>
  )
}
