/**
 * Burn rates of every organization's AI budget (docs/ai-budgets.md, "Burn
 * rates"): one query reads what each organization using the assistant spent
 * in each window (the `ai_spend` read model), the budget in force is its own
 * or its plan's (config), and the domain computes the rates and the rules
 * (src/domain/assistant/burn-rate.ts). The metrics count the organizations
 * tripping each rule; staff list them, highest first, through
 * `GET /v1/admin/ai/budgets` and `ledgerline ai budgets`.
 */
import {
  BURN_RULE_NAMES, burnRates, rulesTripped, selected,
  type BurnRates, type BurnRule, type BurnSelection
} from '../../domain/assistant/burn-rate.ts'
import type { AiBudgetConfig } from '../../config.ts'
import { spendByOrganization, type OrgSpend } from '../../projections/assistant/spend-queries.ts'
import type { SqlExecutor } from '../../sql/client.ts'

export interface BurnDeps {
  readonly sql: SqlExecutor
  /** Each plan's monthly budget: the budget in force where the organization set none. */
  readonly plans: AiBudgetConfig['plans']
}

export interface OrgBurn {
  readonly orgId: string
  readonly name: string
  readonly plan: string
  readonly budgetMicros: number
  /** Settled this month. */
  readonly spentMicros: number
  readonly blocked: boolean
  readonly burnRates: BurnRates
  readonly rulesTripped: BurnRule[]
}

export interface BurnEvaluation {
  readonly evaluatedAt: Date
  /** Organizations that spent in the last 3 days or are blocked this month; none whose budget is 0 (it cannot be spent). */
  readonly orgs: readonly OrgBurn[]
  /** How many trip each rule. */
  readonly burning: Readonly<Record<BurnRule, number>>
  /** How many are blocked this month. */
  readonly blocked: number
}

/** The organizations' burn at `now`, from their spend: the budget in force is their own or their plan's. */
export function burnOf (spends: readonly OrgSpend[], plans: BurnDeps['plans'], now: Date): BurnEvaluation {
  const orgs: OrgBurn[] = []
  for (const org of spends) {
    const budgetMicros = org.monthlyMicros ?? plans[org.plan as keyof typeof plans] ?? 0
    const rates = burnRates(org.spend, budgetMicros, now)
    if (rates === undefined) continue
    orgs.push({
      orgId: org.orgId, name: org.name, plan: org.plan, budgetMicros, spentMicros: org.spentMicros, blocked: org.blocked,
      burnRates: rates, rulesTripped: rulesTripped(rates)
    })
  }
  const burning = Object.fromEntries(BURN_RULE_NAMES.map((rule) =>
    [rule, orgs.filter((org) => org.rulesTripped.includes(rule)).length])) as Record<BurnRule, number>
  return { evaluatedAt: now, orgs, burning, blocked: orgs.filter((org) => org.blocked).length }
}

export async function evaluateBurn (deps: BurnDeps, now: Date): Promise<BurnEvaluation> {
  return burnOf(await spendByOrganization(deps.sql, now), deps.plans, now)
}

/** Where a page of offenders continues: the last one's burn (over the selection's window) and id. */
export interface BurnKey { readonly burn: number, readonly orgId: string }

export interface BurnQuery {
  readonly selection: BurnSelection
  readonly limit: number
  readonly after?: BurnKey
}

export interface BurnPage {
  readonly evaluatedAt: Date
  readonly items: OrgBurn[]
  readonly next?: BurnKey
}

/**
 * The organizations the selection picks, by their burn over its window, highest first (then by id). Each page
 * is evaluated afresh: as time passes an organization may move across the cursor, and show twice or not at all.
 */
export async function burnPage (deps: BurnDeps, query: BurnQuery, now: Date): Promise<BurnPage> {
  const { selection, limit, after } = query
  const { evaluatedAt, orgs } = await evaluateBurn(deps, now)
  const burn = (org: OrgBurn): number => org.burnRates[selection.window]
  const ranked = orgs.filter((org) => selected(selection, org.burnRates))
    .filter((org) => after === undefined || burn(org) < after.burn || (burn(org) === after.burn && org.orgId > after.orgId))
    .sort((a, b) => burn(b) - burn(a) || (a.orgId < b.orgId ? -1 : a.orgId > b.orgId ? 1 : 0))
  const items = ranked.slice(0, limit)
  const last = items.at(-1)
  return { evaluatedAt, items, ...(ranked.length > limit && last !== undefined ? { next: { burn: burn(last), orgId: last.orgId } } : {}) }
}
