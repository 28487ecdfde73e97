/**
 * Conditions: a JSON expression tree, validated by zod, stored with a grant
 * and compiled once into closures (never `eval` or `new Function`).
 *
 * Operands are literals or references: `principal.id`, `principal.roles`,
 * `resource.<attr>[.<attr>…]`, `context.ip`, `context.time`, `context.mfa`,
 * `context.impersonating`. A reference that resolves to nothing makes every
 * comparison with it false (and `not` of that true): write `exists` to
 * require an attribute.
 *
 * Semantics, shared by the compiler and the reference interpreter
 * (reference.ts), which the tests hold against each other:
 * - eq / ne: primitives by value, arrays element by element; ne needs both sides present.
 * - lt, lte, gt, gte: two numbers, or two strings (compared as text); anything else is false.
 * - in / nin: the left value is (not) an element of the right array.
 * - contains: an array holding the value, or a string holding the substring.
 * - startsWith: two strings.
 * - exists: present and not null.
 * - ipInCidr: an IPv4 or IPv6 address inside a CIDR literal (IPv4-mapped IPv6 counts as IPv4).
 * - timeBetween: the time of day of an ISO time or epoch ms, in a time zone
 *   (default UTC), within [from, to); from > to spans midnight.
 */
import { z } from 'zod'
import { LedgerlineError } from '../errors.ts'
import { parseCidr, parseIp, type Cidr } from './ip.ts'

export const LIMITS = Object.freeze({ depth: 8, nodes: 64, arrayItems: 100, stringLength: 1000 })

const REFERENCE = /^(principal\.(id|roles)|context\.(ip|time|mfa|impersonating)|resource(\.[A-Za-z_][A-Za-z0-9_]{0,63}){1,4})$/
const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/

export type Scalar = string | number | boolean | null
export type Literal = Scalar | Scalar[]
export type Operand = Literal | { ref: string }

export type Condition =
  | { and: Condition[] }
  | { or: Condition[] }
  | { not: Condition }
  | { eq: [Operand, Operand] } | { ne: [Operand, Operand] }
  | { lt: [Operand, Operand] } | { lte: [Operand, Operand] } | { gt: [Operand, Operand] } | { gte: [Operand, Operand] }
  | { in: [Operand, Operand] } | { nin: [Operand, Operand] }
  | { contains: [Operand, Operand] } | { startsWith: [Operand, Operand] }
  | { exists: { ref: string } }
  | { ipInCidr: [Operand, string] }
  | { timeBetween: [Operand, string, string] | [Operand, string, string, string] }

const scalar = z.union([z.string().max(LIMITS.stringLength), z.number().finite(), z.boolean(), z.null()])
const ref = z.object({ ref: z.string().regex(REFERENCE, 'a reference: principal.id, principal.roles, resource.<attr>, context.ip|time|mfa|impersonating') }).strict()
const operand = z.union([scalar, z.array(scalar).max(LIMITS.arrayItems), ref])
const pair = z.tuple([operand, operand])
const timeZone = z.string().max(64).refine((zone) => {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: zone })
    return true
  } catch {
    return false
  }
}, 'an IANA time zone such as Europe/Paris')

