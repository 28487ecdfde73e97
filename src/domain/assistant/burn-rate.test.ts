/**
 * Burn rates: spend over an even spend of the budget across the UTC month;
 * the three multiwindow rules (both windows above the factor, never at it);
 * what `over` and `window` select; properties of the rules over random rates.
 */
import fc from 'fast-check'
import t from 'tap'
import {
  BURN_RULE_NAMES, BURN_RULES, BURN_WINDOWS, burnRates, burnSelection, monthLengthMs, parseFactor, rulesTripped, selected,
  WINDOW_MS, type BurnRates, type BurnWindow, type WindowSpend
} from './burn-rate.ts'

const DAY = 86_400_000
const spendOf = (each: number): WindowSpend => ({ '5m': each, '30m': each, '1h': each, '6h': each, '3d': each })
const ratesOf = (values: Partial<BurnRates>): BurnRates => ({ '5m': 0, '30m': 0, '1h': 0, '6h': 0, '3d': 0, ...values })
/** What an even spend of `budget` across the month puts in `window`. */
const even = (budget: number, window: BurnWindow, now: Date): number => budget * WINDOW_MS[window] / monthLengthMs(now)

t.test('an even spend of the budget over the month burns at 1 in every window; twice that at 2', async (t) => {
  const now = new Date('2026-04-15T12:00:00Z')
  const spend = Object.fromEntries(BURN_WINDOWS.map((window) => [window, even(30_000_000, window, now)])) as WindowSpend
  const rates = burnRates(spend, 30_000_000, now)!
  for (const window of BURN_WINDOWS) t.equal(Math.round(rates[window] * 1e9) / 1e9, 1, `${window}: 1`)
  const doubled = burnRates(spendOf(2 * even(30_000_000, '1h', now)), 30_000_000, now)!
  t.equal(Math.round(doubled['1h'] * 1e9) / 1e9, 2)
  t.equal(doubled['3d'], doubled['1h'] / 72, 'the same spend over a window 72 times as long burns 72 times slower')
})

t.test('a budget of 0 has no burn rate: it cannot be spent', async (t) => {
  t.equal(burnRates(spendOf(0), 0, new Date()), undefined)
  t.equal(burnRates(spendOf(100), 0, new Date()), undefined)
  t.same(burnRates(spendOf(0), 1, new Date()), ratesOf({}), 'no spend: 0 in every window')
})

t.test('the month\'s length sets the even rate: the same hour\'s spend burns faster in a longer month', async (t) => {
  t.equal(monthLengthMs(new Date('2026-02-28T23:59:59.999Z')), 28 * DAY)
  t.equal(monthLengthMs(new Date('2024-02-10T00:00:00Z')), 29 * DAY, 'a leap year\'s February')
  t.equal(monthLengthMs(new Date('2026-03-01T00:00:00Z')), 31 * DAY)
  t.equal(monthLengthMs(new Date('2026-04-30T10:00:00Z')), 30 * DAY)
  const february = burnRates(spendOf(15_000), 744_000, new Date('2026-02-28T23:30:00Z'))!
  const march = burnRates(spendOf(15_000), 744_000, new Date('2026-03-01T00:30:00Z'))!
  t.equal(february['1h'], 15_000 * 28 * 24 / 744_000, 'February: 672 hours, an even hour is 744,000 / 672')
  t.equal(march['1h'], 15, 'an hour later, in March: 744 hours, an even hour is 1,000')
  t.ok(march['1h'] > 14.4 && february['1h'] < 14.4, 'the hour trips page_1h\'s factor in March, not in February')
})

