/**
 * Conditions: a JSON expression tree, validated by zod, stored with a grant
 * and compiled once into flat clause records that one interpreter reads
 * (never `eval` or `new Function`).
 *
 * Operands are literals or references: `principal.id`, `principal.roles`,
 * `resource.<attr>[.<attr>…]`, `context.ip`, `context.time`, `context.mfa`,
 * `context.impersonating`. A reference names own attributes of objects: a
 * list has none (`resource.tags.length` is absent), nor do inherited names
 * (`resource.constructor` is absent). A reference that resolves to nothing
 * makes every comparison with it false (and `not` of that true): write
 * `exists` to require an attribute.
 *
 * A value is a string, a finite number, a boolean, null, or a list of values;
 * objects are not values. Each operator decides only on the types it names,
 * and is false on anything else (so `not` of it is true):
 * - eq / ne: two values, equal (or not): the same scalar, or lists of the same length equal item by item.
 * - lt, lte, gt, gte: two numbers, or two strings compared by UTF-16 code units.
 * - in / nin: a value that is (not) equal to an item of a list.
 * - contains: a list holding an item equal to a value, or a string holding a string.
 * - startsWith: a string that begins with a string.
 * - exists: a reference that resolves to anything but null.
 * - ipInCidr: a string that is an IPv4 or IPv6 address, inside a CIDR literal; an
 *   IPv4 address is its mapped IPv6 address ::ffff:a.b.c.d, so blocks of either form match both (ip.ts).
 * - timeBetween: an ISO 8601 date-time with Z or an offset, or whole epoch milliseconds within
 *   ±8.64e15 (time.ts), whose time of day in a time zone (default UTC) is within [from, to);
 *   from > to spans midnight, from = to is never.
 *
 * The reference interpreter (reference.ts) is written from this text alone
 * and shares no code with the compiler: the tests hold each against the other.
 */
import { z } from 'zod'
import { domainError } from '../errors.ts'
import { ipInCidr, parseCidr, type Cidr } from './ip.ts'
import { hhmm, minutesOfDay, withinDay } from './time.ts'

export const LIMITS = Object.freeze({ depth: 8, nodes: 64, arrayItems: 100, stringLength: 1000 })

const REFERENCE = /^(principal\.(id|roles)|context\.(ip|time|mfa|impersonating)|resource(\.[A-Za-z_][A-Za-z0-9_]{0,63}){1,4})$/
/** A literal string that a reader would take for a reference: refused in new conditions, as it is compared as text. */
const READS_LIKE_REFERENCE = /^(principal|resource|context)(\.[A-Za-z_][A-Za-z0-9_]*)+$/
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

export type Operator = Condition extends infer C ? C extends unknown ? keyof C : never : never

/** Every operator: its operands and what it decides. The OpenAPI document shows these; the docs render them with examples. */
export const GRAMMAR: Readonly<Record<Operator, { readonly operands: string, readonly meaning: string }>> = {
  and: { operands: '[condition, …] (1 to 64)', meaning: 'every condition holds' },
  or: { operands: '[condition, …] (1 to 64)', meaning: 'at least one condition holds' },
  not: { operands: 'condition', meaning: 'the condition does not hold' },
  eq: { operands: '[value, value]', meaning: 'both are values and equal: the same scalar, or lists of the same length equal item by item' },
  ne: { operands: '[value, value]', meaning: 'both are values and they are not equal' },
  lt: { operands: '[number, number] or [string, string]', meaning: 'the left is less than the right (strings by UTF-16 code units)' },
  lte: { operands: '[number, number] or [string, string]', meaning: 'the left is less than or equal to the right' },
  gt: { operands: '[number, number] or [string, string]', meaning: 'the left is greater than the right' },
  gte: { operands: '[number, number] or [string, string]', meaning: 'the left is greater than or equal to the right' },
  in: { operands: '[value, list]', meaning: 'the list has an item equal to the value' },
  nin: { operands: '[value, list]', meaning: 'the list has no item equal to the value' },
  contains: { operands: '[list, value] or [string, string]',
    meaning: 'the list has an item equal to the value, or the left string holds the right one' },
  startsWith: { operands: '[string, string]', meaning: 'the left string begins with the right one' },
  exists: { operands: '{"ref": …}', meaning: 'the reference resolves to something other than null' },
  ipInCidr: {
    operands: '[address, "<CIDR>"]',
    meaning: 'the IPv4 or IPv6 address is inside the block; an IPv4 address is also its mapped form ::ffff:a.b.c.d, so 10.0.0.0/8 and ' +
      '::ffff:10.0.0.0/104 are one block'
  },
  timeBetween: {
    operands: '[time, "HH:MM", "HH:MM"] or [time, "HH:MM", "HH:MM", "<IANA zone>"]',
    meaning: 'the time (an ISO 8601 date-time with Z or an offset, or whole epoch milliseconds within ±8.64e15) has a time of day, ' +
      'in the zone (default UTC), within [from, to); from after to spans midnight, from equal to to never holds'
  }
}