export const ConditionSchema: z.ZodType<Condition> = z.lazy(() => z.union([
  z.object({ and: z.array(ConditionSchema).min(1).max(LIMITS.nodes) }).strict(),
  z.object({ or: z.array(ConditionSchema).min(1).max(LIMITS.nodes) }).strict(),
  z.object({ not: ConditionSchema }).strict(),
  ...(['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'nin', 'contains', 'startsWith'] as const).map((op) => z.object({ [op]: pair }).strict()),
  z.object({ exists: ref }).strict(),
  z.object({ ipInCidr: z.tuple([operand, z.string().max(64).refine((cidr) => parseCidr(cidr) !== undefined, 'a CIDR such as 10.0.0.0/8 or 2001:db8::/32')]) }).strict(),
  z.object({
    timeBetween: z.union([
      z.tuple([operand, z.string().regex(HHMM, 'HH:MM'), z.string().regex(HHMM, 'HH:MM')]),
      z.tuple([operand, z.string().regex(HHMM, 'HH:MM'), z.string().regex(HHMM, 'HH:MM'), timeZone])
    ])
  }).strict()
])) as z.ZodType<Condition>

export class InvalidCondition extends LedgerlineError {
  readonly code = 'rbac.invalid_condition'
  readonly status = 400
  constructor (issues: ReadonlyArray<{ path: string, message: string }>) {
    super(`invalid condition: ${issues.slice(0, 5).map((issue) => `${issue.path === '' ? '(root)' : issue.path}: ${issue.message}`).join('; ')}`, { errors: issues.slice(0, 20) })
  }
}

/** Depth and node count, checked before the schema so a huge tree is refused without walking it all. */
function measure (value: unknown, depth: number, budget: { nodes: number }): string | undefined {
  if (depth > LIMITS.depth) return `nests deeper than ${LIMITS.depth} levels`
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  if (++budget.nodes > LIMITS.nodes) return `has more than ${LIMITS.nodes} clauses`
  const object = value as Record<string, unknown>
  for (const key of ['and', 'or']) {
    const children = object[key]
    if (Array.isArray(children)) for (const child of children) { const problem = measure(child, depth + 1, budget); if (problem !== undefined) return problem }
  }
  if ('not' in object) return measure(object.not, depth + 1, budget)
  return undefined
}

/** Validates a condition from outside (HTTP, CLI, stored events), or throws InvalidCondition. */
export function parseCondition (input: unknown): Condition {
  const tooBig = measure(input, 1, { nodes: 0 })
  if (tooBig !== undefined) throw new InvalidCondition([{ path: '', message: `the condition ${tooBig}` }])
  const parsed = ConditionSchema.safeParse(input)
  if (!parsed.success) throw new InvalidCondition(parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })))
  return parsed.data
}

/** What a condition is evaluated against. */
export interface EvaluationInput {
  readonly principal: { readonly id: string, readonly roles: readonly string[] }
  readonly resource: Readonly<Record<string, unknown>>
  readonly context: { readonly ip?: string, readonly time?: string | number, readonly mfa?: boolean, readonly impersonating?: boolean }
}

export type Compiled = (input: EvaluationInput) => boolean
type Getter = (input: EvaluationInput) => unknown

/** Own properties only: a resource attribute named `constructor` is just absent. */
function own (value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' && Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined
}

export function resolveReference (path: string, input: EvaluationInput): unknown {
  const [root, ...rest] = path.split('.')
  let value: unknown = own(input, root!)
  for (const key of rest) value = own(value, key)
  return value
}

/** Names that plain objects inherit: never read directly, so `resource.constructor` stays absent. */
const INHERITED = new Set(Object.getOwnPropertyNames(Object.prototype))

function getter (op: Operand): Getter {
  if (op !== null && typeof op === 'object' && !Array.isArray(op)) {
    const path = op.ref
    const [root, first, ...rest] = path.split('.') as [string, string, ...string[]]
    if (rest.length > 0 || INHERITED.has(first)) return (input) => resolveReference(path, input)
    // The common case, read directly (resources and contexts are plain JSON objects).
    if (root === 'resource') return (input) => input.resource[first]
    if (root === 'principal') return first === 'id' ? (input) => input.principal.id : (input) => input.principal.roles
    return (input) => (input.context as Record<string, unknown> | undefined)?.[first]
  }
  return () => op
}

export function equal (a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return false
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, index) => equal(item, b[index]))
  }
  return a === b || (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b))
}

export function order (a: unknown, b: unknown): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0
  return undefined
}

export function contains (haystack: unknown, needle: unknown): boolean {
  if (Array.isArray(haystack)) return haystack.some((item) => equal(item, needle))
  return typeof haystack === 'string' && typeof needle === 'string' && haystack.includes(needle)
}

export function inCidr (address: unknown, cidr: Cidr): boolean {
  if (typeof address !== 'string') return false
  const ip = parseIp(address)
  if (ip === undefined || ip.family !== cidr.family) return false
  return (ip.value >> cidr.shift) === cidr.prefix
}

const formatters = new Map<string, Intl.DateTimeFormat>()

