/**
 * The organization the pages are about: the one in the address, else the
 * last one the user looked at (kept for the tab), else their first.
 */
import { useParams } from 'react-router'
import type { Membership } from '../auth/api.ts'

const KEY = 'ledgerline.org'

export function useCurrentOrg (memberships: Membership[] | undefined): string | undefined {
  const { orgId } = useParams()
  const known = (id: string | null | undefined) => id != null && memberships?.some((membership) => membership.orgId === id) === true
  if (orgId !== undefined) {
    if (known(orgId)) sessionStorage.setItem(KEY, orgId)
    return orgId
  }
  const last = sessionStorage.getItem(KEY)
  return known(last) ? last! : memberships?.[0]?.orgId
}