const scalar = z.union([z.string().max(LIMITS.stringLength), z.number().finite(), z.boolean(), z.null()])
const ref = z.object({ ref: z.string().regex(REFERENCE,
  'a reference: principal.id, principal.roles, resource.<attr>, context.ip|time|mfa|impersonating') })
  .strict().meta({ id: 'ConditionReference', description: 'principal.id, principal.roles, resource.<attr>[.<attr>…] (up to 4), ' +
    'context.ip, context.time, context.mfa or context.impersonating' })
const operand = z.union([scalar, z.array(scalar).max(LIMITS.arrayItems), ref])
  .meta({ id: 'ConditionOperand',
    description: 'a literal (a string, number, boolean or null, or a list of them) or a reference {"ref": …}' })
const pair = z.tuple([operand, operand])
const timeZone = z.string().max(64).refine((zone) => {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: zone })
    return true
  } catch {
    return false
  }
}, 'an IANA time zone such as Europe/Paris')
const cidr = z.string().max(64).refine((text) => parseCidr(text) !== undefined,
  'a CIDR such as 10.0.0.0/8, 2001:db8::/32 or ::ffff:10.0.0.0/104')
const window = z.string().regex(HHMM, 'HH:MM')

const clause = <S extends z.ZodType>(op: Operator, operands: S) =>
  z.object({ [op]: operands } as Record<Operator, S>).strict().meta({ title: op,
    description: `${GRAMMAR[op].operands}: ${GRAMMAR[op].meaning}` })

