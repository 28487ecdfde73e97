/** The organization's roles, built-in first, with their grants in words and their holders; custom ones can be edited, tested, deleted. */
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import { ApiProblem } from '../../lib/api.ts'
import { Empty, ErrorText } from '../../lib/components.tsx'
import type { Member } from '../members/api.ts'
import { rolesKey } from '../members/api.ts'
import { deleteRole, type Grant, type Role } from './api.ts'
import { describe } from './condition.ts'

export interface RowActions { edit: (role: Role) => void, test: (role: Role) => void }

export function RolesList ({ orgId, roles, members, actions }: {
  orgId: string, roles: Role[], members: Map<string, Member>, actions: RowActions
}) {
  const custom = roles.filter((role) => !role.builtIn).length
  return (
    <div>
      <h2>Roles</h2>
      <p className="muted" role="status">{roles.length - custom} built-in, {custom} custom</p>
      {custom === 0 && <Empty>No custom roles yet.</Empty>}
      <div className="table-scroll">
        <table className="list labelled roles-list" aria-label="Roles">
          <thead><tr><th scope="col">Role</th><th scope="col">Grants</th><th scope="col">Holders</th>
            <th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>{roles.map((role) => <RoleRow key={role.roleId} orgId={orgId} role={role} members={members} actions={actions} />)}</tbody>
        </table>
      </div>
    </div>
  )
}

export const grantWords = (grant: Grant): string =>
  `${grant.effect} ${grant.actions.join(', ')} on ${grant.resource}${grant.when === undefined ? '' : ` when ${describe(grant.when)}`}`

function RoleRow ({ orgId, role, members, actions }: { orgId: string, role: Role, members: Map<string, Member>, actions: RowActions }) {
  const queries = useQueryClient()
  const [confirming, setConfirming] = useState(false)
  const remove = useMutation({
    mutationFn: () => deleteRole(orgId, role.roleId),
    onSuccess: () => queries.invalidateQueries({ queryKey: rolesKey(orgId) }),
    onSettled: () => setConfirming(false)
  })
  const holders = (role.holders ?? []).map((userId) => members.get(userId)?.displayName ?? userId)
  return (
    <tr>
      <th scope="row" data-label="Role"><span className="role-name">{role.name}</span>
        {role.description !== '' && <div className="muted">{role.description}</div>}</th>
      <td data-label="Grants">
        <ul className="grant-list">{role.grants.map((grant, i) => <li key={i}><code>{grantWords(grant)}</code></li>)}</ul>
      </td>
      <td data-label="Holders">{role.builtIn ? <span className="muted">see Members</span> : holders.join(', ') || '—'}</td>
      <td className="row-actions">
        {!role.builtIn && <button type="button" className="secondary" onClick={() => actions.edit(role)}>
          Edit<span className="sr-only"> {role.name}</span></button>}
        <button type="button" className="secondary" onClick={() => actions.test(role)}>
          Test<span className="sr-only"> {role.name}</span></button>
        {!role.builtIn && (confirming
          ? <button type="button" className="danger" onClick={() => remove.mutate()} disabled={remove.isPending}>
              Confirm deleting {role.name}</button>
          : <button type="button" className="secondary" onClick={() => setConfirming(true)}>
              Delete<span className="sr-only"> {role.name}</span></button>)}
        <ErrorText error={remove.error} />
        <InUse error={remove.error} members={members} />
      </td>
    </tr>
  )
}

/** The holders an in-use refusal names, by name: whom to unassign first. */
function InUse ({ error, members }: { error: unknown, members: Map<string, Member> }) {
  if (!(error instanceof ApiProblem) || error.code !== 'rbac.role_in_use' || !Array.isArray(error.problem.holders)) return null
  const names = (error.problem.holders as unknown[]).map((userId) => members.get(String(userId))?.email ?? String(userId))
  return <p className="error">Held by {names.join(', ')}</p>
}
