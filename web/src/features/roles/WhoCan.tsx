/**
 * "Who can do X": the members whose roles name an action (GET …/access),
 * each with the grants that name it and whether a check of the action on the
 * resource given is allowed for them (POST …/authz/check), as the API decides it.
 */
import { useMutation } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { Empty, ErrorText } from '../../lib/components.tsx'
import type { Member } from '../members/api.ts'
import { useCatalogue, whoCan, type Role } from './api.ts'

export function WhoCan ({ orgId, roles, members }: { orgId: string, roles: Role[], members: Map<string, Member> }) {
  const catalogue = useCatalogue()
  const [action, setAction] = useState('')
  const [type, setType] = useState('')
  const [id, setId] = useState('')
  const ask = useMutation({
    mutationFn: () => whoCan(orgId, action, { type: type === '' ? action.split(':')[0]! : type, ...(id === '' ? {} : { id }) })
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    ask.mutate()
  }
  const roleName = (roleId: string) => roles.find((role) => role.roleId === roleId)?.name ?? roleId
  const answer = ask.data
  return (
    <form className="inline-form who-can" onSubmit={submit} aria-label="Who can">
      <h2>Who can…</h2>
      <div className="field">
        <label htmlFor="who-action">Action</label>
        <select id="who-action" required value={action} onChange={(event) => setAction(event.target.value)}>
          <option value="">Pick an action…</option>
          {(catalogue.data ?? []).map((entry) => <option key={entry.action} value={entry.action}>{entry.action}</option>)}
        </select>
      </div>
      <div className="field">
        <label htmlFor="who-type">Resource type</label>
        <input id="who-type" value={type} placeholder={action.split(':')[0] ?? ''} onChange={(event) => setType(event.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="who-id">Resource id (optional)</label>
        <input id="who-id" value={id} onChange={(event) => setId(event.target.value)} />
      </div>
      <button type="submit" disabled={ask.isPending || action === ''}>Show who can</button>
      <ErrorText error={ask.error} />
      {answer !== undefined && answer.users.length === 0 && <Empty>No member's roles name this action.</Empty>}
      {answer !== undefined && answer.users.length > 0 && (
        <table className="list labelled" aria-label="Who can">
          <thead><tr><th scope="col">Member</th><th scope="col">Through</th><th scope="col">On this resource</th></tr></thead>
          <tbody>{answer.users.map((userId) => (
            <tr key={userId}>
              <th scope="row" data-label="Member">{members.get(userId)?.email ?? userId}</th>
              <td data-label="Through">{answer.holders.filter((holder) => holder.userId === userId).map((holder) =>
                `${roleName(holder.roleId)}: ${holder.effect} ${holder.pattern} on ${holder.resource}` +
                (holder.conditional ? ' (conditional)' : ''))
                .join('; ')}</td>
              <td data-label="On this resource">{answer.allowed.get(userId) === true ? 'allowed' : 'not allowed'}</td>
            </tr>
          ))}</tbody>
        </table>
      )}
    </form>
  )
}