export const ConditionSchema: z.ZodType<Condition> = z.lazy(() => z.union([
  clause('and', z.array(ConditionSchema).min(1).max(LIMITS.nodes)),
  clause('or', z.array(ConditionSchema).min(1).max(LIMITS.nodes)),
  clause('not', ConditionSchema),
  ...(['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'nin', 'contains', 'startsWith'] as const).map((op) => clause(op, pair)),
  clause('exists', ref),
  clause('ipInCidr', z.tuple([operand, cidr])),
  clause('timeBetween', z.union([z.tuple([operand, window, window]), z.tuple([operand, window, window, timeZone])]))
])).meta({
  id: 'Condition',
  description: `A condition: one operator as the only key. At most ${LIMITS.depth} levels and ${LIMITS.nodes} clauses. ` +
    'A value is a string, a finite number, a boolean, null, or a list of values. A reference that resolves to nothing, ' +
    'or an operand of a type the operator does not name, makes the operator false (and not of it true).'
}) as z.ZodType<Condition>

const issueText = (issue: { path: string, message: string }): string => `${issue.path === '' ? '(root)' : issue.path}: ${issue.message}`

export class InvalidCondition extends domainError('rbac.invalid_condition', 400, 'invalid condition') {
  constructor (issues: ReadonlyArray<{ path: string, message: string }>) {
    super(`invalid condition: ${issues.slice(0, 5).map(issueText).join('; ')}`, { errors: issues.slice(0, 20) })
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
    if (Array.isArray(children)) for (const child of children) { const problem = measure(child, depth + 1,
      budget); if (problem !== undefined) return problem }
  }
  if ('not' in object) return measure(object.not, depth + 1, budget)
  return undefined
}

/** Validates a condition, stored or new, or throws InvalidCondition. */
export function parseCondition (input: unknown): Condition {
  const tooBig = measure(input, 1, { nodes: 0 })
  if (tooBig !== undefined) throw new InvalidCondition([{ path: '', message: `the condition ${tooBig}` }])
  const parsed = ConditionSchema.safeParse(input)
  if (!parsed.success) throw new InvalidCondition(parsed.error.issues.map((issue) =>
    ({ path: issue.path.join('.'), message: issue.message })))
  return parsed.data
}

/**
 * Validates a condition as the API and the CLI take it: as parseCondition,
 * and a literal string that reads like a reference (`"resource.amount"`) is
 * refused, since it would be compared as text. Stored conditions are read
 * with parseCondition, so a grant accepted before stays readable.
 */
export function parseConditionInput (input: unknown): Condition {
  const condition = parseCondition(input)
  const issues: Array<{ path: string, message: string }> = []
  literalReferences(condition, '', issues)
  if (issues.length > 0) throw new InvalidCondition(issues)
  return condition
}

function literalReferences (condition: Condition, path: string, issues: Array<{ path: string, message: string }>): void {
  const [op, body] = Object.entries(condition)[0] as [Operator, unknown]
  const at = path === '' ? op : `${path}.${op}`
  if (op === 'and' || op === 'or') return (body as Condition[]).forEach((part, i) => literalReferences(part, `${at}.${i}`, issues))
  if (op === 'not') return literalReferences(body as Condition, at, issues)
  if (op === 'exists') return
  const operands = op === 'ipInCidr' || op === 'timeBetween' ? (body as Operand[]).slice(0, 1) : body as Operand[]
  operands.forEach((operand, i) => {
    const texts = typeof operand === 'string' ? [operand] : Array.isArray(operand) ? operand.filter((item) => typeof item === 'string') : []
    for (const text of texts.filter((item) => READS_LIKE_REFERENCE.test(item))) {
      issues.push({
        path: `${at}.${i}`,
        message: REFERENCE.test(text)
          ? `"${text}" is a literal string, compared as text; to read the attribute write {"ref": "${text}"}`
          : `"${text}" reads like a reference but is a literal string; references are principal.id, principal.roles, resource.<attr>, ` +
            `context.ip|time|mfa|impersonating, written {"ref": …}`
      })
    }
  })
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

/** An own attribute of an object; lists and scalars have none. */
function own (value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' && !Array.isArray(value) &&
    Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined
}

function resolveReference (path: string, input: EvaluationInput): unknown {
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
const BINARY = new Map(Object.entries({ eq: EQ, ne: NE, lt: LT, lte: LTE, gt: GT, gte: GTE, in: IN, nin: NIN, contains: CONTAINS,
  startsWith: STARTS_WITH }))

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

/** A scalar literal, which === compares as `equal` does: a string, a boolean, null or a finite number. */
function isScalar (op: Operand): boolean {
  return typeof op === 'string' || typeof op === 'boolean' || op === null || Number.isFinite(op)
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
export function allHold (
  clauses: Clauses, start: number, end: number, principal: Principal, resource: Resource, context: Context
): boolean {
  for (let at = start; at < end; at += CLAUSE) if (!holds(clauses, at, principal, resource, context)) return false
  return true
}

function holds (clauses: Clauses, at: number, principal: Principal, resource: Resource, context: Context): boolean {
  const op = clauses[at] as number
  const left = read(clauses[at + LEFT_FROM] as number, clauses[at + LEFT], principal, resource, context)
  if (op < EQ) return holdsOne(op, left, clauses, at, principal, resource, context)
  return holdsTwo(op, left, read(clauses[at + RIGHT_FROM] as number, clauses[at + RIGHT], principal, resource, context))
}

/** A clause on one operand, or one whose other side was fixed when it was compiled (ops below EQ). */
function holdsOne (
  op: number, left: unknown, clauses: Clauses, at: number, principal: Principal, resource: Resource, context: Context
): boolean {
  switch (op) {
    case EQ_SCALAR: return left === clauses[at + RIGHT]
    case NE_SCALAR: return left !== clauses[at + RIGHT] && isValue(left)
    case IN_LIST: return (clauses[at + ARG] as unknown[]).includes(left)
    case IN_SET: return (clauses[at + ARG] as Set<unknown>).has(left)
    case EXISTS: return left !== undefined && left !== null
    case IP_IN_CIDR: return typeof left === 'string' && ipInCidr(left, clauses[at + ARG] as Cidr)
    case TIME_BETWEEN: return inTimeWindow(left, clauses[at + ARG] as TimeWindow)
    case OR: return anyBranchHolds(clauses[at + ARG] as Clauses[], principal, resource, context)
    default: { // NOT
      const inner = clauses[at + ARG] as Clauses
      return !allHold(inner, 0, inner.length, principal, resource, context)
    }
  }
}

function inTimeWindow (left: unknown, window: TimeWindow): boolean {
  const minutes = minutesOfDay(left, window.zone)
  return minutes !== undefined && withinDay(minutes, window.start, window.end)
}

function anyBranchHolds (branches: Clauses[], principal: Principal, resource: Resource, context: Context): boolean {
  for (const branch of branches) if (allHold(branch, 0, branch.length, principal, resource, context)) return true
  return false
}

/** A clause comparing two operands read at check time (ops from EQ). */
function holdsTwo (op: number, left: unknown, right: unknown): boolean {
  switch (op) {
    case EQ: return equal(left, right)
    case NE: return notEqual(left, right)
    // A comparison with NaN (values that have no order) is false.
    case LT: return orderOrNaN(left, right) < 0
    case LTE: return orderOrNaN(left, right) <= 0
    case GT: return orderOrNaN(left, right) > 0
    case GTE: return orderOrNaN(left, right) >= 0
    case IN: return isIn(left, right)
    case NIN: return isNotIn(left, right)
    case CONTAINS: return contains(left, right)
    default: return startsWith(left, right)
  }
}

const notEqual = (left: unknown, right: unknown): boolean => isValue(left) && isValue(right) && !equal(left, right)
const isIn = (left: unknown, right: unknown): boolean => Array.isArray(right) && right.some((item) => equal(item, left))
const isNotIn = (left: unknown, right: unknown): boolean =>
  Array.isArray(right) && isValue(left) && !right.some((item) => equal(item, left))
const startsWith = (left: unknown, right: unknown): boolean =>
  typeof left === 'string' && typeof right === 'string' && left.startsWith(right)
const orderOrNaN = (left: unknown, right: unknown): number => order(left, right) ?? Number.NaN

/** A string, a finite number, a boolean, null, or a list of values: what eq, ne, in, nin and contains compare. */
function isValue (value: unknown): boolean {
  switch (typeof value) {
    case 'string': case 'boolean': return true
    case 'number': return Number.isFinite(value)
    case 'object': return value === null || (Array.isArray(value) && value.every(isValue))
    default: return false
  }
}

/** Two equal values; anything that is not a value equals nothing, itself included. */
function equal (a: unknown, b: unknown): boolean {
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((item, index) => equal(item, b[index]))
  return a === b && isValue(a)
}

function order (a: unknown, b: unknown): number | undefined {
  if (typeof a === 'number' && typeof b === 'number' && Number.isFinite(a) && Number.isFinite(b)) return a < b ? -1 : a > b ? 1 : 0
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0
  return undefined
}

function contains (haystack: unknown, needle: unknown): boolean {
  if (Array.isArray(haystack)) return haystack.some((item) => equal(item, needle))
  return typeof haystack === 'string' && typeof needle === 'string' && haystack.includes(needle)
}
