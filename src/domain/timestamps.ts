/**
 * Instants as PostgreSQL keeps them: a date or an ISO 8601 time, on a real
 * calendar day, between 0001-01-01 and 9999-12-31 UTC. One rule for every
 * entry point (HTTP query strings, CLI options), so a value that passes never
 * fails in SQL.
 */

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

/** The fields of a date and time as numbers; those left out are 0. */
interface Fields {
  readonly year: number, readonly month: number, readonly day: number,
  readonly hour: number, readonly minute: number, readonly second: number
}

function fieldsOf (match: RegExpExecArray): Fields {
  const numbers = match.slice(1, 7).map((part) => (part === undefined ? undefined : Number(part)))
  const [year, month, day, hour = 0, minute = 0, second = 0] = numbers
  return { year: year!, month: month!, day: day!, hour, minute, second }
}

/** Milliseconds of the fields as a UTC time, or undefined for a year 0, a field out of range, or a day the month does not have. */
function localTime ({ year, month, day, hour, minute, second }: Fields): number | undefined {
  if (year === 0 || month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined
  const local = utc(year, month, day, hour, minute, second)
  const back = new Date(local)
  if (back.getUTCFullYear() !== year || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day) return undefined
  return local
}

/** A zone's offset east of UTC in milliseconds (`Z` is 0), or undefined for hours past 23 or minutes past 59. */
function zoneOffset (zone: string): number | undefined {
  if (zone === 'Z') return 0
  const hours = Number(zone.slice(1, 3))
  const minutes = Number(zone.slice(4, 6))
  if (hours > 23 || minutes > 59) return undefined
  return (zone.startsWith('-') ? -1 : 1) * (hours * 60 + minutes) * 60_000
}

/**
 * The instant `text` names, as `YYYY-MM-DDTHH:MM:SS[.fraction]Z` in UTC, or
 * undefined when it names none PostgreSQL keeps: an impossible day
 * (2024-02-30), hour or offset, or a time outside 0001-01-01T00:00:00Z to
 * 9999-12-31T23:59:59.999999999Z. A plain date is midnight UTC.
 */
export function canonicalTimestamp (text: string): string | undefined {
  const match = TIMESTAMP.exec(text)
  if (match === null) return undefined
  const local = localTime(fieldsOf(match))
  const offset = zoneOffset(match[8] ?? 'Z')
  if (local === undefined || offset === undefined) return undefined
  const instant = local - offset
  // Whole seconds: the fraction is kept apart, so 9999-12-31T23:59:59.999Z is in.
  if (instant < FIRST || instant > LAST) return undefined
  const fraction = match[7]
  return `${new Date(instant).toISOString().slice(0, 19)}${fraction === undefined ? '' : `.${fraction}`}Z`
}
