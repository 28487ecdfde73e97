/**
 * The zod primitives every query string is built from. Each
 * accepts only what PostgreSQL takes as it is, so a value that passes never
 * fails in SQL: text without NUL bytes and of bounded length, instants
 * within 0001-01-01 and 9999-12-31 (UTC) on real calendar days, integers
 * within bigint, uuids in their one syntax. Query values arrive as strings:
 * nothing is coerced loosely (no `0x10`, ` 5`, `1e3` for a number).
 */
import { z } from 'zod'
import { canonicalTimestamp } from '../domain/timestamps.ts'
import { pgBigint, pgTimestamp, uuid } from '../domain/values.ts'

/** No NUL byte: PostgreSQL text cannot hold one. */
const noNul = (text: string): boolean => !text.includes('\u0000')

/** Text a text column compares with: 1 to `max` characters, no NUL byte. */
export const pgText = (max = 200): z.ZodString => z.string().min(1).max(max).refine(noNul, 'must not contain a NUL byte')

/** Instants, bigints and uuids are the domain's value schemas (src/domain/values.ts), shared with cursors. */
export { canonicalTimestamp, pgBigint, pgTimestamp, uuid }

/** A page size from the query string: digits only, 1 to `max`, `fallback` when not given. */
export const pageLimit = (
  max: number, fallback: number
): z.ZodDefault<z.ZodPipe<z.ZodPipe<z.ZodString, z.ZodTransform<number, string>>, z.ZodNumber>> =>
  z.string().regex(/^\d{1,9}$/, 'a whole number').transform(Number).pipe(z.number().int().min(1).max(max))
    .default(fallback).describe(`page size, 1 to ${max} (${fallback} when not given)`)

/** A cursor as the query string carries it; a codec of src/domain/cursor.ts decodes it, so that any bad cursor is http.invalid_cursor. */
export const cursorParam = z.string().describe('nextCursor of the previous page, as it was given')

/** Orders pgTimestamp's outputs by the instant they name (their fractions may differ in length). */
export function instantKey (canonical: string): string {
  const [whole = '', fraction = ''] = canonical.slice(0, -1).split('.')
  return `${whole}.${fraction.padEnd(9, '0')}`
}
