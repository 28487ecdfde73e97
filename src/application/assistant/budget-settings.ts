/**
 * The organization's monthly AI budget as holders of `ai:manage` read and set
 * it (`GET|PUT /v1/orgs/:orgId/ai/budget`), and what `AiBudgets` reserves
 * against: the plan's budget (config) or the organization's own, below it.
 * The month's thresholds and block are recorded here after each settlement.
 */
import {
  blockedIn, budgetDecider, budgetOf, budgetStreamId, utcMonth, type BudgetState, type BudgetThreshold
} from '../../domain/assistant/budget.ts'
import { readState } from '../../domain/decider.ts'
import { systemCommand, type CommandMetadata } from '../../domain/envelope.ts'
import type { Plan } from '../../domain/identity/events.ts'
import type { AiBudgetConfig } from '../../config.ts'
import { activeOrganization } from '../billing/plan.ts'
import { execute, written, type Written } from '../commands.ts'
import type { IdentityServices } from '../identity/commands.ts'
import type { AiBudgets, BudgetSources } from './budgets.ts'

export interface BudgetDeps {
  readonly services: IdentityServices
  readonly config: AiBudgetConfig
  readonly budgets: () => AiBudgets
  /** What the smallest request reserves: its output cap alone, at the default model's price. */
  readonly floorMicros: () => number
}

export interface BudgetView {
  readonly plan: Plan
  readonly month: string
  readonly currency: 'USD'
  /** The plan's budget: the default, and the most the organization may set. */
  readonly planMicros: number
  /** The organization's own budget; null where the plan's applies. */
  readonly monthlyMicros: number | null
  readonly budgetMicros: number
  readonly spentMicros: number
  readonly reservedMicros: number
  /** The month's spend at this month's rate so far, at its end. */
  readonly projectedMonthEndMicros: number
  readonly state: 'active' | 'blocked'
  readonly thresholdsCrossed: BudgetThreshold[]
}

async function stateOf (services: IdentityServices, orgId: string): Promise<BudgetState> {
  return (await readState(services.store, budgetDecider, budgetStreamId(orgId), services.states)).state
}

/** `spent` at the month's rate so far, over the whole month (UTC). */
export function projectMonthEnd (spentMicros: number, now: Date): number {
  const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)
  const end = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)
  const elapsed = Math.max(1, now.getTime() - start)
  return Math.round(spentMicros * ((end - start) / elapsed))
}

export async function budgetView (deps: BudgetDeps, orgId: string, now: Date): Promise<BudgetView> {
  const { plan } = await activeOrganization(deps.services, orgId)
  const state = await stateOf(deps.services, orgId)
  return viewOf(deps, plan, state, now, await deps.budgets().month(orgId, utcMonth(now)))
}

function viewOf (
  deps: BudgetDeps, plan: Plan, state: BudgetState, now: Date, figures: { spentMicros: number, reservedMicros: number }
): BudgetView {
  const month = utcMonth(now)
  const planMicros = deps.config.plans[plan]
  return {
    plan, month, currency: 'USD', planMicros, monthlyMicros: state.monthlyMicros, budgetMicros: budgetOf(state, planMicros), ...figures,
    projectedMonthEndMicros: projectMonthEnd(figures.spentMicros, now),
    state: blockedIn(state, month) ? 'blocked' : 'active',
    thresholdsCrossed: state.month === month ? [...state.crossed] : []
  }
}

/** Sets the organization's budget (null: the plan's) with a reason; setting what is set records nothing. */
export async function setBudget (
  deps: BudgetDeps, metadata: CommandMetadata, orgId: string, change: { monthlyMicros: number | null, reason: string }
): Promise<BudgetView & Written> {
  const { plan } = await activeOrganization(deps.services, orgId)
  const month = utcMonth(metadata.now)
  const figures = await deps.budgets().month(orgId, month)
  const { state, position } = await execute(deps.services, budgetDecider, budgetStreamId(orgId), {
    type: 'SetBudget',
    data: { ...change, planMicros: deps.config.plans[plan], month, spentMicros: figures.spentMicros, floorMicros: deps.floorMicros() }
  }, metadata)
  deps.budgets().forget(orgId)
  return { ...viewOf(deps, plan, state, metadata.now, figures), ...written(position) }
}

/** What `AiBudgets` reads and records. */
export function budgetSources (deps: BudgetDeps): BudgetSources {
  return {
    async policyOf (orgId, month) {
      const { plan } = await activeOrganization(deps.services, orgId)
      const state = await stateOf(deps.services, orgId)
      return { budgetMicros: budgetOf(state, deps.config.plans[plan]), blocked: blockedIn(state, month) }
    },
    async spent (orgId, month, spentMicros) {
      const { plan } = await activeOrganization(deps.services, orgId)
      const budgetMicros = budgetOf(await stateOf(deps.services, orgId), deps.config.plans[plan])
      const metadata = { ...systemCommand('ai-budgets'), orgId }
      const { state } = await execute(deps.services, budgetDecider, budgetStreamId(orgId), {
        type: 'RecordSpend', data: { month, spentMicros, budgetMicros, floorMicros: deps.floorMicros() }
      }, metadata)
      if (blockedIn(state, month)) deps.budgets().forget(orgId)
    }
  }
}
