/**
 * An organization's monthly AI budget (`ai-budget-<orgId>`), in integer
 * micro-units of currency. The plan gives the default and the most it may be;
 * holders of `ai:manage` set it lower or back (`ai.budget.set`, with a
 * reason). Months are calendar months in UTC (`YYYY-MM`): what a month spent
 * is counted apart from the next, so a budget resets with no job.
 *
 * As spend grows, 50%, 80% and 100% are each recorded once per month
 * (`ai.budget.threshold_crossed`). 100% is reached when what is left cannot
 * pay for the smallest request (its output cap alone): the organization is
 * then blocked (`ai.budget.exhausted`) until the month ends or the budget is
 * raised (`ai.budget.unblocked`). The spend a command carries is the
 * application's count (src/application/assistant/budgets.ts); deciding stays pure.
 */
import { z } from 'zod'
import type { Decider } from '../decider.ts'
import { domainError } from '../errors.ts'
import { defineEvent } from '../registry.ts'

export const BUDGET_THRESHOLDS = [50, 80, 100] as const
export type BudgetThreshold = typeof BUDGET_THRESHOLDS[number]

/** A calendar month in UTC, `YYYY-MM`. */
export const Month = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/)
const micros = z.number().int().min(0).max(1e15)

export const budgetSet = defineEvent({
  type: 'ai.budget.set',
  schema: z.object({
    /** null: the plan's default. */
    monthlyMicros: micros.nullable(),
    reason: z.string().trim().min(1).max(500)
  }).strict()
})

const monthFigures = { month: Month, spentMicros: micros, budgetMicros: micros }

export const budgetThresholdCrossed = defineEvent({
  type: 'ai.budget.threshold_crossed',
  schema: z.object({ ...monthFigures, threshold: z.union([z.literal(50), z.literal(80), z.literal(100)]) }).strict()
})

export const budgetExhausted = defineEvent({ type: 'ai.budget.exhausted', schema: z.object(monthFigures).strict() })

export const budgetUnblocked = defineEvent({
  type: 'ai.budget.unblocked',
  schema: z.object({ ...monthFigures, reason: z.enum(['budget_raised']) }).strict()
})

export const budgetEvents = [budgetSet, budgetThresholdCrossed, budgetExhausted, budgetUnblocked]

type DataOf<D> = D extends { type: infer T, schema: infer S extends z.ZodType } ? { type: T, data: z.infer<S> } : never
export type BudgetEvent = DataOf<typeof budgetEvents[number]>

export class InvalidBudget extends domainError('ai.invalid_budget', 400,
  'a monthly budget is a whole number of micro-units from 0 to the plan\'s budget, or null') {}

/** Where the organization's month stands, as the application counts it. */
export interface MonthSpend {
  readonly month: string
  readonly spentMicros: number
  /** What the smallest request reserves (its output cap at the model's price): less than this left is 100%. */
  readonly floorMicros: number
}

export interface SetBudget {
  readonly type: 'SetBudget'
  readonly data: MonthSpend & { monthlyMicros: number | null, reason: string, planMicros: number }
}

/** Records what the month's spend crossed under the budget in force. */
export interface RecordSpend {
  readonly type: 'RecordSpend'
  readonly data: MonthSpend & { budgetMicros: number }
}

export type BudgetCommand = SetBudget | RecordSpend

export interface BudgetState {
  /** The organization's own budget; null where the plan's applies. */
  readonly monthlyMicros: number | null
  /** The month `crossed` and `blocked` are about; another month starts with neither. */
  readonly month: string | null
  readonly crossed: readonly BudgetThreshold[]
  readonly blocked: boolean
}

export const initialBudget: BudgetState = { monthlyMicros: null, month: null, crossed: [], blocked: false }

export function budgetStreamId (orgId: string): string {
  return `ai-budget-${orgId}`
}

/** `YYYY-MM` of an instant, in UTC. */
export function utcMonth (at: Date): string {
  return at.toISOString().slice(0, 7)
}

/** The budget in force: the organization's own, or its plan's. */
export function budgetOf (state: BudgetState, planMicros: number): number {
  return state.monthlyMicros ?? planMicros
}

/** Whether the organization is blocked in `month` (a block ends with its month). */
export function blockedIn (state: BudgetState, month: string): boolean {
  return state.blocked && state.month === month
}

/** The thresholds `spent` has reached of `budget`. */
export function reached (spend: MonthSpend, budgetMicros: number): BudgetThreshold[] {
  const full = budgetMicros - spend.spentMicros < Math.max(1, spend.floorMicros)
  return BUDGET_THRESHOLDS.filter((threshold) => threshold === 100 ? full : spend.spentMicros * 100 >= threshold * budgetMicros)
}

/** The month's new crossings and, when it is full and not yet blocked, the block; or the unblock when it is no longer full. */
function crossings (state: BudgetState, spend: MonthSpend, budgetMicros: number): BudgetEvent[] {
  const thisMonth = state.month === spend.month
  const before = thisMonth ? state.crossed : []
  const now = reached(spend, budgetMicros)
  const figures = { month: spend.month, spentMicros: spend.spentMicros, budgetMicros }
  const events: BudgetEvent[] = now.filter((threshold) => !before.includes(threshold))
    .map((threshold) => ({ type: 'ai.budget.threshold_crossed', data: { ...figures, threshold } }))
  const blocked = blockedIn(state, spend.month)
  if (now.includes(100) && !blocked) events.push({ type: 'ai.budget.exhausted', data: figures })
  if (!now.includes(100) && blocked) events.push({ type: 'ai.budget.unblocked', data: { ...figures, reason: 'budget_raised' } })
  return events
}

function setBudget (command: SetBudget, state: BudgetState): BudgetEvent[] {
  const { monthlyMicros, reason, planMicros } = command.data
  if (monthlyMicros !== null && (!Number.isInteger(monthlyMicros) || monthlyMicros < 0 || monthlyMicros > planMicros)) {
    throw new InvalidBudget(undefined, { planMicros })
  }
  // Setting what is set records nothing: the audit log shows changes, not saves.
  if (monthlyMicros === state.monthlyMicros) return []
  const set: BudgetEvent = { type: 'ai.budget.set', data: { monthlyMicros, reason } }
  return [set, ...crossings(evolveBudget(state, set), command.data, monthlyMicros ?? planMicros)]
}

export function evolveBudget (state: BudgetState, event: BudgetEvent): BudgetState {
  switch (event.type) {
    case 'ai.budget.set': return { ...state, monthlyMicros: event.data.monthlyMicros }
    case 'ai.budget.threshold_crossed': {
      const crossed = state.month === event.data.month ? state.crossed : []
      const blocked = state.month === event.data.month && state.blocked
      return { ...state, month: event.data.month, crossed: [...crossed, event.data.threshold], blocked }
    }
    case 'ai.budget.exhausted': return { ...state, month: event.data.month, blocked: true }
    case 'ai.budget.unblocked': return { ...state, blocked: false }
  }
}

export const budgetDecider: Decider<BudgetCommand, BudgetEvent, BudgetState> = {
  initialState: () => initialBudget,
  evolve: evolveBudget,
  decide (command, state) {
    switch (command.type) {
      case 'SetBudget': return setBudget(command, state)
      // A response that started last month settles into last month: its crossings are history, not news.
      case 'RecordSpend': return state.month !== null && command.data.month < state.month
        ? []
        : crossings(state, command.data, command.data.budgetMicros)
      default: {
        const never: never = command
        throw new Error(`unknown command ${(never as { type: string }).type}`)
      }
    }
  }
}
