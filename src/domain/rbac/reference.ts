/**
 * A plain interpreter of conditions: walks the tree on every call. Slow and
 * obvious on purpose, and written from the semantics documented in
 * conditions.ts alone: it shares no code with the compiler (types only), so
 * the tests that hold the compiled clause programs against it catch a
 * mistake in either. `explain` uses it to say which clause failed.
 */
import { handlerOf } from '../dispatch.ts'
import type { Condition, EvaluationInput, Operand } from './conditions.ts'

// ── references ─────────────────────────────────────────────────────────────

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

/** `root.name.name…`: own attributes of objects, one name at a time; a list, a scalar or a missing name ends in nothing. */
function resolve (path: string, input: EvaluationInput): unknown {
  let value: unknown = input
  for (const name of path.split('.')) {
    if (!isObject(value) || !Object.prototype.hasOwnProperty.call(value, name)) return undefined
    value = value[name]
  }
  return value
}

function value (op: Operand, input: EvaluationInput): unknown {
  return isObject(op) ? resolve((op as { ref: string }).ref, input) : op
}

// ── values ─────────────────────────────────────────────────────────────────

function isValue (v: unknown): boolean {
  if (typeof v === 'string' || typeof v === 'boolean' || v === null) return true
  if (typeof v === 'number') return Number.isFinite(v)
  return Array.isArray(v) && v.every(isValue)
}

function same (a: unknown, b: unknown): boolean {
  if (!isValue(a) || !isValue(b)) return false
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false
    return true
  }
  return a === b
}

/** Two numbers or two strings, as a comparison result; undefined for anything else. */
function compare (a: unknown, b: unknown): number | undefined {
  const numbers = typeof a === 'number' && typeof b === 'number' && Number.isFinite(a) && Number.isFinite(b)
  const strings = typeof a === 'string' && typeof b === 'string'
  if (!numbers && !strings) return undefined
  return (a as number | string) === (b as number | string) ? 0 : (a as number | string) < (b as number | string) ? -1 : 1
}

// ── addresses: 128 bits as a string of 0s and 1s ───────────────────────────

const OCTET = /^(0|[1-9]\d{0,2})$/

function dottedQuadBits (text: string): string | undefined {
  const parts = text.split('.')
  if (parts.length !== 4 || !parts.every((part) => OCTET.test(part) && Number(part) <= 255)) return undefined
  return parts.map((part) => Number(part).toString(2).padStart(8, '0')).join('')
}

/** An IPv4 address as its mapped IPv6 address; IPv6 text as the URL standard's IPv6 parser reads it. */
function addressBits (text: string): string | undefined {
  const v4 = dottedQuadBits(text)
  if (v4 !== undefined) return '0'.repeat(80) + '1'.repeat(16) + v4
  if (!/^[0-9A-Fa-f:.]+$/.test(text)) return undefined
  let host: string
  try {
    host = new URL(`http://[${text}]/`).hostname.slice(1, -1)
  } catch {
    return undefined
  }
  const [head, tail] = host.includes('::') ? host.split('::') as [string, string] : [host, undefined]
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups]
  return groups.map((group) => parseInt(group, 16).toString(2).padStart(16, '0')).join('')
}

function inBlock (address: unknown, block: string): boolean {
  if (typeof address !== 'string') return false
  const bits = addressBits(address)
  const [network, length] = block.split('/') as [string, string]
  const isV4Block = dottedQuadBits(network) !== undefined
  const prefixLength = Number(length) + (isV4Block ? 96 : 0)
  const networkBits = addressBits(network)!
  return bits !== undefined && bits.slice(0, prefixLength) === networkBits.slice(0, prefixLength)
}

// ── times ──────────────────────────────────────────────────────────────────

const ISO_DATE_TIME = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?(Z|[+-]\d\d:\d\d)$/

