/**
 * The zod primitives every query string (and cursor) is built from. Each
 * accepts only what PostgreSQL takes as it is, so a value that passes never
 * fails in SQL: text without NUL bytes and of bounded length, instants
 * within 0001-01-01 and 9999-12-31 (UTC) on real calendar days, integers
 * within bigint, uuids in their one syntax. Query values arrive as strings:
 * nothing is coerced loosely (no `0x10`, ` 5`, `1e3` for a number).
 */
import { z } from 'zod'
import { canonicalTimestamp } from '../domain/timestamps.ts'

/** No NUL byte: PostgreSQL text cannot hold one. */
const noNul = (text: string): boolean => !text.includes('\u0000')

/** Text a text column compares with: 1 to `max` characters, no NUL byte. */
export const pgText = (max = 200): z.ZodString => z.string().min(1).max(max).refine(noNul, 'must not contain a NUL byte')

export { canonicalTimestamp }

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
