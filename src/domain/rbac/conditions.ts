/**
 * Conditions: a JSON expression tree, validated by zod, stored with a grant
 * and compiled once into flat clause records that one interpreter reads
 * (never `eval` or `new Function`).
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
import { ipInCidr, parseCidr, parseIp, type Cidr } from './ip.ts'

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

/** A condition as one function of an input, for callers holding an EvaluationInput (tests, tools). */
export type Compiled = (input: EvaluationInput) => boolean
type Principal = EvaluationInput['principal']
type Resource = EvaluationInput['resource']
type Context = EvaluationInput['context']

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

// Where an operand's value comes from at check time.
const LITERAL = 0
const RESOURCE = 1 // resource.<key>
const PRINCIPAL_ID = 2
const PRINCIPAL_ROLES = 3
const CONTEXT = 4 // context.<key>
const PATH = 5 // a nested or inherited name: resolveReference(path)
// resource.type and resource.id, which every resource pattern reads: named loads, cheaper than resource[key].
const RESOURCE_TYPE = 6
const RESOURCE_ID = 7

// Operators. The *_SCALAR and IN_LIST/IN_SET forms compare with a literal scalar or list by ===.
const OR = 1
const NOT = 2
const EXISTS = 3
const IP_IN_CIDR = 4
const TIME_BETWEEN = 5
const EQ_SCALAR = 6
const NE_SCALAR = 7
const IN_LIST = 8
const IN_SET = 9
const EQ = 10
const NE = 11
const LT = 12
const LTE = 13
const GT = 14
const GTE = 15
const IN = 16
const NIN = 17
const CONTAINS = 18
const STARTS_WITH = 19
const BINARY = new Map(Object.entries({ eq: EQ, ne: NE, lt: LT, lte: LTE, gt: GT, gte: GTE, in: IN, nin: NIN, contains: CONTAINS, startsWith: STARTS_WITH }))

/**
 * A compiled condition: the clauses that must all hold, as one flat array of
 * records of CLAUSE slots, `[op, leftFrom, left, rightFrom, right, arg]`,
 * which `holds` reads in one switch. Flat data rather than a tree of closures
 * or of small objects: a check costs mostly its calls and the cache lines it
 * touches.
 * `left` and `right` hold a literal, an attribute name, or a whole reference
 * (PATH); `arg` what the operator needs besides: a literal list or set, a
 * CIDR, a time window, the clauses of each `or` branch or of a `not`.
 */
export type Clauses = readonly unknown[]

const CLAUSE = 6
const LEFT_FROM = 1
const LEFT = 2
const RIGHT_FROM = 3
const RIGHT = 4
const ARG = 5

interface TimeWindow { readonly start: number, readonly end: number, readonly zone: string }
type Side = readonly [from: number, operand: unknown]

const NOTHING: Side = [LITERAL, undefined]

function side (op: Operand): Side {
  if (op === null || typeof op !== 'object' || Array.isArray(op)) return [LITERAL, op]
  const [root, first, ...rest] = op.ref.split('.') as [string, string, ...string[]]
  if (rest.length > 0 || INHERITED.has(first)) return [PATH, op.ref]
  // The common cases, read directly (resources and contexts are plain JSON objects).
  if (root === 'resource') return first === 'type' ? [RESOURCE_TYPE, first] : first === 'id' ? [RESOURCE_ID, first] : [RESOURCE, first]
  if (root === 'principal') return [first === 'id' ? PRINCIPAL_ID : PRINCIPAL_ROLES, first]
  return [CONTEXT, first]
}

function read (from: number, operand: unknown, principal: Principal, resource: Resource, context: Context): unknown {
  switch (from) {
    case LITERAL: return operand
    case RESOURCE: return resource[operand as string]
    case RESOURCE_TYPE: return resource.type
    case RESOURCE_ID: return resource.id
    case PRINCIPAL_ID: return principal.id
    case PRINCIPAL_ROLES: return principal.roles
    case CONTEXT: return (context as Record<string, unknown> | undefined)?.[operand as string]
    default: return resolveReference(operand as string, { principal, resource, context })
  }
}

