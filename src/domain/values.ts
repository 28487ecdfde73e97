/**
 * The zod schemas of values that arrive from outside and reach SQL as they
 * are: instants, bigints, uuids and ids. Each accepts only what PostgreSQL
 * takes, so a value that passes never fails in SQL. Query strings
 * (src/http/query.ts) and cursors (./cursor.ts) are built from them.
 */
import { z } from 'zod'
import { canonicalTimestamp } from './timestamps.ts'

/** An id of ours (organization, user, role, session…): 1 to 64 letters, digits, _ or -. */
export const Id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'an id: 1 to 64 letters, digits, _ or -')

/**
 * An instant: a plain date (`2026-03-01`, midnight UTC) or an ISO 8601 date
 * and time with `Z` or an offset; handed on in UTC, which PostgreSQL reads
 * whatever the offset was (it refuses offsets beyond ±15:59 itself).
 */
export const pgTimestamp = z.string().max(40).transform((text, context) => {
  const canonical = canonicalTimestamp(text)
  if (canonical === undefined) {
    const message = 'a date (2026-03-01, midnight UTC) or an ISO 8601 time with Z or an offset, between years 0001 and 9999'
    context.addIssue({ code: 'custom', message })
    return z.NEVER
  }
  return canonical
})

/** A uuid in its canonical 8-4-4-4-12 hexadecimal form (the uuid column's syntax). */
export const uuid = z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'a uuid')
  .transform((text) => text.toLowerCase())

const BIGINT_MAX = '9223372036854775807'

/**
 * A non-negative bigint as decimal digits, kept as text (past 2^53 a number
 * loses digits). Compared as text: zod runs a refinement even after the
 * pattern failed, so it must not parse what may not be digits.
 */
export const pgBigint = z.string().regex(/^(0|[1-9]\d{0,18})$/, 'a whole number')
  .refine((digits) => digits.length < BIGINT_MAX.length || (digits.length === BIGINT_MAX.length && digits <= BIGINT_MAX),
    'beyond the bigint range')
