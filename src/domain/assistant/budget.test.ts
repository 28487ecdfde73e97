/**
 * The budget decider: a budget within the plan's, with a reason; 50%, 80% and
 * 100% once each per month; the block at 100% until the month ends or the
 * budget is raised; a settlement of last month changes nothing of this one.
 */
import fc from 'fast-check'
import t from 'tap'
import { fold } from '../decider.ts'
import { spec, TEST_CONTEXT } from '../testing.ts'
import { blockedIn, budgetDecider, reached, utcMonth, type BudgetCommand, type BudgetEvent } from './budget.ts'

const given = spec(budgetDecider).given
const spend = (month: string, spentMicros: number, budgetMicros = 1000, floorMicros = 10): BudgetCommand =>
  ({ type: 'RecordSpend', data: { month, spentMicros, budgetMicros, floorMicros } })
const crossed = (month: string, threshold: 50 | 80 | 100, spentMicros: number, budgetMicros = 1000): BudgetEvent =>
  ({ type: 'ai.budget.threshold_crossed', data: { month, spentMicros, budgetMicros, threshold } })
const exhausted = (month: string, spentMicros: number, budgetMicros = 1000): BudgetEvent =>
  ({ type: 'ai.budget.exhausted', data: { month, spentMicros, budgetMicros } })
const set = (monthlyMicros: number | null, spentMicros = 0, month = '2026-01'): BudgetCommand => ({
  type: 'SetBudget', data: { monthlyMicros, reason: 'a reason', planMicros: 5000, month, spentMicros, floorMicros: 10 }
})

t.test('a budget is set within the plan\'s, with its reason; the same budget again records nothing', async (t) => {
  given([]).when(set(1000)).then(t, [{ type: 'ai.budget.set', data: { monthlyMicros: 1000, reason: 'a reason' } }])
  given([{ type: 'ai.budget.set', data: { monthlyMicros: 1000, reason: 'x' } }]).when(set(1000)).then(t, [])
  given([]).when(set(null)).then(t, [], 'null is already the plan\'s')
  for (const monthlyMicros of [-1, 5001, 1.5]) given([]).when(set(monthlyMicros)).thenThrows(t, 'ai.invalid_budget')
  given([]).when(set(5000)).then(t, [{ type: 'ai.budget.set', data: { monthlyMicros: 5000, reason: 'a reason' } }], 'the plan\'s itself')
})

t.test('each threshold is recorded once a month; 100% (less left than the smallest request) blocks', async (t) => {
  given([]).when(spend('2026-01', 499)).then(t, [])
  given([]).when(spend('2026-01', 500)).then(t, [crossed('2026-01', 50, 500)])
  given([crossed('2026-01', 50, 500)]).when(spend('2026-01', 700)).then(t, [])
  given([crossed('2026-01', 50, 500)]).when(spend('2026-01', 991))
    .then(t, [crossed('2026-01', 80, 991), crossed('2026-01', 100, 991), exhausted('2026-01', 991)])
  given([crossed('2026-01', 50, 500)]).when(spend('2026-01', 990)).then(t, [crossed('2026-01', 80, 990)], '10 left pays for one more')
  given([crossed('2026-01', 50, 500)]).when(spend('2026-02', 600)).then(t, [crossed('2026-02', 50, 600)], 'a new month starts afresh')
})

t.test('a block ends with its month, or when the budget is raised; lowering it can block', async (t) => {
  const full = [crossed('2026-01', 50, 995), crossed('2026-01', 80, 995), crossed('2026-01', 100, 995), exhausted('2026-01', 995)]
  t.ok(blockedIn(fold(budgetDecider, full), '2026-01'))
  t.notOk(blockedIn(fold(budgetDecider, full), '2026-02'), 'February is not blocked')
  given(full).when(set(2000, 995)).then(t, [
    { type: 'ai.budget.set', data: { monthlyMicros: 2000, reason: 'a reason' } },
    { type: 'ai.budget.unblocked', data: { month: '2026-01', spentMicros: 995, budgetMicros: 2000, reason: 'budget_raised' } }
  ])
  given(full).when(set(1001, 995)).then(t, [{ type: 'ai.budget.set', data: { monthlyMicros: 1001, reason: 'a reason' } }],
    'raised, but still too little left: still blocked')
  given([]).when(set(100, 95)).then(t, [
    { type: 'ai.budget.set', data: { monthlyMicros: 100, reason: 'a reason' } },
    crossed('2026-01', 50, 95, 100), crossed('2026-01', 80, 95, 100), crossed('2026-01', 100, 95, 100), exhausted('2026-01', 95, 100)
  ])
  given([crossed('2026-02', 50, 600)]).when(spend('2026-01', 999)).then(t, [], 'last month\'s late settlement: no news')
})

t.test('property: however spend grows in a month, each threshold is crossed at most once and the block follows 100%', async () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 1200 }), { maxLength: 30 }), (amounts) => {
    let events: BudgetEvent[] = []
    let spent = 0
    for (const amount of amounts) {
      spent += amount
      events = [...events, ...budgetDecider.decide(spend('2026-03', spent), fold(budgetDecider, events), TEST_CONTEXT)]
    }
    const thresholds = events.flatMap((event) => event.type === 'ai.budget.threshold_crossed' ? [event.data.threshold] : [])
    const expected = reached({ month: '2026-03', spentMicros: spent, floorMicros: 10 }, 1000)
    return new Set(thresholds).size === thresholds.length && thresholds.length === expected.length &&
      blockedIn(fold(budgetDecider, events), '2026-03') === expected.includes(100)
  }))
})

t.test('months are calendar months in UTC', async (t) => {
  t.equal(utcMonth(new Date('2026-01-31T23:59:59.999Z')), '2026-01')
  t.equal(utcMonth(new Date('2026-02-01T00:00:00.000Z')), '2026-02')
  t.equal(utcMonth(new Date('2026-01-31T23:30:00.000-01:00')), '2026-02', 'a local time past midnight UTC is next month')
})
