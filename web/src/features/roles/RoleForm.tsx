/**
 * Creates a role, or edits one: its name and description (PATCH) and its
 * grants (PUT …/grants). A name in use shows by the name; the API's other
 * refusals (an escalation beyond what the author holds, an invalid
 * condition) by the grants, with the problem's detail.
 */
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { ApiProblem, fieldError } from '../../lib/api.ts'
import { ErrorText } from '../../lib/components.tsx'
import { rolesKey } from '../members/api.ts'
import { createRole, setGrants, updateRole, useCatalogue, type Role } from './api.ts'
import { grantDraft, grantOf, GrantsEditor, type GrantDraft } from './GrantsEditor.tsx'

/** Which refusal belongs by the name field; the rest belong by the grants. */
function nameError (error: unknown): unknown {
  if (error instanceof ApiProblem && error.code === 'rbac.role_name_taken') return error
  return fieldError(error, 'name')
}

export function RoleForm ({ orgId, role, close }: { orgId: string, role?: Role, close: () => void }) {
  const queries = useQueryClient()
  const catalogue = useCatalogue()
  const [name, setName] = useState(role?.name ?? '')
  const [description, setDescription] = useState(role?.description ?? '')
  const [grants, setGrantDrafts] = useState<GrantDraft[]>(role?.grants.map(grantDraft) ?? [])
  const save = useMutation({
    mutationFn: async () => {
      const written = grants.map(grantOf)
      if (role === undefined) return createRole(orgId, { name, description, grants: written })
      const changed = { ...(name === role.name ? {} : { name }), ...(description === role.description ? {} : { description }) }
      if (Object.keys(changed).length > 0) await updateRole(orgId, role.roleId, changed)
      return setGrants(orgId, role.roleId, written)
    },
    onSuccess: async () => {
      await queries.invalidateQueries({ queryKey: rolesKey(orgId) })
      close()
    }
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    save.mutate()
  }
  const title = role === undefined ? 'New role' : `Edit ${role.name}`
  const forName = nameError(save.error)
  const missing = save.error instanceof ApiProblem && Array.isArray(save.error.problem.actions)
    ? (save.error.problem.actions as unknown[]).map(String)
    : []
  return (
    <form className="role-form" onSubmit={submit} aria-label={title}>
      <h2>{title}</h2>
      <div className="field">
        <label htmlFor="role-name">Name</label>
        <input id="role-name" required value={name} onChange={(event) => setName(event.target.value)}
          aria-invalid={forName !== undefined} aria-describedby="role-name-error" />
        <ErrorText error={forName} id="role-name-error" />
      </div>
      <div className="field">
        <label htmlFor="role-description">Description</label>
        <input id="role-description" value={description} onChange={(event) => setDescription(event.target.value)} />
      </div>
      <h3>Grants</h3>
      <GrantsEditor grants={grants} change={setGrantDrafts} actions={(catalogue.data ?? []).map((entry) => entry.action)}
        error={save.error} />
      {forName === undefined && <ErrorText error={save.error} id="role-grants-error" />}
      {missing.length > 0 && <p className="error">Actions beyond yours: {missing.join(', ')}</p>}
      <div className="form-actions">
        <button type="submit" disabled={save.isPending}>{role === undefined ? 'Create role' : 'Save role'}</button>
        <button type="button" className="secondary" onClick={close}>Cancel</button>
      </div>
    </form>
  )
}
