/** One clause of a condition: a reference (or a value), an operator, and what it is compared with. */
import type { ReactNode } from 'react'
import { OPERATORS, REFERENCES, SYMBOLS, type ClauseOperator, type Draft, type OperandDraft } from './condition.ts'

type Clause = Extract<Draft, { kind: 'clause' }>

/** The extra text operands of the operators that take them, by label. */
const TEXTS: Partial<Record<ClauseOperator, string[]>> = {
  ipInCidr: ['CIDR block'], timeBetween: ['from (HH:MM)', 'to (HH:MM)', 'time zone (optional)']
}

export function ClauseEditor ({ name, draft, change, remove }: {
  name: string, draft: Clause, change: (next: Draft) => void, remove: ReactNode
}) {
  const texts = TEXTS[draft.op]
  const setOp = (op: ClauseOperator) => change({ ...draft, op, texts: (TEXTS[op] ?? []).map((_, i) => draft.texts[i] ?? '') })
  return (
    <div className="node clause" role="group" aria-label={name}>
      <OperandField name={`${name}: left`} operand={draft.left} change={(left) => change({ ...draft, left })}
        referenceOnly={draft.op === 'exists'} />
      <select aria-label={`${name}: operator`} value={draft.op} onChange={(event) => setOp(event.target.value as ClauseOperator)}>
        {OPERATORS.map((op) => <option key={op} value={op}>{SYMBOLS[op] === undefined ? op : `${SYMBOLS[op]} (${op})`}</option>)}
      </select>
      {texts === undefined && draft.op !== 'exists' &&
        <OperandField name={`${name}: right`} operand={draft.right} change={(right) => change({ ...draft, right })} />}
      {texts?.map((label, i) => (
        <input key={label} aria-label={`${name}: ${label}`} placeholder={label} value={draft.texts[i] ?? ''}
          onChange={(event) => change({ ...draft, texts: texts.map((_, j) => (j === i ? event.target.value : draft.texts[j] ?? '')) })} />
      ))}
      {remove}
    </div>
  )
}

/** A select of references (and "a value"), with the attribute's name or the value beside it. */
function OperandField ({ name, operand, change, referenceOnly = false }: {
  name: string, operand: OperandDraft, change: (next: OperandDraft) => void, referenceOnly?: boolean
}) {
  return (
    <span className="operand">
      <select aria-label={name} value={operand.choice} onChange={(event) => change({ choice: event.target.value, text: '' })}>
        <option value="resource">resource.…</option>
        {REFERENCES.map((ref) => <option key={ref} value={ref}>{ref}</option>)}
        {(!referenceOnly || operand.choice === 'value') && <option value="value">a value</option>}
      </select>
      {operand.choice === 'resource' && (
        <input aria-label={`${name} attribute`} placeholder="attribute, e.g. amount" value={operand.text}
          onChange={(event) => change({ ...operand, text: event.target.value })} />
      )}
      {operand.choice === 'value' && (
        <input aria-label={`${name} value`} placeholder='text, 1000, true, ["eu","uk"]' value={operand.text}
          onChange={(event) => change({ ...operand, text: event.target.value })} />
      )}
    </span>
  )
}
