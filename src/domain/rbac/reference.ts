/**
 * A plain interpreter of conditions: walks the tree on every call. Slow and
 * obvious on purpose. The tests hold the compiled clause programs against it, and
 * `explain` uses it to say which clause failed.
 */
import { contains, equal, hhmm, inCidr, minutesOfDay, order, resolveReference, withinDay, type Condition, type EvaluationInput, type Operand } from './conditions.ts'
import { parseCidr } from './ip.ts'

function value (op: Operand, input: EvaluationInput): unknown {
  return op !== null && typeof op === 'object' && !Array.isArray(op) ? resolveReference(op.ref, input) : op
}

export interface Evaluation {
  readonly result: boolean
  /** Where the decision was made false (for an allow) — the path of the first failing clause, e.g. `and.1.lt`. */
  readonly failed?: string
}

export function evaluate (condition: Condition, input: EvaluationInput, path = ''): Evaluation {
  const at = (key: string): string => (path === '' ? key : `${path}.${key}`)
  const leaf = (key: string, result: boolean): Evaluation => (result ? { result } : { result, failed: at(key) })
  const c = condition as Record<string, unknown>
  if ('and' in c) {
    const parts = c.and as Condition[]
    for (let i = 0; i < parts.length; i++) {
      const inner = evaluate(parts[i]!, input, at(`and.${i}`))
      if (!inner.result) return inner
    }
    return { result: true }
  }
  if ('or' in c) {
    const parts = c.or as Condition[]
    for (let i = 0; i < parts.length; i++) if (evaluate(parts[i]!, input).result) return { result: true }
    return { result: false, failed: at('or') }
  }
  if ('not' in c) return leaf('not', !evaluate(c.not as Condition, input).result)
  if ('exists' in c) { const v = value(c.exists as Operand, input); return leaf('exists', v !== undefined && v !== null) }
  if ('ipInCidr' in c) {
    const [op, cidr] = c.ipInCidr as [Operand, string]
    return leaf('ipInCidr', inCidr(value(op, input), parseCidr(cidr)!))
  }
  if ('timeBetween' in c) {
    const [op, from, to, zone = 'UTC'] = c.timeBetween as [Operand, string, string, string?]
    const minutes = minutesOfDay(value(op, input), zone)
    return leaf('timeBetween', minutes !== undefined && withinDay(minutes, hhmm(from), hhmm(to)))
  }
  const [op, [l, r]] = Object.entries(c)[0] as [string, [Operand, Operand]]
  const a = value(l, input)
  const b = value(r, input)
  const o = order(a, b)
  const results: Record<string, () => boolean> = {
    eq: () => equal(a, b),
    ne: () => a !== undefined && b !== undefined && !equal(a, b),
    lt: () => o !== undefined && o < 0,
    lte: () => o !== undefined && o <= 0,
    gt: () => o !== undefined && o > 0,
    gte: () => o !== undefined && o >= 0,
    in: () => Array.isArray(b) && a !== undefined && b.some((item) => equal(item, a)),
    nin: () => Array.isArray(b) && a !== undefined && !b.some((item) => equal(item, a)),
    contains: () => contains(a, b),
    startsWith: () => typeof a === 'string' && typeof b === 'string' && a.startsWith(b)
  }
  return leaf(op, results[op]!())
}
