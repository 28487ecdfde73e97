/**
 * The usage report `GET /v1/orgs/:orgId/ai/usage` answers: the `ai_usage`
 * read model over a range of UTC days, grouped by day, member and/or model, a
 * keyset page at a time, with the totals of the whole selection. Whom a caller
 * may see is the route's to decide; this reads what it is asked.
 */
import { z } from 'zod'
import { cursorCodec, InvalidCursor } from '../../domain/cursor.ts'
import { domainError } from '../../domain/errors.ts'
import type { SqlExecutor } from '../../sql/client.ts'
import { USAGE_GROUPS, usageReport, type UsageFigures, type UsageGroup, type UsageItem } from '../../projections/assistant/usage-queries.ts'

/** The longest range one report covers: a year, leap day included. */
export const MAX_REPORT_DAYS = 366
/** Without `from`, the report covers this many days up to `to`. */
export const DEFAULT_REPORT_DAYS = 30

export class InvalidUsageRange extends domainError('ai.invalid_range', 400,
  `from must not be after to, and a report covers at most ${MAX_REPORT_DAYS} days`) {}

const DAY_MS = 86_400_000

/** Where the next page starts: the grouping it belongs to, and the last item's grouping values. */
const usageCursor = cursorCodec('ai-usage.1', z.object({
  groupBy: z.array(z.enum(USAGE_GROUPS)).min(1).max(USAGE_GROUPS.length),
  key: z.array(z.string().min(1).max(200)).min(1).max(USAGE_GROUPS.length)
}).strict())

export interface UsageReportInput {
  readonly orgId: string
  readonly from?: string
  readonly to?: string
  readonly userId?: string
  readonly groupBy: readonly UsageGroup[]
  readonly limit: number
  readonly cursor?: string
  readonly now: Date
}

export interface UsageReport {
  readonly from: string
  readonly to: string
  readonly groupBy: UsageGroup[]
  readonly currency: 'USD'
  readonly totals: UsageFigures
  readonly items: UsageItem[]
  readonly nextCursor: string | null
}

const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

/** `YYYY-MM-DD`, a real calendar day from 1970 on: the query string's days and a cursor's. */
export function isUtcDay (text: string): boolean {
  if (!/^(19[7-9]\d|[2-9]\d{3})-\d{2}-\d{2}$/.test(text)) return false
  const ms = Date.parse(text)
  return !Number.isNaN(ms) && dayOf(ms) === text
}

function rangeOf (input: UsageReportInput): { from: string, to: string } {
  const to = input.to ?? dayOf(input.now.getTime())
  const from = input.from ?? dayOf(Date.parse(to) - (DEFAULT_REPORT_DAYS - 1) * DAY_MS)
  const days = (Date.parse(to) - Date.parse(from)) / DAY_MS + 1
  if (days < 1 || days > MAX_REPORT_DAYS) throw new InvalidUsageRange(undefined, { from, to, maxDays: MAX_REPORT_DAYS })
  return { from, to }
}

export async function aiUsageReport (sql: SqlExecutor, input: UsageReportInput): Promise<UsageReport> {
  const { from, to } = rangeOf(input)
  // The report's order is always day, member, model, whatever order the groups were named in.
  const groupBy = USAGE_GROUPS.filter((group) => input.groupBy.includes(group))
  let after: readonly string[] | undefined
  if (input.cursor !== undefined) {
    const decoded = usageCursor.decode(input.cursor)
    if (decoded.groupBy.join() !== groupBy.join() || decoded.key.length !== groupBy.length) throw new InvalidCursor()
    // What the SQL compares with: a real day where the day is, text without a NUL byte elsewhere.
    if (decoded.key.some((value, index) => groupBy[index] === 'day' ? !isUtcDay(value) : value.includes('\u0000'))) {
      throw new InvalidCursor()
    }
    after = decoded.key
  }
  const page = await usageReport(sql, input.orgId, {
    from, to, groupBy, limit: input.limit, ...(input.userId === undefined ? {} : { userId: input.userId }),
    ...(after === undefined ? {} : { after })
  })
  const nextCursor = page.more && page.last !== undefined ? usageCursor.encode({ groupBy, key: [...page.last] }) : null
  return { from, to, groupBy, currency: 'USD', totals: page.totals, items: page.items, nextCursor }
}
