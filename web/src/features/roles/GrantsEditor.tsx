/** A role's grants being edited: actions, resource, allow or deny, and a condition built in the condition builder. */
import { ApiProblem } from '../../lib/api.ts'
import type { Grant } from './api.ts'
import { toCondition, toDraft, type Draft } from './condition.ts'
import { ConditionBuilder } from './ConditionBuilder.tsx'

export interface GrantDraft { actions: string, resource: string, effect: 'allow' | 'deny', when: Draft | undefined }

export const grantDraft = (grant: Grant): GrantDraft =>
  ({ actions: grant.actions.join(', '), resource: grant.resource, effect: grant.effect, when: grant.when && toDraft(grant.when) })

export function grantOf (draft: GrantDraft): Grant {
  const actions = draft.actions.split(/[\s,]+/).filter((action) => action !== '')
  const when = draft.when === undefined ? {} : { when: toCondition(draft.when) }
  return { actions, resource: draft.resource.trim(), effect: draft.effect, ...when }
}

/** Allow or deny: a grant's effect, or the decision a test case expects. */
export function AllowOrDeny ({ label, name, value, change }: {
  label: string, name: string, value: 'allow' | 'deny', change: (next: 'allow' | 'deny') => void
}) {
  return (
    <label>{label}
      <select aria-label={name} value={value} onChange={(event) => change(event.target.value as 'allow' | 'deny')}>
        <option value="allow">allow</option>
        <option value="deny">deny</option>
      </select>
    </label>
  )
}

/** What the API's schema refused in this grant (its `errors`, by JSON pointer), to show in the grant: `actions/0: <message>`. */
function grantErrors (error: unknown, index: number): string[] {
  if (!(error instanceof ApiProblem)) return []
  const prefix = `/grants/${index}`
  return (error.problem.errors ?? []).filter((entry) => entry.path === prefix || entry.path?.startsWith(`${prefix}/`) === true)
    .map((entry) => `${entry.path!.slice(prefix.length + 1) || 'grant'}: ${entry.message ?? ''}`)
}

const NEW_GRANT: GrantDraft = { actions: '', resource: '*', effect: 'allow', when: undefined }

export function GrantsEditor ({ grants, change, actions, error }: {
  grants: GrantDraft[], change: (next: GrantDraft[]) => void, actions: string[], error: unknown
}) {
  const set = (index: number, next: Partial<GrantDraft>) => change(grants.map((grant, i) => (i === index ? { ...grant, ...next } : grant)))
  return (
    <div className="grants">
      <datalist id="role-actions">{actions.map((action) => <option key={action} value={action} />)}</datalist>
      {grants.map((grant, i) => {
        const name = `Grant ${i + 1}`
        return (
          <fieldset key={i} className="grant">
            <legend>{name}</legend>
            <div className="grant-fields">
              <label>Actions <small className="muted">(comma-separated)</small>
                <input aria-label={`${name}: actions`} list="role-actions" value={grant.actions}
                  onChange={(event) => set(i, { actions: event.target.value })} />
              </label>
              <label>Resource
                <input aria-label={`${name}: resource`} value={grant.resource}
                  onChange={(event) => set(i, { resource: event.target.value })} />
              </label>
              <AllowOrDeny label="Effect" name={`${name}: effect`} value={grant.effect} change={(effect) => set(i, { effect })} />
            </div>
            <ConditionBuilder grant={name} draft={grant.when} change={(when) => set(i, { when })} />
            {grantErrors(error, i).map((text) => <p key={text} className="error">{name}, {text}</p>)}
            <button type="button" className="secondary small" onClick={() => change(grants.filter((_, j) => j !== i))}>
              Remove grant {i + 1}
            </button>
          </fieldset>
        )
      })}
      <button type="button" className="secondary" onClick={() => change([...grants, NEW_GRANT])}>Add a grant</button>
    </div>
  )
}
