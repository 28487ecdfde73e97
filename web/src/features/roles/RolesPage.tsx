/**
 * Roles and permissions of the organization in the address: the roles with
 * their grants and holders, a form to create or edit one (with the
 * condition builder), a panel to test one, and who can do an action.
 */
import { useState } from 'react'
import { useParams } from 'react-router'
import { ErrorText, Loading } from '../../lib/components.tsx'
import { useSession } from '../auth/api.ts'
import { useMemberNames, useRoles, type Role } from './api.ts'
import { RoleForm } from './RoleForm.tsx'
import { RolesList } from './RolesList.tsx'
import { TestPanel } from './TestPanel.tsx'
import { WhoCan } from './WhoCan.tsx'

type Open = { kind: 'none' } | { kind: 'create' } | { kind: 'edit', role: Role } | { kind: 'test', role: Role }

export function RolesPage () {
  const { orgId = '' } = useParams()
  const session = useSession()
  const org = session.data?.memberships.find((membership) => membership.orgId === orgId)
  const roles = useRoles(orgId)
  const members = useMemberNames(orgId).data ?? new Map()
  const [open, setOpen] = useState<Open>({ kind: 'none' })
  const close = () => setOpen({ kind: 'none' })
  return (
    <section aria-labelledby="roles-title" key={orgId}>
      <h1 id="roles-title">Roles &amp; permissions{org === undefined ? '' : ` of ${org.name}`}</h1>
      {open.kind === 'none' && <button type="button" onClick={() => setOpen({ kind: 'create' })}>New role</button>}
      {open.kind === 'create' && <RoleForm orgId={orgId} close={close} />}
      {open.kind === 'edit' && <RoleForm key={open.role.roleId} orgId={orgId} role={open.role} close={close} />}
      {open.kind === 'test' && roles.data !== undefined &&
        <TestPanel key={open.role.roleId} orgId={orgId} role={open.role} roles={roles.data} close={close} />}
      {roles.isPending && <Loading what="roles" />}
      <ErrorText error={roles.error} />
      {roles.data !== undefined && (
        <RolesList orgId={orgId} roles={roles.data} members={members}
          actions={{ edit: (role) => setOpen({ kind: 'edit', role }), test: (role) => setOpen({ kind: 'test', role }) }} />
      )}
      {roles.data !== undefined && <WhoCan orgId={orgId} roles={roles.data} members={members} />}
    </section>
  )
}
