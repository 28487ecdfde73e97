/**
 * The budget page's figures without a browser: amounts typed in currency
 * units read exactly into micro-units and shown back, the month's days the
 * usage route is asked for, and the chart's running totals, line and scale.
 */
import fc from 'fast-check'
import t from 'tap'
import { cumulative, elapsedDays, monthDays, spendLine, ticks } from '../web/src/features/budget/chart.ts'
import { decimalOf, microsOf } from '../web/src/lib/money.ts'

t.test('an amount typed in currency units is read exactly, or refused with why', async (t) => {
  const read: Array<[string, number]> = [
    ['25', 25_000_000], ['12.50', 12_500_000], ['0.29', 290_000], ['.5', 500_000], ['$3', 3_000_000], [' 7 ', 7_000_000],
    ['0.000001', 1], ['10.', 10_000_000], ['-1', -1_000_000], ['0', 0]
  ]
  for (const [text, micros] of read) t.same(microsOf(text), { micros }, `"${text}" is ${micros} micro-units`)
  for (const text of ['', ' ', 'abc', '12,50', '1,000', '1.2.3', '-', '.', '$', '1e3', '٣']) {
    t.match(microsOf(text), { error: /^Enter an amount/ }, `"${text}" is no amount`)
  }
  t.match(microsOf('1.0000001'), { error: /six decimals/ }, 'finer than a micro-unit is refused, not rounded')
})

t.test('micro-units shown as a decimal read back as the same micro-units', async (t) => {
  t.same([2_500_000, 1, 0, 10_000_000, 290_000].map(decimalOf), ['2.50', '0.000001', '0.00', '10.00', '0.29'])
  fc.assert(fc.property(fc.integer({ min: 0, max: 1e15 }), (micros) => {
    const back = microsOf(decimalOf(micros))
    return 'micros' in back && back.micros === micros
  }), { numRuns: 500 })
  t.pass('any whole number of micro-units up to the API\'s largest, there and back')
})

t.test('the month\'s days: from the 1st to today while it runs, to its last day once over', async (t) => {
  t.same(monthDays('2026-12', new Date('2026-12-06T23:31:00Z')), { from: '2026-12-01', to: '2026-12-06', days: 31 })
  t.same(monthDays('2026-02', new Date('2026-03-01T00:00:00Z')), { from: '2026-02-01', to: '2026-02-28', days: 28 })
  t.same(monthDays('2028-02', new Date('2028-02-29T12:00:00Z')), { from: '2028-02-01', to: '2028-02-29', days: 29 })
  t.equal(elapsedDays('2026-12', 31, new Date('2026-12-06T12:00:00Z')), 5.5, 'five and a half days into it')
  t.equal(elapsedDays('2026-12', 31, new Date('2026-11-30T12:00:00Z')), 0, 'none before it')
  t.equal(elapsedDays('2026-12', 31, new Date('2027-01-03T00:00:00Z')), 31, 'all of it after it')
})

t.test('the spend line runs through each day\'s total, flat over days without spend, today ending at now', async (t) => {
  const points = cumulative([
    { day: '2026-12-06', costMicros: 90, responses: 1 }, { day: '2026-12-03', costMicros: 60, responses: 2 }
  ])
  t.same(points.map((point) => [point.day, point.dayOfMonth, point.cumulativeMicros]), [['2026-12-03', 3, 60], ['2026-12-06', 6, 150]],
    'in day order, each with the month\'s total so far')
  t.same(spendLine({ days: 31, elapsed: 5.5, points, budgetMicros: 1000, projectedMonthEndMicros: 845 }),
    [[0, 0], [1, 0], [2, 0], [3, 60], [4, 60], [5, 60], [5.5, 150]])
  t.same(spendLine({ days: 31, elapsed: 0, points: [], budgetMicros: 1000, projectedMonthEndMicros: 0 }), [[0, 0]], 'nothing yet')
  t.equal(spendLine({ days: 30, elapsed: 30, points: [], budgetMicros: 1, projectedMonthEndMicros: 0 }).length, 31, 'a month over')
})

t.test('the gridlines start at 0, step evenly at 1, 2 or 5 times a power of ten, and reach the largest figure', async (t) => {
  t.same(ticks(10_000_000), [0, 5_000_000, 10_000_000])
  t.same(ticks(777_103), [0, 200_000, 400_000, 600_000, 800_000])
  fc.assert(fc.property(fc.integer({ min: 1, max: 1e15 }), (max) => {
    const grid = ticks(max)
    const step = grid[1]!
    const leading = Math.round(step / 10 ** Math.floor(Math.log10(step)) * 1e9) / 1e9
    return grid[0] === 0 && grid.at(-1)! >= max && grid.length >= 3 && grid.length <= 5 && [1, 2, 5].includes(leading) &&
      grid.every((value, index) => Math.abs(value - index * step) < step * 1e-9)
  }), { numRuns: 500 })
  t.pass('three to five gridlines, evenly at a round step, the top one at or above the largest figure')
})
