/**
 * Reads of the `ai_usage` read model: the day's tokens of an organization (the
 * daily quota), and usage reports grouped by day, member and/or model, a keyset
 * page at a time, with the totals of the whole selection.
 */
import { isUndefinedTable, type SqlExecutor } from '../../sql/client.ts'

export const USAGE_GROUPS = ['day', 'member', 'model'] as const
export type UsageGroup = typeof USAGE_GROUPS[number]

export interface UsageFigures {
  readonly inputTokens: number
  readonly cachedInputTokens: number
  readonly outputTokens: number
  readonly costMicros: number
  readonly responses: number
  readonly estimatedResponses: number
}

/** One group of a report: the grouping fields it was asked for, and its figures. */
export interface UsageItem extends UsageFigures {
  readonly day?: string
  readonly userId?: string
  readonly model?: string
}

/** Where a page continues: the last item's grouping values, in the report's order. */
export type UsageKey = readonly string[]

export interface UsageQuery {
  readonly from: string
  readonly to: string
  readonly userId?: string
  /** The groups, in the order day, member, model (the report's sort order). */
  readonly groupBy: readonly UsageGroup[]
  readonly limit: number
  readonly after?: UsageKey
}

/** Each group's output column, the column grouped by, its sort key and a cursor value's placeholder: ids compare byte-wise. */
const COLUMN: Record<UsageGroup, { select: string, group: string, key: string, param: (n: number) => string,
  field: 'day' | 'userId' | 'model' }> = {
  day: { select: 'to_char(day, \'YYYY-MM-DD\') AS day', group: 'day', key: 'day', param: (n) => `$${n}::date`, field: 'day' },
  member: {
    select: 'user_id AS "userId"', group: 'user_id', key: 'user_id COLLATE "C"', param: (n) => `$${n} COLLATE "C"`, field: 'userId'
  },
  model: { select: 'model', group: 'model', key: 'model COLLATE "C"', param: (n) => `$${n} COLLATE "C"`, field: 'model' }
}

const SUMS = `sum(input_tokens)::bigint AS input, sum(cached_input_tokens)::bigint AS cached, sum(output_tokens)::bigint AS output,
  sum(cost_micros)::bigint AS cost, sum(responses)::bigint AS responses, sum(estimated)::bigint AS estimated`

type SumRow = { input: string | null, cached: string | null, output: string | null, cost: string | null,
  responses: string | null, estimated: string | null }

function figuresOf (row: SumRow | undefined): UsageFigures {
  return {
    inputTokens: Number(row?.input ?? 0),
    cachedInputTokens: Number(row?.cached ?? 0),
    outputTokens: Number(row?.output ?? 0),
    costMicros: Number(row?.cost ?? 0),
    responses: Number(row?.responses ?? 0),
    estimatedResponses: Number(row?.estimated ?? 0)
  }
}

/** Input plus output tokens the organization used on a UTC day; 0 before the read model exists. */
export async function tokensUsedOn (sql: SqlExecutor, orgId: string, day: string): Promise<number> {
  try {
    const { rows } = await sql.query<{ used: string | null }>(
      'SELECT sum(input_tokens + output_tokens)::bigint AS used FROM ai_usage WHERE org_id = $1 AND day = $2::date',
      [orgId, day], { name: 'ai_usage_day_tokens' })
    return Number(rows[0]?.used ?? 0)
  } catch (error) {
    if (isUndefinedTable(error)) return 0
    throw error
  }
}

/** One page of the report and the totals of everything it selects. */
export async function usageReport (
  sql: SqlExecutor, orgId: string, query: UsageQuery
): Promise<{ items: UsageItem[], totals: UsageFigures, last: UsageKey | undefined, more: boolean }> {
  const params: unknown[] = [orgId, query.from, query.to]
  let where = 'org_id = $1 AND day BETWEEN $2::date AND $3::date'
  if (query.userId !== undefined) {
    params.push(query.userId)
    where += ` AND user_id = $${params.length}`
  }
  const totals = await sql.query<SumRow>(`SELECT ${SUMS} FROM ai_usage WHERE ${where}`, params)
  const columns = query.groupBy.map((group) => COLUMN[group])
  const keys = columns.map((column) => column.key).join(', ')
  let page = where
  const pageParams = [...params]
  if (query.after !== undefined) {
    const placeholders = query.after.map((value, index) => {
      pageParams.push(value)
      return columns[index]!.param(pageParams.length)
    })
    page += ` AND (${keys}) > (${placeholders.join(', ')})`
  }
  pageParams.push(query.limit + 1)
  const { rows } = await sql.query<SumRow & Record<'day' | 'userId' | 'model', string>>(
    `SELECT ${columns.map((column) => column.select).join(', ')}, ${SUMS} FROM ai_usage WHERE ${page}
      GROUP BY ${columns.map((column) => column.group).join(', ')} ORDER BY ${keys} LIMIT $${pageParams.length}`, pageParams)
  const more = rows.length > query.limit
  const items = rows.slice(0, query.limit).map((row) => {
    const item: Record<string, unknown> = {}
    for (const column of columns) item[column.field] = row[column.field]
    return { ...item, ...figuresOf(row) } as UsageItem
  })
  const lastRow = items.at(-1)
  const last = lastRow === undefined ? undefined : columns.map((column) => String(lastRow[column.field]))
  return { items, totals: figuresOf(totals.rows[0]), last, more }
}
