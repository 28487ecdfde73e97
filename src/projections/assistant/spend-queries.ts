/**
 * Reads of the `ai_spend` read model: every organization's spend in each burn
 * window, in one query. A window W at `now` sums the buckets from the one
 * that holds now − W to the one that holds now: it starts early by less than
 * one bucket (a minute for 5m to 6h, an hour for 3d). Organizations that
 * spent nothing in 3 days and are not blocked this month are not read at all,
 * so the cost follows the organizations using the assistant, not all of them.
 */
import { BURN_WINDOWS, WINDOW_MS, type BurnWindow, type WindowSpend } from '../../domain/assistant/burn-rate.ts'
import { utcMonth } from '../../domain/assistant/budget.ts'
import { isUndefinedTable, type SqlExecutor } from '../../sql/client.ts'

export interface OrgSpend {
  readonly orgId: string
  readonly name: string
  readonly plan: string
  /** The organization's own budget; null where the plan's applies. */
  readonly monthlyMicros: number | null
  readonly blocked: boolean
  /** Settled this month (`ai_budget_months`). */
  readonly spentMicros: number
  readonly spend: WindowSpend
}

/** Each window's bucket size: minutes (`ai_spend_minutes`) up to 6h, hours (`ai_spend_hours`) for 3d. */
export const BUCKET_MS: Readonly<Record<BurnWindow, number>> = { '5m': 60_000, '30m': 60_000, '1h': 60_000, '6h': 60_000, '3d': 3_600_000 }

/** The first bucket of `window` at `now`: the one now − W falls in. */
export function windowStart (window: BurnWindow, now: Date): Date {
  const ms = BUCKET_MS[window]
  return new Date(Math.floor((now.getTime() - WINDOW_MS[window]) / ms) * ms)
}

const SPEND = `WITH fine AS (
    SELECT org_id,
      sum(cost_micros) FILTER (WHERE bucket >= $2) AS w5m, sum(cost_micros) FILTER (WHERE bucket >= $3) AS w30m,
      sum(cost_micros) FILTER (WHERE bucket >= $4) AS w1h, sum(cost_micros) AS w6h
    FROM ai_spend_minutes WHERE bucket >= $5 AND bucket <= $1 GROUP BY org_id),
  coarse AS (SELECT org_id, sum(cost_micros) AS w3d FROM ai_spend_hours WHERE bucket >= $6 AND bucket <= $1 GROUP BY org_id),
  candidates AS (
    SELECT org_id FROM coarse UNION SELECT org_id FROM fine UNION SELECT org_id FROM ai_budget_policies WHERE blocked_month = $7)
  SELECT c.org_id, o.name, o.plan, p.monthly_micros::text AS monthly, p.blocked_month = $7 AS blocked,
    coalesce(m.spent_micros, 0)::text AS spent, coalesce(f.w5m, 0)::text AS w5m, coalesce(f.w30m, 0)::text AS w30m,
    coalesce(f.w1h, 0)::text AS w1h, coalesce(f.w6h, 0)::text AS w6h, coalesce(k.w3d, 0)::text AS w3d
  FROM candidates c
  JOIN organizations o ON o.org_id = c.org_id
  LEFT JOIN fine f ON f.org_id = c.org_id
  LEFT JOIN coarse k ON k.org_id = c.org_id
  LEFT JOIN ai_budget_policies p ON p.org_id = c.org_id
  LEFT JOIN ai_budget_months m ON m.org_id = c.org_id AND m.month = $8::date`

interface SpendRow {
  org_id: string, name: string, plan: string, monthly: string | null, blocked: boolean | null, spent: string
  w5m: string, w30m: string, w1h: string, w6h: string, w3d: string
}

/** Every organization that spent in the last 3 days or is blocked this month, with its spend in each window at `now`. */
export async function spendByOrganization (sql: SqlExecutor, now: Date): Promise<OrgSpend[]> {
  const month = utcMonth(now)
  const starts = BURN_WINDOWS.map((window) => windowStart(window, now))
  try {
    const { rows } = await sql.query<SpendRow>(SPEND, [now, ...starts, month, `${month}-01`], { name: 'ai_spend_by_org' })
    return rows.map((row) => ({
      orgId: row.org_id, name: row.name, plan: row.plan,
      monthlyMicros: row.monthly === null ? null : Number(row.monthly),
      blocked: row.blocked === true, spentMicros: Number(row.spent),
      spend: { '5m': Number(row.w5m), '30m': Number(row.w30m), '1h': Number(row.w1h), '6h': Number(row.w6h), '3d': Number(row.w3d) }
    }))
  } catch (error) {
    // Before the read model's first build has exposed its tables: nothing is known to have been spent.
    if (isUndefinedTable(error)) return []
    throw error
  }
}