/** Minutes since midnight of `time` (ISO text or epoch ms) in `zone`, or undefined. */
export function minutesOfDay (time: unknown, zone: string): number | undefined {
  const ms = typeof time === 'number' ? time : typeof time === 'string' ? Date.parse(time) : NaN
  if (!Number.isFinite(ms)) return undefined
  if (zone === 'UTC') {
    const date = new Date(ms)
    return date.getUTCHours() * 60 + date.getUTCMinutes()
  }
  let format = formatters.get(zone)
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
    formatters.set(zone, format)
  }
  const parts = format.formatToParts(ms)
  return Number(parts.find((p) => p.type === 'hour')!.value) * 60 + Number(parts.find((p) => p.type === 'minute')!.value)
}

export function hhmm (text: string): number {
  return Number(text.slice(0, 2)) * 60 + Number(text.slice(3, 5))
}

export function withinDay (minutes: number, from: number, to: number): boolean {
  return from <= to ? minutes >= from && minutes < to : minutes >= from || minutes < to
}

/** Compiles a parsed condition into one closure tree: no parsing, no lookups by name at check time. */
export function compileCondition (condition: Condition): Compiled {
  const c = condition as Record<string, unknown>
  if ('and' in c) {
    const parts = (c.and as Condition[]).map(compileCondition)
    if (parts.length === 1) return parts[0]!
    if (parts.length === 2) { const [a, b] = parts as [Compiled, Compiled]; return (input) => a(input) && b(input) }
    if (parts.length === 3) { const [a, b, d] = parts as [Compiled, Compiled, Compiled]; return (input) => a(input) && b(input) && d(input) }
    return (input) => {
      for (let i = 0; i < parts.length; i++) if (!parts[i]!(input)) return false
      return true
    }
  }
  if ('or' in c) {
    const parts = (c.or as Condition[]).map(compileCondition)
    return (input) => parts.some((part) => part(input))
  }
  if ('not' in c) {
    const inner = compileCondition(c.not as Condition)
    return (input) => !inner(input)
  }
  if ('exists' in c) {
    const get = getter(c.exists as Operand)
    return (input) => { const value = get(input); return value !== undefined && value !== null }
  }
  if ('ipInCidr' in c) {
    const [op, text] = c.ipInCidr as [Operand, string]
    const get = getter(op)
    const cidr = parseCidr(text)!
    return (input) => inCidr(get(input), cidr)
  }
  if ('timeBetween' in c) {
    const [op, from, to, zone = 'UTC'] = c.timeBetween as [Operand, string, string, string?]
    const get = getter(op)
    const start = hhmm(from)
    const end = hhmm(to)
    return (input) => { const minutes = minutesOfDay(get(input), zone); return minutes !== undefined && withinDay(minutes, start, end) }
  }
  const [op, operands] = Object.entries(c)[0] as [string, [Operand, Operand]]
  const left = getter(operands[0])
  const right = getter(operands[1])
  switch (op) {
    case 'eq': return (input) => equal(left(input), right(input))
    case 'ne': return (input) => { const a = left(input); const b = right(input); return a !== undefined && b !== undefined && !equal(a, b) }
    case 'lt': return (input) => { const o = order(left(input), right(input)); return o !== undefined && o < 0 }
    case 'lte': return (input) => { const o = order(left(input), right(input)); return o !== undefined && o <= 0 }
    case 'gt': return (input) => { const o = order(left(input), right(input)); return o !== undefined && o > 0 }
    case 'gte': return (input) => { const o = order(left(input), right(input)); return o !== undefined && o >= 0 }
    case 'in': {
      const literal = operands[1]
      if (Array.isArray(literal)) {
        // A literal list: a set lookup (its items are JSON scalars, so === is the equality).
        const members = new Set<unknown>(literal)
        return (input) => members.has(left(input))
      }
      return (input) => { const list = right(input); const value = left(input); return Array.isArray(list) && value !== undefined && list.some((item) => equal(item, value)) }
    }
    case 'nin': return (input) => { const list = right(input); const value = left(input); return Array.isArray(list) && value !== undefined && !list.some((item) => equal(item, value)) }
    case 'contains': return (input) => contains(left(input), right(input))
    case 'startsWith': return (input) => { const a = left(input); const b = right(input); return typeof a === 'string' && typeof b === 'string' && a.startsWith(b) }
  }
  throw new InvalidCondition([{ path: '', message: `unknown operator ${op}` }])
}
