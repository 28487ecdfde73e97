/**
 * Times for `timeBetween`: what counts as a time, and its minutes since
 * midnight in a time zone. Only what the grammar documents is a time: an
 * ISO 8601 date-time with `Z` or a `±HH:MM` offset, or a whole number of
 * epoch milliseconds within the range of a Date (±8.64e15). Anything else
 * (text `Date.parse` would guess at, a time without an offset, which would
 * read in the server's own zone) is not a time, so the decision never
 * depends on the host.
 */

/** The largest distance from the epoch a Date holds, in milliseconds. */
export const MAX_EPOCH_MS = 8.64e15

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?:Z|([+-])(\d{2}):(\d{2}))$/
/** 400 Gregorian years, in milliseconds: Date.UTC reads years 0 to 99 as 1900 to 1999, so years are shifted by 400 and back. */
const FOUR_CENTURIES_MS = 146_097 * 86_400_000

function daysIn (year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

/** A real calendar day and a time of day within it. */
function realDateTime (year: number, month: number, day: number, hour: number, minute: number, second: number): boolean {
  return month >= 1 && month <= 12 && day >= 1 && day <= daysIn(year, month) && hour <= 23 && minute <= 59 && second <= 59
}

/** The offset's minutes east of UTC (0 for `Z`), or undefined for hours past 23 or minutes past 59. */
function offsetMinutes (sign: string | undefined, hours: string | undefined, minutes: string | undefined): number | undefined {
  if (sign === undefined) return 0
  if (Number(hours) > 23 || Number(minutes) > 59) return undefined
  return (sign === '-' ? -1 : 1) * (Number(hours) * 60 + Number(minutes))
}

/** Epoch milliseconds of an ISO 8601 date-time with an offset, or undefined. */
function isoInstant (text: string): number | undefined {
  const m = ISO.exec(text)
  if (m === null) return undefined
  const [year, month, day, hour, minute] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])]
  const second = m[6] === undefined ? 0 : Number(m[6])
  if (!realDateTime(year, month, day, hour, minute, second)) return undefined
  const offset = offsetMinutes(m[8], m[9], m[10])
  if (offset === undefined) return undefined
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'))
  return Date.UTC(year + 400, month - 1, day, hour, minute, second, ms) - FOUR_CENTURIES_MS - offset * 60_000
}

let lastText: string | undefined
let lastInstant: number | undefined

/**
 * The instant a documented time stands for, in epoch milliseconds, or undefined. The last text read is remembered: one check reads it for
 * every grant.
 */
export function instantOf (time: unknown): number | undefined {
  if (typeof time === 'number') return Number.isInteger(time) && Math.abs(time) <= MAX_EPOCH_MS ? time : undefined
  if (typeof time !== 'string') return undefined
  if (time !== lastText) {
    lastInstant = isoInstant(time)
    lastText = time
  }
  return lastInstant
}

const formatters = new Map<string, Intl.DateTimeFormat>()
/** Per zone, the UTC offset found for the last quarter hour asked about: formatting a date costs about 10 µs. */
const offsets = new Map<string, { quarter: number, offset: number }>()
const QUARTER_MS = 15 * 60_000
/** From here on every zone's offset is whole minutes and changes only at a quarter hour of UTC. */
const WHOLE_MINUTE_OFFSETS_SINCE = Date.UTC(1972, 6, 1)

/** Minutes since midnight in `zone` of a documented time (see instantOf), or undefined when `time` is not one. */
export function minutesOfDay (time: unknown, zone: string): number | undefined {
  const ms = instantOf(time)
  if (ms === undefined) return undefined
  const utc = Math.floor(ms / 60_000) % 1440
  const utcMinutes = utc < 0 ? utc + 1440 : utc
  if (zone === 'UTC') return utcMinutes
  if (ms < WHOLE_MINUTE_OFFSETS_SINCE) return formattedMinutes(ms, zone)
  const quarter = Math.floor(ms / QUARTER_MS)
  let known = offsets.get(zone)
  if (known === undefined || known.quarter !== quarter) {
    known = { quarter, offset: formattedMinutes(ms, zone) - utcMinutes }
    offsets.set(zone, known)
  }
  const minutes = (utcMinutes + known.offset) % 1440
  return minutes < 0 ? minutes + 1440 : minutes
}

/** Minutes since midnight in `zone`, as Intl formats the time there; `ms` must be within ±MAX_EPOCH_MS. */
export function formattedMinutes (ms: number, zone: string): number {
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

/** Whether `minutes` is in [from, to); a window whose start is after its end spans midnight. */
export function withinDay (minutes: number, from: number, to: number): boolean {
  return from <= to ? minutes >= from && minutes < to : minutes >= from || minutes < to
}
