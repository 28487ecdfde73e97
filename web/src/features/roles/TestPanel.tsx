/**
 * "Test this role": policy cases (action, resource, context, the decision
 * expected) run through POST …/roles/:roleId/test as a holder of the role,
 * with the API's explanation of each case: the grant that decided, and the clauses that failed.
 */
import { useMutation } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { ErrorText } from '../../lib/components.tsx'
import { testRole, useCatalogue, type CaseInput, type Role } from './api.ts'
import { AllowOrDeny } from './GrantsEditor.tsx'
import { TestResults } from './TestResults.tsx'

interface CaseDraft { action: string, type: string, id: string, attributes: string, context: string, expect: 'allow' | 'deny' }

const firstAction = (role: Role) => role.grants.flatMap((grant) => grant.actions).find((action) => !action.includes('*')) ?? ''
const newCase = (action: string): CaseDraft =>
  ({ action, type: action.split(':')[0] ?? '', id: '', attributes: '{}', context: '{}', expect: 'allow' })

/** A JSON object from a field, or the reason it is not one. */
function objectOf (text: string, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text.trim() === '' ? '{}' : text)
  } catch {
    throw new Error(`${what}: not JSON`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what}: a JSON object such as {"amount": 250}`)
  return value as Record<string, unknown>
}

function caseOf (draft: CaseDraft, index: number): CaseInput {
  const attributes = objectOf(draft.attributes, `Case ${index + 1} attributes`)
  const resource = { ...attributes, type: draft.type, ...(draft.id === '' ? {} : { id: draft.id }) }
  return { name: `Case ${index + 1}`, action: draft.action, resource, context: objectOf(draft.context, `Case ${index + 1} context`),
    expect: draft.expect }
}

export function TestPanel ({ orgId, role, roles, close }: { orgId: string, role: Role, roles: Role[], close: () => void }) {
  const catalogue = useCatalogue()
  const [cases, setCases] = useState<CaseDraft[]>(() => [newCase(firstAction(role))])
  const run = useMutation({ mutationFn: () => testRole(orgId, role.roleId, cases.map(caseOf)) })
  const set = (index: number, next: Partial<CaseDraft>) => setCases(cases.map((draft, i) => (i === index ? { ...draft, ...next } : draft)))
  const submit = (event: FormEvent) => {
    event.preventDefault()
    run.mutate()
  }
  return (
    <form className="test-panel" onSubmit={submit} aria-label={`Test ${role.name}`}>
      <h2>Test {role.name}</h2>
      <p className="muted">Each case holds this role alone. Attributes and context are JSON objects.</p>
      {cases.map((draft, i) => {
        const name = `Case ${i + 1}`
        return (
          <fieldset key={i} className="case">
            <legend>{name}</legend>
            <label>Action
              <select aria-label={`${name}: action`} value={draft.action} onChange={(event) => set(i, { action: event.target.value })}>
                <option value="">Pick an action…</option>
                {(catalogue.data ?? []).map(({ action }) => <option key={action} value={action}>{action}</option>)}
              </select>
            </label>
            <label>Resource type<input aria-label={`${name}: resource type`} value={draft.type}
              onChange={(event) => set(i, { type: event.target.value })} /></label>
            <label>Resource id<input aria-label={`${name}: resource id`} value={draft.id}
              onChange={(event) => set(i, { id: event.target.value })} /></label>
            <label>Attributes<input aria-label={`${name}: attributes`} value={draft.attributes}
              onChange={(event) => set(i, { attributes: event.target.value })} /></label>
            <label>Context<input aria-label={`${name}: context`} value={draft.context}
              onChange={(event) => set(i, { context: event.target.value })} /></label>
            <AllowOrDeny label="Expect" name={`${name}: expect`} value={draft.expect} change={(expect) => set(i, { expect })} />
            {cases.length > 1 &&
              <button type="button" className="secondary small" onClick={() => setCases(cases.filter((_, j) => j !== i))}>
                Remove {name}</button>}
          </fieldset>
        )
      })}
      <div className="form-actions">
        <button type="button" className="secondary" onClick={() => setCases([...cases, newCase(cases.at(-1)?.action ?? '')])}>
          Add a case</button>
        <button type="submit" disabled={run.isPending}>Run the cases</button>
        <button type="button" className="secondary" onClick={close}>Close</button>
      </div>
      <ErrorText error={run.error} />
      {run.data !== undefined && <TestResults report={run.data} roles={roles} />}
    </form>
  )
}