function record (out: unknown[], op: number, [leftFrom, left]: Side, [rightFrom, right]: Side = NOTHING, arg: unknown = undefined): void {
  out.push(op, leftFrom, left, rightFrom, right, arg)
}

/** A literal that === compares as `equal` does: not an array, not undefined, not NaN. */
function isScalar (op: Operand): boolean {
  return typeof op === 'string' || typeof op === 'boolean' || op === null || (typeof op === 'number' && !Number.isNaN(op))
}

function compileBinary (out: unknown[], op: string, [l, r]: [Operand, Operand]): void {
  const code = BINARY.get(op)
  if (code === undefined) throw new InvalidCondition([{ path: '', message: `unknown operator ${op}` }])
  if ((code === EQ || code === NE) && (isScalar(l) || isScalar(r))) {
    // Both are symmetric: the literal goes right.
    const [other, literal] = isScalar(r) ? [l, r] : [r, l]
    return record(out, code === EQ ? EQ_SCALAR : NE_SCALAR, side(other), side(literal))
  }
  if (code === IN && Array.isArray(r) && r.every(isScalar)) {
    return record(out, r.length <= 8 ? IN_LIST : IN_SET, side(l), NOTHING, r.length <= 8 ? [...r] : new Set(r))
  }
  record(out, code, side(l), side(r))
}

function compileInto (out: unknown[], condition: Condition): void {
  const c = condition as Record<string, unknown>
  if ('and' in c) {
    for (const part of c.and as Condition[]) compileInto(out, part)
    return
  }
  if ('or' in c) return record(out, OR, NOTHING, NOTHING, (c.or as Condition[]).map(compileClauses))
  if ('not' in c) return record(out, NOT, NOTHING, NOTHING, compileClauses(c.not as Condition))
  if ('exists' in c) return record(out, EXISTS, side(c.exists as Operand))
  if ('ipInCidr' in c) {
    const [op, text] = c.ipInCidr as [Operand, string]
    return record(out, IP_IN_CIDR, side(op), NOTHING, parseCidr(text)!)
  }
  if ('timeBetween' in c) {
    const [op, from, to, zone = 'UTC'] = c.timeBetween as [Operand, string, string, string?]
    const window: TimeWindow = { start: hhmm(from), end: hhmm(to), zone }
    return record(out, TIME_BETWEEN, side(op), NOTHING, window)
  }
  const [op, operands] = Object.entries(c)[0] as [string, [Operand, Operand]]
  compileBinary(out, op, operands)
}

/** Compiles a parsed condition once: no parsing and no lookups by name at check time. */
export function compileClauses (condition: Condition): unknown[] {
  const out: unknown[] = []
  compileInto(out, condition)
  return out
}

export function compileCondition (condition: Condition): Compiled {
  const clauses = compileClauses(condition)
  return (input) => allHold(clauses, 0, clauses.length, input.principal, input.resource, input.context)
}

/** Whether every clause from index `start` to `end` holds (an array may carry other slots around its clauses). */
export function allHold (clauses: Clauses, start: number, end: number, principal: Principal, resource: Resource, context: Context): boolean {
  for (let at = start; at < end; at += CLAUSE) if (!holds(clauses, at, principal, resource, context)) return false
  return true
}