t.test('each rule trips when both its windows are above its factor; at the factor, or one window alone, it does not', async (t) => {
  t.same(rulesTripped(ratesOf({ '1h': 14.5, '5m': 14.5 })), ['page_1h'])
  t.same(rulesTripped(ratesOf({ '1h': 14.4, '5m': 100 })), [], 'exactly 14.4 over 1h is not above it')
  t.same(rulesTripped(ratesOf({ '1h': 100 })), [], 'a burst that stopped: nothing over the last 5 minutes')
  t.same(rulesTripped(ratesOf({ '6h': 6.1, '30m': 7 })), ['page_6h'])
  t.same(rulesTripped(ratesOf({ '3d': 1.01, '6h': 1.01 })), ['ticket_3d'])
  t.same(rulesTripped(ratesOf({ '5m': 20, '30m': 20, '1h': 20, '6h': 20, '3d': 20 })), ['page_1h', 'page_6h', 'ticket_3d'])
})

t.test('over and window: a rule\'s factor alone asks for the rule; any other factor, or a window, for one window', async (t) => {
  t.same(burnSelection(14.4), { factor: 14.4, window: '1h', rule: 'page_1h' })
  t.same(burnSelection(6), { factor: 6, window: '6h', rule: 'page_6h' })
  t.same(burnSelection(1), { factor: 1, window: '3d', rule: 'ticket_3d' })
  t.same(burnSelection(2), { factor: 2, window: '1h', rule: null })
  t.same(burnSelection(6, '6h'), { factor: 6, window: '6h', rule: null }, 'with a window: that window only')
  t.same(burnSelection(0), { factor: 0, window: '1h', rule: null }, 'no factor: every organization that spent in the last hour')
  t.ok(selected(burnSelection(6, '6h'), ratesOf({ '6h': 7 })), 'over 6 over 6h, though not over 30m')
  t.notOk(selected(burnSelection(6), ratesOf({ '6h': 7 })), 'page_6h needs 30m too')
  t.notOk(selected(burnSelection(0), ratesOf({})), 'no spend in the window: not listed')
  for (const [text, factor] of [['14.4x', 14.4], ['6x', 6], ['1x', 1], ['6', 6], ['2.5', 2.5], ['0.5x', 0.5], ['100x', 100]] as const) {
    t.equal(parseFactor(text), factor, text)
  }
  const refused = ['0', '0x', '0.0', 'x', '', ' 6', '6 ', '6xx', 'X6', '6X', '-1', '1e3', '0x10', 'NaN', 'Infinity', '.5', '5.', '1,5']
  for (const text of refused) {
    t.equal(parseFactor(text), undefined, JSON.stringify(text))
  }
})

const rate = fc.oneof(fc.constantFrom(0, 1, 6, 14.4), fc.double({ min: 0, max: 50, noNaN: true }))
const rates = fc.record(Object.fromEntries(BURN_WINDOWS.map((window) => [window, rate])) as Record<BurnWindow, typeof rate>)

t.test('property: a rule trips exactly when both its windows exceed its factor, and more burn never untrips it', async (t) => {
  fc.assert(fc.property(rates, fc.double({ min: 1, max: 10, noNaN: true }), (r, scale) => {
    const tripped = rulesTripped(r)
    for (const rule of BURN_RULE_NAMES) {
      const { factor, long, short } = BURN_RULES[rule]
      if (tripped.includes(rule) !== (r[long] > factor && r[short] > factor)) return false
      if (selected(burnSelection(factor), r) !== tripped.includes(rule)) return false
    }
    const scaled = Object.fromEntries(BURN_WINDOWS.map((window) => [window, r[window] * scale])) as BurnRates
    return tripped.every((rule) => rulesTripped(scaled).includes(rule))
  }))
  t.pass('held for the sampled rates')
})

t.test('property: the rate times the even spend of the window gives the spend back', async (t) => {
  const instant = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true })
  fc.assert(fc.property(fc.nat(1e12), fc.integer({ min: 1, max: 1e12 }), instant, (spent, budget, now) => {
    const r = burnRates(spendOf(spent), budget, now)!
    return BURN_WINDOWS.every((window) => Math.abs(r[window] * even(budget, window, now) - spent) <= 1e-6 * Math.max(1, spent))
  }))
  t.pass('held for the sampled spends, budgets and months')
})
