/**
 * The condition builder: groups (all of / any of), NOTs and clauses, nested
 * as deep as the API allows. Every field is named by its place in the tree
 * ("Grant 1, condition 2.1: operator"), the same numbering the test results
 * use for a clause that failed.
 */
import { newClause, type Draft } from './condition.ts'
import { ClauseEditor } from './ClauseEditor.tsx'

type Change = (next: Draft | undefined) => void

export function ConditionBuilder ({ grant, draft, change }: { grant: string, draft: Draft | undefined, change: Change }) {
  if (draft === undefined) {
    return (
      <div className="condition-empty">
        <span className="muted">No condition: the grant applies everywhere its resource matches.</span>
        <button type="button" className="secondary" onClick={() => change({ kind: 'group', op: 'and', children: [newClause()] })}>
          Add a condition to {grant}
        </button>
      </div>
    )
  }
  return (
    <div className="condition">
      <Node grant={grant} place={[]} draft={draft} change={change} />
    </div>
  )
}

const nameOf = (grant: string, place: number[]) => `${grant}, condition${place.length === 0 ? '' : ` ${place.join('.')}`}`

function Node ({ grant, place, draft, change }: { grant: string, place: number[], draft: Draft, change: Change }) {
  const name = nameOf(grant, place)
  const remove = (
    <button type="button" className="secondary small" onClick={() => change(undefined)} aria-label={`Remove ${name}`}>Remove</button>
  )
  if (draft.kind === 'clause') return <ClauseEditor name={name} draft={draft} change={change} remove={remove} />
  if (draft.kind === 'not') {
    return (
      <fieldset className="node not">
        <legend>NOT <span className="sr-only">{name}</span></legend>
        <Node grant={grant} place={[...place, 1]} draft={draft.child}
          change={(child) => change(child === undefined ? undefined : { kind: 'not', child })} />
        <div className="node-actions">{remove}</div>
      </fieldset>
    )
  }
  const setChild = (index: number, child: Draft | undefined) => {
    const children = child === undefined
      ? draft.children.filter((_, i) => i !== index)
      : draft.children.map((existing, i) => (i === index ? child : existing))
    change(children.length === 0 ? undefined : { ...draft, children })
  }
  const add = (child: Draft) => change({ ...draft, children: [...draft.children, child] })
  return (
    <fieldset className="node group">
      <legend>
        <select aria-label={`${name}: group`} value={draft.op}
          onChange={(event) => change({ ...draft, op: event.target.value as 'and' | 'or' })}>
          <option value="and">All of (and)</option>
          <option value="or">Any of (or)</option>
        </select>
      </legend>
      {draft.children.map((child, i) => (
        <Node key={i} grant={grant} place={[...place, i + 1]} draft={child} change={(next) => setChild(i, next)} />
      ))}
      <div className="node-actions">
        <button type="button" className="secondary small" onClick={() => add(newClause())} aria-label={`Add a clause to ${name}`}>
          + Clause
        </button>
        <button type="button" className="secondary small" aria-label={`Add a group to ${name}`}
          onClick={() => add({ kind: 'group', op: 'and', children: [newClause()] })}>+ Group</button>
        <button type="button" className="secondary small" aria-label={`Add a NOT to ${name}`}
          onClick={() => add({ kind: 'not', child: newClause() })}>+ NOT</button>
        {remove}
      </div>
    </fieldset>
  )
}
