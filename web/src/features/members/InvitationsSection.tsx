/** Pending invitations, newest first, a page at a time, each revocable. */
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { ErrorText, Empty, Loading } from '../../lib/components.tsx'
import { useCursorPages } from '../../lib/pages.ts'
import { invitationsKey, revokeInvitation, usePendingInvitations, type Invitation } from './api.ts'
import { Pager } from '../../lib/Pager.tsx'

export function InvitationsSection ({ orgId }: { orgId: string }) {
  const pages = useCursorPages()
  const invitations = usePendingInvitations(orgId, pages.cursor)
  return (
    <div>
      <h2>Pending invitations</h2>
      {invitations.isPending && <Loading what="invitations" />}
      <ErrorText error={invitations.error} />
      {invitations.data?.items.length === 0 && <Empty>No pending invitations.</Empty>}
      {invitations.data !== undefined && invitations.data.items.length > 0 && (
        <table className="list" aria-label="Pending invitations">
          <thead><tr><th scope="col">E-mail</th><th scope="col">Roles</th><th scope="col">Expires</th>
            <th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>{invitations.data.items.map((invitation) =>
            <InvitationRow key={invitation.inviteId} orgId={orgId} invitation={invitation} />)}</tbody>
        </table>
      )}
      <Pager label="Invitations" pages={pages} nextCursor={invitations.data?.nextCursor} />
    </div>
  )
}

function InvitationRow ({ orgId, invitation }: { orgId: string, invitation: Invitation }) {
  const queries = useQueryClient()
  const revoke = useMutation({
    mutationFn: () => revokeInvitation(orgId, invitation.inviteId),
    onSuccess: () => queries.invalidateQueries({ queryKey: invitationsKey(orgId) })
  })
  return (
    <tr>
      <td>{invitation.email}</td>
      <td>{invitation.roles.join(', ')}</td>
      <td><time dateTime={invitation.expiresAt}>{new Date(invitation.expiresAt).toLocaleString()}</time></td>
      <td>
        <button type="button" className="secondary" onClick={() => revoke.mutate()} disabled={revoke.isPending}>
          Revoke<span className="sr-only"> the invitation of {invitation.email}</span>
        </button>
        <ErrorText error={revoke.error} />
      </td>
    </tr>
  )
}
