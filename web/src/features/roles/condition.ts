/**
 * A grant's condition (docs/roles.md, "Conditions") and the builder's
 * editable form of it. `toDraft` reads any stored tree and `toCondition`
 * writes it back unchanged: groups stay groups, a NOT stays a NOT (two stay
 * two), and a literal keeps its JSON type.
 */
export type Operand = unknown
export type Condition = Record<string, unknown>

export const REFERENCES = ['principal.id', 'principal.roles', 'context.ip', 'context.time', 'context.mfa', 'context.impersonating'] as const
export const COMPARISONS = ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'nin', 'contains', 'startsWith'] as const
export const OPERATORS = [...COMPARISONS, 'exists', 'ipInCidr', 'timeBetween'] as const
export type ClauseOperator = typeof OPERATORS[number]
export const SYMBOLS: Partial<Record<ClauseOperator, string>> = { eq: '=', ne: '≠', lt: '<', lte: '≤', gt: '>', gte: '≥' }

/** An operand being edited: a fixed reference, an attribute of the resource, or a literal written as JSON (or plain text). */
export interface OperandDraft { choice: string, text: string }
export type Draft =
  | { kind: 'group', op: 'and' | 'or', children: Draft[] }
  | { kind: 'not', child: Draft }
  | { kind: 'clause', op: ClauseOperator, left: OperandDraft, right: OperandDraft, texts: string[] }

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** A string shows as itself unless that would read as other JSON ("1000", "true"): then quoted. */
export function literalText (value: unknown): string {
  if (typeof value !== 'string') return JSON.stringify(value)
  try {
    JSON.parse(value)
    return JSON.stringify(value)
  } catch {
    return value
  }
}

export function parseLiteral (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

export function operandDraft (operand: Operand): OperandDraft {
  if (isRecord(operand) && typeof operand.ref === 'string') {
    const ref = operand.ref
    return ref.startsWith('resource.') ? { choice: 'resource', text: ref.slice('resource.'.length) } : { choice: ref, text: '' }
  }
  return { choice: 'value', text: literalText(operand) }
}

export function operandOf (draft: OperandDraft): Operand {
  if (draft.choice === 'value') return parseLiteral(draft.text)
  return { ref: draft.choice === 'resource' ? `resource.${draft.text}` : draft.choice }
}

const NO_OPERAND: OperandDraft = { choice: 'value', text: '' }

export const newClause = (): Draft =>
  ({ kind: 'clause', op: 'eq', left: { choice: 'resource', text: '' }, right: { choice: 'value', text: '' }, texts: [] })

export function toDraft (condition: Condition): Draft {
  const [op, operands] = Object.entries(condition)[0] ?? ['and', []]
  if (op === 'and' || op === 'or') return { kind: 'group', op, children: (operands as Condition[]).map(toDraft) }
  if (op === 'not') return { kind: 'not', child: toDraft(operands as Condition) }
  // exists has one operand; ipInCidr and timeBetween a reference, then texts (a CIDR; from, to and a zone).
  if (op === 'exists') return { kind: 'clause', op, left: operandDraft(operands), right: NO_OPERAND, texts: [] }
  const [left, right, ...rest] = operands as Operand[]
  if (op === 'ipInCidr' || op === 'timeBetween') {
    return { kind: 'clause', op, left: operandDraft(left), right: NO_OPERAND, texts: [right, ...rest].map(String) }
  }
  return { kind: 'clause', op: op as ClauseOperator, left: operandDraft(left), right: operandDraft(right), texts: [] }
}

export function toCondition (draft: Draft): Condition {
  if (draft.kind === 'group') return { [draft.op]: draft.children.map(toCondition) }
  if (draft.kind === 'not') return { not: toCondition(draft.child) }
  const left = operandOf(draft.left)
  if (draft.op === 'exists') return { exists: left }
  if (draft.op === 'ipInCidr') return { ipInCidr: [left, draft.texts[0] ?? ''] }
  if (draft.op === 'timeBetween') {
    const [from = '', to = '', zone = ''] = draft.texts
    return { timeBetween: zone === '' ? [left, from, to] : [left, from, to, zone] }
  }
  return { [draft.op]: [left, operandOf(draft.right)] }
}

const operandWords = (operand: Operand): string =>
  isRecord(operand) && typeof operand.ref === 'string' ? operand.ref : JSON.stringify(operand)

/** A condition in words, as the roles list and the test results show it. */
export function describe (condition: Condition): string {
  const [op, operands] = Object.entries(condition)[0] ?? ['?', []]
  if (op === 'and' || op === 'or') return `(${(operands as Condition[]).map(describe).join(` ${op} `)})`
  if (op === 'not') {
    const inner = describe(operands as Condition)
    return `not ${inner.startsWith('(') ? inner : `(${inner})`}`
  }
  if (op === 'exists') return `${operandWords(operands)} exists`
  const [left, ...rest] = operands as Operand[]
  const symbol = SYMBOLS[op as ClauseOperator] ?? op
  return `${operandWords(left)} ${symbol} ${rest.map(operandWords).join(' ')}`
}

/**
 * The clause an explanation names by its path in the tree (`and.1.or.0.eq`),
 * and its place as the builder numbers it ("1.2.1"): undefined when the path
 * does not lead to a clause of this tree.
 */
export function clauseAt (condition: Condition, path: string): { clause: Condition, place: string } | undefined {
  const steps = path.split('.')
  let node: unknown = condition
  const place: number[] = []
  for (let i = 0; i < steps.length; i++) {
    if (!isRecord(node) || !(steps[i]! in node)) return undefined
    const op = steps[i]!
    if (i === steps.length - 1) return { clause: node, place: place.join('.') }
    if (op === 'not') {
      node = node.not
      place.push(1)
    } else {
      const index = Number(steps[++i])
      node = (node[op] as unknown[])[index]
      place.push(index + 1)
    }
  }
  return undefined
}
