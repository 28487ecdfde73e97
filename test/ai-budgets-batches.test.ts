/**
 * The budget's reservations and settlements in batches (src/application/assistant/budgets.ts),
 * on PGlite and PostgreSQL: what one node sends for one organization's month
 * while a statement of theirs is under way goes as one batch. Whatever the
 * batches, the month never holds more than its budget, the admitted ones are
 * the longest run in arrival order that fits, the month's row agrees with the
 * reservation rows, and a settlement moves a reservation once.
 */
import fc from 'fast-check'
import t, { type Test } from 'tap'
import { AiBudgets, type BudgetSources } from '../src/application/assistant/budgets.ts'
import type { SqlClient } from '../src/sql/client.ts'
import { forEachDatabase } from './helpers/databases.ts'

const MONTH = '2031-03'
const NOW = new Date('2031-03-10T12:00:00Z')

function budgetsOf (sql: SqlClient, budgetMicros: number, spent: Array<{ orgId: string, spentMicros: number }> = []): AiBudgets {
  const sources: BudgetSources = {
    policyOf: async () => ({ budgetMicros, blocked: false }),
    spent: async (orgId, _month, spentMicros) => { spent.push({ orgId, spentMicros }) }
  }
  return new AiBudgets(sql, sources, 60_000)
}

/** Reserves each estimate at once, in this order; answers which were admitted. */
async function reserveAll (budgets: AiBudgets, orgId: string, estimates: readonly number[], tag = orgId): Promise<boolean[]> {
  const outcomes = await Promise.allSettled(estimates.map((estimateMicros, i) => budgets.reserve({
    orgId, conversationId: 'cnv_batches', responseId: `rsp_${tag}_${i}`, month: MONTH, estimateMicros, now: NOW
  })))
  for (const outcome of outcomes) {
    if (outcome.status === 'rejected' && (outcome.reason as { code?: string }).code !== 'ai.budget_exhausted') throw outcome.reason
  }
  return outcomes.map((outcome) => outcome.status === 'fulfilled')
}

async function held (sql: SqlClient, orgId: string): Promise<{ rows: number, micros: number }> {
  const { rows } = await sql.query<{ rows: number, micros: string | null }>(
    'SELECT count(*)::int AS rows, sum(held_micros)::text AS micros FROM ai_budget_reservations WHERE org_id = $1', [orgId])
  return { rows: rows[0]!.rows, micros: Number(rows[0]!.micros ?? 0) }
}

t.test('reservations and settlements in batches', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    await t.test('at the budget\'s boundary: n - 1, n and n + 1 requests for a budget of n', (t) => boundaries(t, sql))
    await t.test('200 at once for a budget of 50: exactly 50 admitted, the first 50 to arrive', (t) => twoHundred(t, sql))
    await t.test('the longest run that fits, in arrival order, whatever the estimates', (t) => property(t, sql))
    await t.test('a settlement moves its reservation once, however often it is asked', (t) => settleOnce(t, sql))
  })
})

async function boundaries (t: Test, sql: SqlClient): Promise<void> {
  const estimate = 7
  const n = 10
  for (const count of [0, 1, n - 1, n, n + 1]) {
    const orgId = `org_boundary_${count}`
    const budgets = budgetsOf(sql, n * estimate)
    const admitted = await reserveAll(budgets, orgId, Array.from({ length: count }, () => estimate))
    const expected = Math.min(count, n)
    t.equal(admitted.filter(Boolean).length, expected, `${count} requests: ${expected} admitted`)
    t.same(await held(sql, orgId), { rows: expected, micros: expected * estimate }, `${count} requests: one reservation row each`)
    t.same(await budgets.month(orgId, MONTH), { spentMicros: 0, reservedMicros: expected * estimate }, `${count}: the month holds them`)
  }
}

async function twoHundred (t: Test, sql: SqlClient): Promise<void> {
  const estimate = 1000
  const spent: Array<{ orgId: string, spentMicros: number }> = []
  const budgets = budgetsOf(sql, 50 * estimate, spent)
  const admitted = await reserveAll(budgets, 'org_200', Array.from({ length: 200 }, () => estimate))
  t.equal(admitted.filter(Boolean).length, 50, '50 admitted')
  t.same(admitted.slice(0, 50), Array.from({ length: 50 }, () => true), 'the first 50 to arrive, in order')
  await Promise.all(admitted.flatMap((ok, i) => ok ? [budgets.settle(`rsp_org_200_${i}`, estimate)] : []))
  t.same(await budgets.month('org_200', MONTH), { spentMicros: 50 * estimate, reservedMicros: 0 }, 'settled at the budget, none held')
  t.same(await held(sql, 'org_200'), { rows: 0, micros: 0 }, 'no reservation row is left')
  t.ok(spent.length >= 1 && spent.length <= 50, `the spend was recorded once a batch (${spent.length} batches)`)
  t.equal(spent.at(-1)?.spentMicros, 50 * estimate, 'the last record is the month\'s spend')
}

async function property (t: Test, sql: SqlClient): Promise<void> {
  let run = 0
  await fc.assert(fc.asyncProperty(
    fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 0, maxLength: 60 }), fc.integer({ min: 0, max: 8000 }),
    async (estimates, budgetMicros) => {
      const orgId = `org_property_${run++}`
      const budgets = budgetsOf(sql, budgetMicros)
      const admitted = await reserveAll(budgets, orgId, estimates)
      const total = estimates.reduce((sum, estimate, i) => sum + (admitted[i] ? estimate : 0), 0)
      if (total > budgetMicros) return false
      // The first to arrive is admitted alone or first of its batch: refused only when it does not fit at all.
      if (estimates.length > 0 && !admitted[0] && estimates[0]! <= budgetMicros) return false
      const figures = await budgets.month(orgId, MONTH)
      const rows = await held(sql, orgId)
      return figures.reservedMicros === total && rows.micros === total && rows.rows === admitted.filter(Boolean).length
    }), { numRuns: 25 })
  t.pass('no batch held more than the budget, and the month\'s row agrees with the reservation rows (25 runs)')
}

async function settleOnce (t: Test, sql: SqlClient): Promise<void> {
  const spent: Array<{ orgId: string, spentMicros: number }> = []
  const budgets = budgetsOf(sql, 1_000_000, spent)
  t.same(await reserveAll(budgets, 'org_once', [300, 300]), [true, true], 'two reserved')
  await Promise.all([budgets.settle('rsp_org_once_0', 120), budgets.settle('rsp_org_once_0', 120), budgets.settle('rsp_org_once_1', 0)])
  t.same(await budgets.month('org_once', MONTH), { spentMicros: 120, reservedMicros: 0 }, 'the cost moved once; the other released')
  await budgets.settle('rsp_org_once_0', 120)
  await budgets.settle('rsp_never_reserved', 999)
  t.same(await budgets.month('org_once', MONTH), { spentMicros: 120, reservedMicros: 0 }, 'settled again, or never reserved: nothing')
  // Settled by another node (a reconciliation): this one never held it, so it goes on its own.
  const other = budgetsOf(sql, 1_000_000)
  t.same(await reserveAll(budgets, 'org_once', [50], 'elsewhere'), [true], 'one more reserved here')
  await other.settle('rsp_elsewhere_0', 40)
  t.same(await budgets.month('org_once', MONTH), { spentMicros: 160, reservedMicros: 0 }, 'another node settles it')
  t.same(await held(sql, 'org_once'), { rows: 0, micros: 0 }, 'no reservation row is left')
}
