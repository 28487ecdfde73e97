/**
 * Whether platform support may impersonate the organization's members. Anyone
 * who reads the organization sees it; owners change it (the API refuses the
 * others, and says so here). Turning it off ends every support session.
 */
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { ErrorText, Loading } from '../../lib/components.tsx'
import { sessionsKey, setSupportAccess, supportAccessKey, useSupportAccess } from './api.ts'

export function SupportAccess ({ orgId }: { orgId: string }) {
  const queries = useQueryClient()
  const access = useSupportAccess(orgId)
  const change = useMutation({
    mutationFn: (enabled: boolean) => setSupportAccess(orgId, enabled),
    onSuccess: () => Promise.all([
      queries.invalidateQueries({ queryKey: supportAccessKey(orgId) }),
      queries.invalidateQueries({ queryKey: sessionsKey(orgId) })
    ])
  })
  const enabled = access.data?.enabled
  return (
    <div>
      <h2>Support access</h2>
      {access.isPending && <Loading what="support access" />}
      <ErrorText error={access.error} />
      {enabled !== undefined && (
        <>
          <label className="imp-switch">
            <input type="checkbox" role="switch" checked={enabled} disabled={change.isPending}
              onChange={(event) => change.mutate(event.target.checked)} />
            {' '}Platform support may impersonate members of this organization
          </label>
          <p className="muted" role="status">
            {enabled ? 'On: support staff can act as a member, for a reason, traced like any session.'
              : 'Off: support staff cannot start a session here.'}
          </p>
        </>
      )}
      <ErrorText error={change.error} />
    </div>
  )
}
