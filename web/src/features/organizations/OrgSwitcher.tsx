/** Picks the organization the pages show; switching keeps the page (members of one, members of the other). */
import { useLocation, useNavigate } from 'react-router'
import type { Membership } from '../auth/api.ts'

export function OrgSwitcher ({ memberships, current }: { memberships: Membership[], current: string | undefined }) {
  const navigate = useNavigate()
  const location = useLocation()
  if (memberships.length === 0) return <span className="muted">No organization</span>
  const change = (orgId: string) => {
    // On an organization's page, the same page of the other one; elsewhere, its members.
    const page = /^\/orgs\/[^/]+\/./.test(location.pathname) ? location.pathname.replace(/^\/orgs\/[^/]+/, '') : '/members'
    void navigate(`/orgs/${orgId}${page}`)
  }
  return (
    <span className="switcher">
      <label htmlFor="org-switcher">Organization</label>
      <select id="org-switcher" value={current ?? ''} onChange={(event) => change(event.target.value)}>
        {current === undefined && <option value="" disabled>Choose…</option>}
        {memberships.map((membership) => <option key={membership.orgId} value={membership.orgId}>{membership.name}</option>)}
      </select>
    </span>
  )
}