function holds (clauses: Clauses, at: number, principal: Principal, resource: Resource, context: Context): boolean {
  const op = clauses[at] as number
  const left = read(clauses[at + LEFT_FROM] as number, clauses[at + LEFT], principal, resource, context)
  switch (op) {
    case EQ_SCALAR: return left === clauses[at + RIGHT]
    case NE_SCALAR: return left !== undefined && left !== clauses[at + RIGHT]
    case IN_LIST: return (clauses[at + ARG] as unknown[]).includes(left)
    case IN_SET: return (clauses[at + ARG] as Set<unknown>).has(left)
    case EXISTS: return left !== undefined && left !== null
    case IP_IN_CIDR: return typeof left === 'string' && ipInCidr(left, clauses[at + ARG] as Cidr)
    case TIME_BETWEEN: {
      const window = clauses[at + ARG] as TimeWindow
      const minutes = minutesOfDay(left, window.zone)
      return minutes !== undefined && withinDay(minutes, window.start, window.end)
    }
    case OR: {
      const branches = clauses[at + ARG] as Clauses[]
      for (const branch of branches) if (allHold(branch, 0, branch.length, principal, resource, context)) return true
      return false
    }
    case NOT: {
      const inner = clauses[at + ARG] as Clauses
      return !allHold(inner, 0, inner.length, principal, resource, context)
    }
  }
  const right = read(clauses[at + RIGHT_FROM] as number, clauses[at + RIGHT], principal, resource, context)
  switch (op) {
    case EQ: return equal(left, right)
    case NE: return left !== undefined && right !== undefined && !equal(left, right)
    case LT: { const o = order(left, right); return o !== undefined && o < 0 }
    case LTE: { const o = order(left, right); return o !== undefined && o <= 0 }
    case GT: { const o = order(left, right); return o !== undefined && o > 0 }
    case GTE: { const o = order(left, right); return o !== undefined && o >= 0 }
    case IN: return Array.isArray(right) && left !== undefined && right.some((item) => equal(item, left))
    case NIN: return Array.isArray(right) && left !== undefined && !right.some((item) => equal(item, left))
    case CONTAINS: return contains(left, right)
    default: return typeof left === 'string' && typeof right === 'string' && left.startsWith(right)
  }
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

/** The obvious reading, kept for the reference interpreter; compiled conditions use ipInCidr, which spares the bigints. */
export function inCidr (address: unknown, cidr: Cidr): boolean {
  if (typeof address !== 'string') return false
  const ip = parseIp(address)
  if (ip === undefined || ip.family !== cidr.family) return false
  return (ip.value >> cidr.shift) === cidr.prefix
}

const formatters = new Map<string, Intl.DateTimeFormat>()
/** Per zone, the UTC offset found for the last quarter hour asked about: formatting a date costs about 10 µs. */
const offsets = new Map<string, { quarter: number, offset: number }>()
const QUARTER_MS = 15 * 60_000
/** From here on every zone's offset is whole minutes and changes only at a quarter hour of UTC. */
const WHOLE_MINUTE_OFFSETS_SINCE = Date.UTC(1972, 6, 1)

/** Minutes since midnight of `time` (ISO text or epoch ms) in `zone`, or undefined. */
export function minutesOfDay (time: unknown, zone: string): number | undefined {
  const ms = typeof time === 'number' ? time : typeof time === 'string' ? Date.parse(time) : NaN
  if (!Number.isFinite(ms)) return undefined
  const utc = Math.floor(ms / 60_000) % 1440
  const utcMinutes = utc < 0 ? utc + 1440 : utc
  if (zone === 'UTC') return utcMinutes
  if (ms < WHOLE_MINUTE_OFFSETS_SINCE) return formattedMinutes(ms, zone)
  const quarter = Math.floor(ms / QUARTER_MS)
  let known = offsets.get(zone)
  if (known === undefined || known.quarter !== quarter) {
    const local = formattedMinutes(ms, zone)
    if (local === undefined) return undefined
    known = { quarter, offset: local - utcMinutes }
    offsets.set(zone, known)
  }
  const minutes = (utcMinutes + known.offset) % 1440
  return minutes < 0 ? minutes + 1440 : minutes
}

/** Minutes since midnight in `zone`, as Intl formats the time there. */
export function formattedMinutes (ms: number, zone: string): number | undefined {
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
