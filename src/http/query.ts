/**
 * The zod primitives every query string (and cursor) is built from. Each
 * accepts only what PostgreSQL takes as it is, so a value that passes never
 * fails in SQL: text without NUL bytes and of bounded length, instants
 * within 0001-01-01 and 9999-12-31 (UTC) on real calendar days, integers
 * within bigint, uuids in their one syntax. Query values arrive as strings:
 * nothing is coerced loosely (no `0x10`, ` 5`, `1e3` for a number).
 */
import { z } from 'zod'

/** No NUL byte: PostgreSQL text cannot hold one. */
const noNul = (text: string): boolean => !text.includes('\u0000')

/** Text a text column compares with: 1 to `max` characters, no NUL byte. */
export const pgText = (max = 200): z.ZodString => z.string().min(1).max(max).refine(noNul, 'must not contain a NUL byte')

/** `YYYY-MM-DD`, or a date and time with `Z` or an offset (seconds and a fraction of up to 9 digits optional). */
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}))?$/


/** Milliseconds of a UTC calendar time (Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear does not). */
function utc (year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute, second, 0)
  return date.getTime()
}

const FIRST = utc(1, 1, 1, 0, 0, 0)
const LAST = utc(9999, 12, 31, 23, 59, 59)

/**
 * The instant `text` names, as `YYYY-MM-DDTHH:MM:SS[.fraction]Z` in UTC, or
 * undefined when it names none PostgreSQL keeps: an impossible day
 * (2024-02-30), hour or offset, or a time outside 0001-01-01T00:00:00Z to
 * 9999-12-31T23:59:59.999999999Z. A plain date is midnight UTC.
 */
export function canonicalTimestamp (text: string): string | undefined {
  const match = TIMESTAMP.exec(text)
  if (match === null) return undefined
  const [year, month, day, hour = 0, minute = 0, second = 0] = match.slice(1, 7).map((part) => part === undefined ? undefined : Number(part)) as number[]
  const fraction = match[7]
  const zone = match[8] ?? 'Z'
  if (year === 0 || month! < 1 || month! > 12 || hour > 23 || minute > 59 || second > 59) return undefined
  const local = utc(year!, month!, day!, hour, minute, second)
  const back = new Date(local)
  if (back.getUTCFullYear() !== year || back.getUTCMonth() !== month! - 1 || back.getUTCDate() !== day) return undefined
  let offset = 0
  if (zone !== 'Z') {
    const hours = Number(zone.slice(1, 3))
    const minutes = Number(zone.slice(4, 6))
    if (hours > 23 || minutes > 59) return undefined
    offset = (zone.startsWith('-') ? -1 : 1) * (hours * 60 + minutes) * 60_000
  }
  const instant = local - offset
  // Whole seconds: the fraction is kept apart, so 9999-12-31T23:59:59.999Z is in.
  if (instant < FIRST || instant > LAST) return undefined
  return `${new Date(instant).toISOString().slice(0, 19)}${fraction === undefined ? '' : `.${fraction}`}Z`
}

/**
 * An instant: a plain date (`2026-03-01`, midnight UTC) or an ISO 8601 date
 * and time with `Z` or an offset; handed on in UTC, which PostgreSQL reads
 * whatever the offset was (it refuses offsets beyond ±15:59 itself).
 */
export const pgTimestamp = z.string().max(40).transform((text, context) => {
  const canonical = canonicalTimestamp(text)
  if (canonical === undefined) {
    context.addIssue({ code: 'custom', message: 'a date (2026-03-01, midnight UTC) or an ISO 8601 time with Z or an offset, between years 0001 and 9999' })
    return z.NEVER
  }
  return canonical
})

/** A uuid in its canonical 8-4-4-4-12 hexadecimal form (the uuid column's syntax). */
export const uuid = z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'a uuid').transform((text) => text.toLowerCase())

const BIGINT_MAX = '9223372036854775807'

/**
 * A non-negative bigint as decimal digits, kept as text (past 2^53 a number
 * loses digits). Compared as text: zod runs a refinement even after the
 * pattern failed, so it must not parse what may not be digits.
 */
export const pgBigint = z.string().regex(/^(0|[1-9]\d{0,18})$/, 'a whole number')
  .refine((digits) => digits.length < BIGINT_MAX.length || (digits.length === BIGINT_MAX.length && digits <= BIGINT_MAX), 'beyond the bigint range')

/** A page size from the query string: digits only, 1 to `max`, `fallback` when not given. */
export const pageLimit = (max: number, fallback: number): z.ZodDefault<z.ZodPipe<z.ZodPipe<z.ZodString, z.ZodTransform<number, string>>, z.ZodNumber>> =>
  z.string().regex(/^\d{1,9}$/, 'a whole number').transform(Number).pipe(z.number().int().min(1).max(max))
    .default(fallback).describe(`page size, 1 to ${max} (${fallback} when not given)`)

/** A cursor as the query string carries it; a codec of src/http/cursor.ts decodes it, so that any bad cursor is http.invalid_cursor. */
export const cursorParam = z.string().describe('nextCursor of the previous page, as it was given')

/** Orders pgTimestamp's outputs by the instant they name (their fractions may differ in length). */
export function instantKey (canonical: string): string {
  const [whole = '', fraction = ''] = canonical.slice(0, -1).split('.')
  return `${whole}.${fraction.padEnd(9, '0')}`
}