/** An ISO 8601 date-time with Z or an offset, or whole epoch milliseconds within ±8.64e15, as a Date. */
function dateOf (time: unknown): Date | undefined {
  if (typeof time === 'number') return Number.isInteger(time) && time >= -8.64e15 && time <= 8.64e15 ? new Date(time) : undefined
  if (typeof time !== 'string') return undefined
  const m = ISO_DATE_TIME.exec(time)
  if (m === null) return undefined
  const [, year, month, day, hour, minute, second = '00', fraction = '', zone] = m as unknown as string[]
  const offset = zone === 'Z' ? 0 : (zone!.startsWith('-') ? -1 : 1) * (Number(zone!.slice(1, 3)) * 60 + Number(zone!.slice(4, 6)))
  if (zone !== 'Z' && (Number(zone!.slice(1, 3)) > 23 || Number(zone!.slice(4, 6)) > 59)) return undefined
  // Built field by field, then read back: a field out of range (30 February, 24:00) does not read back the same.
  const date = new Date(0)
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day))
  date.setUTCHours(Number(hour), Number(minute), Number(second), Number(fraction.slice(0, 3).padEnd(3, '0')))
  const readBack = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(),
    date.getUTCSeconds()]
  if (readBack.join() !== [year, month, day, hour, minute, second].map(Number).join()) return undefined
  return new Date(date.getTime() - offset * 60_000)
}

const clocks = new Map<string, Intl.DateTimeFormat>()

function minutesInZone (date: Date, zone: string): number {
  let clock = clocks.get(zone)
  if (clock === undefined) {
    clock = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: 'numeric', minute: 'numeric', hourCycle: 'h23' })
    clocks.set(zone, clock)
  }
  const parts = clock.formatToParts(date)
  const field = (type: string): number => Number(parts.find((part) => part.type === type)!.value)
  return field('hour') * 60 + field('minute')
}

function inWindow (time: unknown, from: string, to: string, zone: string): boolean {
  const date = dateOf(time)
  if (date === undefined) return false
  const minutes = minutesInZone(date, zone)
  const [start, end] = [from, to].map((hm) => Number(hm.slice(0, 2)) * 60 + Number(hm.slice(3)))
  return start! <= end! ? start! <= minutes && minutes < end! : minutes >= start! || minutes < end!
}

// ── the interpreter ────────────────────────────────────────────────────────

export interface Evaluation {
  readonly result: boolean
  /** Where the decision was made false (for an allow) — the path of the first failing clause, e.g. `and.1.lt`. */
  readonly failed?: string
}

/** Whether `a` is ordered before, with or after `b` as `test` asks; false for values without an order. */
function ordered (a: unknown, b: unknown, test: (order: number) => boolean): boolean {
  const order = compare(a, b)
  return order !== undefined && test(order)
}

const includes = (a: unknown, b: unknown): boolean =>
  (Array.isArray(a) ? a.some((item) => same(item, b)) : typeof a === 'string' && typeof b === 'string' && a.includes(b))

/** The binary operators, by name. */
const BINARY: Readonly<Record<string, (a: unknown, b: unknown) => boolean>> = {
  eq: (a, b) => same(a, b),
  ne: (a, b) => isValue(a) && isValue(b) && !same(a, b),
  lt: (a, b) => ordered(a, b, (order) => order < 0),
  lte: (a, b) => ordered(a, b, (order) => order <= 0),
  gt: (a, b) => ordered(a, b, (order) => order > 0),
  gte: (a, b) => ordered(a, b, (order) => order >= 0),
  in: (a, b) => Array.isArray(b) && b.some((item) => same(item, a)),
  nin: (a, b) => Array.isArray(b) && isValue(a) && !b.some((item) => same(item, a)),
  contains: includes,
  startsWith: (a, b) => typeof a === 'string' && typeof b === 'string' && a.startsWith(b)
}

function binary (op: string, a: unknown, b: unknown): boolean {
  const test = handlerOf(BINARY, op)
  if (test === undefined) throw new Error(`unknown operator ${op}`)
  return test(a, b)
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
    const [op, block] = c.ipInCidr as [Operand, string]
    return leaf('ipInCidr', inBlock(value(op, input), block))
  }
  if ('timeBetween' in c) {
    const [op, from, to, zone = 'UTC'] = c.timeBetween as [Operand, string, string, string?]
    return leaf('timeBetween', inWindow(value(op, input), from, to, zone))
  }
  const [op, [l, r]] = Object.entries(c)[0] as [string, [Operand, Operand]]
  return leaf(op, binary(op, value(l, input), value(r, input)))
}
