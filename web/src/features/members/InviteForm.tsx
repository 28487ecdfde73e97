/** Invites an address with one built-in role; shows the link to send once (the token is in that answer only). */
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { fieldError } from '../../lib/api.ts'
import { ErrorText } from '../../lib/components.tsx'
import { BUILT_IN_ROLES, invitationsKey, invite, type CreatedInvitation } from './api.ts'

export function acceptLink (created: CreatedInvitation): string {
  return `${window.location.origin}/app/invitations/${encodeURIComponent(created.token)}?email=${encodeURIComponent(created.email)}`
}

export function InviteForm ({ orgId }: { orgId: string }) {
  const queries = useQueryClient()
  const [email, setEmail] = useState('')
  const [role, setRole] = useState<string>('member')
  const mutation = useMutation({
    mutationFn: () => invite(orgId, email, [role]),
    onSuccess: async () => {
      setEmail('')
      await queries.invalidateQueries({ queryKey: invitationsKey(orgId) })
    }
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    mutation.mutate()
  }
  const emailError = fieldError(mutation.error, 'email')
  return (
    <form className="inline-form" onSubmit={submit} aria-label="Invite someone">
      <h2>Invite someone</h2>
      <div className="field">
        <label htmlFor="invite-email">E-mail</label>
        <input id="invite-email" type="email" required value={email} onChange={(e) => setEmail(e.target.value)}
          aria-invalid={emailError !== undefined} aria-describedby="invite-error" />
      </div>
      <div className="field">
        <label htmlFor="invite-role">Role</label>
        <select id="invite-role" value={role} onChange={(e) => setRole(e.target.value)}>
          {BUILT_IN_ROLES.map((name) => <option key={name} value={name}>{name}</option>)}
        </select>
      </div>
      <button type="submit" disabled={mutation.isPending}>Invite</button>
      <ErrorText error={emailError ?? mutation.error} id="invite-error" />
      {mutation.data !== undefined && (
        <div className="created" role="status">
          <p>Invitation for <b>{mutation.data.email}</b> created. Send them this link (shown only now):</p>
          <input aria-label="Invitation link" readOnly value={acceptLink(mutation.data)} onFocus={(e) => e.target.select()} />
        </div>
      )}
    </form>
  )
}
