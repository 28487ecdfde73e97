/** The members, a page at a time, with their built-in roles as switches and removal (two clicks: no dialog to miss). */
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import { ErrorText, Empty, Loading } from '../../lib/components.tsx'
import { useCursorPages } from '../../lib/pages.ts'
import { BUILT_IN_ROLES, membersKey, removeMember, setRole, useCustomRoles, useMembers, type Member, type Role } from './api.ts'
import { Pager } from '../../lib/Pager.tsx'

export function MembersTable ({ orgId, me }: { orgId: string, me: string | undefined }) {
  const pages = useCursorPages()
  const members = useMembers(orgId, pages.cursor)
  const customRoles = useCustomRoles(orgId).data ?? []
  return (
    <div>
      <h2>Members</h2>
      {members.isPending && <Loading what="members" />}
      <ErrorText error={members.error} />
      {members.data?.items.length === 0 && <Empty>No members on this page.</Empty>}
      {members.data !== undefined && members.data.items.length > 0 && (
        <table className="list" aria-label="Members">
          <thead><tr><th scope="col">Name</th><th scope="col">E-mail</th><th scope="col">Roles</th><th scope="col">Joined</th>
            <th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>{members.data.items.map((member) => <MemberRow key={member.userId} orgId={orgId} member={member} me={me}
            customRoles={customRoles} />)}</tbody>
        </table>
      )}
      <Pager label="Members" pages={pages} nextCursor={members.data?.nextCursor} />
    </div>
  )
}

function MemberRow ({ orgId, member, me, customRoles }: {
  orgId: string, member: Member, me: string | undefined, customRoles: Role[]
}) {
  const queries = useQueryClient()
  const [confirming, setConfirming] = useState(false)
  const refresh = () => queries.invalidateQueries({ queryKey: membersKey(orgId) })
  const role = useMutation({
    mutationFn: ({ name, held }: { name: string, held: boolean }) => setRole(orgId, member.userId, name, held), onSuccess: refresh
  })
  const remove = useMutation({ mutationFn: () => removeMember(orgId, member.userId), onSuccess: refresh })
  const custom = member.roles.filter((name) => !(BUILT_IN_ROLES as readonly string[]).includes(name))
  return (
    <tr>
      <td>{member.displayName}{member.userId === me ? ' (you)' : ''}</td>
      <td>{member.email}</td>
      <td>
        <fieldset className="roles">
          <legend className="sr-only">Roles of {member.email}</legend>
          {BUILT_IN_ROLES.map((name) => (
            <label key={name}>
              <input type="checkbox" checked={member.roles.includes(name)} disabled={role.isPending}
                onChange={(event) => role.mutate({ name, held: event.target.checked })} /> {name}
            </label>
          ))}
        </fieldset>
        <CustomRoles member={member} held={custom} roles={customRoles} busy={role.isPending}
          change={(name, held) => role.mutate({ name, held })} />
        <ErrorText error={role.error} />
      </td>
      <td><time dateTime={member.joinedAt}>{new Date(member.joinedAt).toLocaleDateString()}</time></td>
      <td>
        {confirming
          ? <>
              <button type="button" className="danger" onClick={() => remove.mutate()} disabled={remove.isPending}>
                Confirm removing {member.email}
              </button>
              <button type="button" className="secondary" onClick={() => setConfirming(false)}>Cancel</button>
            </>
          : <button type="button" className="secondary" onClick={() => setConfirming(true)}>
              {member.userId === me ? 'Leave' : 'Remove'}
            </button>}
        <ErrorText error={remove.error} />
      </td>
    </tr>
  )
}

/** Custom roles held (each removable) and a picker for the others; a role id the list does not know shows as is. */
function CustomRoles ({ member, held, roles, busy, change }: {
  member: Member, held: string[], roles: Role[], busy: boolean, change: (roleId: string, held: boolean) => void
}) {
  const nameOf = (roleId: string) => roles.find((role) => role.roleId === roleId)?.name ?? roleId
  const others = roles.filter((role) => !held.includes(role.roleId))
  return (
    <div className="custom-roles">
      {held.map((roleId) => (
        <span key={roleId} className="chip">{nameOf(roleId)}
          <button type="button" className="chip-remove" disabled={busy} onClick={() => change(roleId, false)}
            aria-label={`Remove the role ${nameOf(roleId)} from ${member.email}`}>×</button>
        </span>
      ))}
      {others.length > 0 && (
        <select aria-label={`Add a custom role to ${member.email}`} value="" disabled={busy}
          onChange={(event) => event.target.value !== '' && change(event.target.value, true)}>
          <option value="">Add a custom role…</option>
          {others.map((role) => <option key={role.roleId} value={role.roleId}>{role.name}</option>)}
        </select>
      )}
    </div>
  )
}
