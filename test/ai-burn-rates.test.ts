/**
 * The burn rates of AI budgets over the `ai_spend` read model, on PGlite and
 * PostgreSQL: 0, 1 and hundreds of organizations (2,000 on the scale driver,
 * timed); window edges with an injected clock; a month boundary; the budget
 * in force (own, plan's, 0); the blocked count; a rebuild giving the same
 * rows; and the gauges, read at scrape from one evaluation per 15 s.
 */
import { Registry } from 'prom-client'
import t from 'tap'
import { BurnMetrics } from '../src/application/assistant/burn-metrics.ts'
import { evaluateBurn, type BurnDeps, type BurnEvaluation } from '../src/application/assistant/burn-rates.ts'
import { parseMetrics } from '../src/ops/lib/prometheus-text.ts'
import { spendProjection } from '../src/projections/assistant/spend.ts'
import { spendByOrganization } from '../src/projections/assistant/spend-queries.ts'
import { rebuildProjection } from '../src/projections/rebuild.ts'
import type { Runtime } from '../src/runtime.ts'
import { openTestApp } from './helpers/app.ts'
import { budgetRow, orgRow, usageRow, writeLog, type LogRow } from './helpers/ai-burn.ts'
import { lastWritten } from './helpers/assertions.ts'
import { forEachDatabase, scaleDriver } from './helpers/databases.ts'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
/** Mid-April 2026 (30 days): the free plan's $10 spent evenly is 13,888.9 micro-units an hour. */
const NOW = new Date('2026-04-15T12:00:30.000Z')
const ago = (ms: number, from = NOW): Date => new Date(from.getTime() - ms)
const deps = (runtime: Runtime): BurnDeps => ({ sql: runtime.sql, plans: runtime.config.ai.budgets.plans })

async function write (runtime: Runtime, rows: readonly LogRow[]): Promise<void> {
  await writeLog(runtime.sql, rows)
  // Thousands of events: every read model reads them (the audit log among them), which takes PGlite a while.
  await runtime.runner.waitFor(await lastWritten(runtime.sql), 180_000)
}

const byOrg = (evaluation: BurnEvaluation, orgId: string) => evaluation.orgs.find((org) => org.orgId === orgId)

t.test('no organization spent: nothing burns, nothing is blocked', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { runtime } = await openTestApp(t, sql)
    const evaluation = await evaluateBurn(deps(runtime), NOW)
    t.same(evaluation.orgs, [])
    t.same(evaluation.burning, { page_1h: 0, page_6h: 0, ticket_3d: 0 })
    t.equal(evaluation.blocked, 0)
  })
})

t.test('a window starts at the bucket holding now − W: spend just inside counts, just outside does not', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { runtime } = await openTestApp(t, sql)
    // Each spend a power of ten, so each window's sum says which ones it holds.
    await write(runtime, [orgRow('org_edges'),
      usageRow('org_edges', new Date('2026-04-15T11:54:59.999Z'), 1), // before 5m's first minute (11:55)
      usageRow('org_edges', new Date('2026-04-15T11:55:00.000Z'), 10), // its first instant
      usageRow('org_edges', new Date('2026-04-15T12:00:30.000Z'), 100), // now
      usageRow('org_edges', new Date('2026-04-15T13:00:00.000Z'), 100_000_000), // after now (and its hour): not yet
      usageRow('org_edges', new Date('2026-04-15T05:59:59.999Z'), 1_000), // before 6h's first minute (06:00)
      usageRow('org_edges', new Date('2026-04-15T06:00:00.000Z'), 10_000),
      usageRow('org_edges', new Date('2026-04-12T11:59:59.999Z'), 100_000), // before 3d's first hour (12:00, April 12)
      usageRow('org_edges', new Date('2026-04-12T12:00:00.000Z'), 1_000_000)])
    const [org] = await spendByOrganization(runtime.sql, NOW)
    t.same(org?.spend, { '5m': 110, '30m': 111, '1h': 111, '6h': 10_111, '3d': 1_011_111 })
    t.match(org, { orgId: 'org_edges', name: 'Org org_edges', plan: 'free', monthlyMicros: null, blocked: false, spentMicros: 0 })
    const rates = byOrg(await evaluateBurn(deps(runtime), NOW), 'org_edges')!.burnRates
    const month = 30 * 24 * HOUR
    t.equal(rates['5m'], 110 * month / (10_000_000 * 5 * MINUTE), 'spend × month / (budget × W), on the plan\'s budget')
    t.equal(rates['3d'], 1_011_111 * month / (10_000_000 * 72 * HOUR))
    const later = await spendByOrganization(runtime.sql, new Date('2026-04-15T13:02:00.000Z'))
    t.equal(later[0]?.spend['5m'], 100_000_000, 'an hour later, the spend that was after now')
  })
})

t.test('the budget in force is the organization\'s own or its plan\'s; 0 is left out; blocked counts this month\'s', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { runtime } = await openTestApp(t, sql)
    const set = (orgId: string, monthlyMicros: number | null) =>
      budgetRow(orgId, ago(10 * HOUR), 'ai.budget.set', { monthlyMicros, reason: 'test' })
    const exhausted = (orgId: string, month: string) =>
      budgetRow(orgId, ago(9 * HOUR), 'ai.budget.exhausted', { month, spentMicros: 1, budgetMicros: 1 })
    // 250,000 in the last hour, 20,000 of it in the last 5 minutes: 18 times a $10 budget's even rate, 21.6 over 5m.
    const hourly = (orgId: string): LogRow[] => [usageRow(orgId, ago(40 * MINUTE), 230_000), usageRow(orgId, ago(2 * MINUTE), 20_000)]
    await write(runtime, [
      orgRow('org_fast'), ...hourly('org_fast'),
      orgRow('org_pro', 'pro'), ...hourly('org_pro'), // $500: 0.36
      orgRow('org_own', 'pro'), set('org_own', 10_000_000), ...hourly('org_own'), // its own $10: 18
      orgRow('org_back', 'free'), set('org_back', 1), set('org_back', null), ...hourly('org_back'), // back to the plan's
      orgRow('org_off'), set('org_off', 0), exhausted('org_off', '2026-04'), ...hourly('org_off'), // cannot spend
      orgRow('org_blocked'), exhausted('org_blocked', '2026-04'), // blocked, spent nothing for days
      orgRow('org_was'), exhausted('org_was', '2026-03'), // last month's block
      orgRow('org_freed'), exhausted('org_freed', '2026-04'),
      budgetRow('org_freed', ago(8 * HOUR), 'ai.budget.unblocked',
        { month: '2026-04', spentMicros: 1, budgetMicros: 2, reason: 'budget_raised' })
    ])
    await runtime.sql.query(`INSERT INTO ai_budget_months (org_id, month, spent_micros, reserved_micros)
      VALUES ('org_fast', '2026-04-01', 4200000, 0), ('org_fast', '2026-03-01', 9, 0)`)
    const evaluation = await evaluateBurn(deps(runtime), NOW)
    t.same(evaluation.orgs.map((org) => org.orgId).sort(), ['org_back', 'org_blocked', 'org_fast', 'org_own', 'org_pro'])
    t.match(byOrg(evaluation, 'org_fast'), { budgetMicros: 10_000_000, spentMicros: 4_200_000, blocked: false, rulesTripped: ['page_1h'] })
    t.equal(Math.round(byOrg(evaluation, 'org_fast')!.burnRates['1h'] * 1000) / 1000, 18)
    t.match(byOrg(evaluation, 'org_pro'), { budgetMicros: 500_000_000, rulesTripped: [] })
    t.match(byOrg(evaluation, 'org_own'), { budgetMicros: 10_000_000, rulesTripped: ['page_1h'] })
    t.match(byOrg(evaluation, 'org_back'), { budgetMicros: 10_000_000, rulesTripped: ['page_1h'] })
    t.match(byOrg(evaluation, 'org_blocked'), { blocked: true, burnRates: { '3d': 0 }, rulesTripped: [] })
    t.same(evaluation.burning, { page_1h: 3, page_6h: 0, ticket_3d: 0 })
    t.equal(evaluation.blocked, 1, 'org_blocked: not last month\'s, not unblocked, not one whose budget is 0')
    const inMay = await evaluateBurn(deps(runtime), new Date('2026-05-01T00:00:00Z'))
    t.equal(inMay.blocked, 0, 'a block ends with its month')
  })
})

t.test('across a month boundary the window holds both months\' spend, at the new month\'s even rate', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { runtime } = await openTestApp(t, sql)
    await write(runtime, [orgRow('org_turn'), budgetRow('org_turn', new Date('2026-02-01T00:00:00Z'), 'ai.budget.set',
      { monthlyMicros: 744_000, reason: 'an even hour of March is 1,000' }),
    usageRow('org_turn', new Date('2026-02-28T23:45:00Z'), 7_500), usageRow('org_turn', new Date('2026-03-01T00:27:00Z'), 7_500)])
    const march = byOrg(await evaluateBurn(deps(runtime), new Date('2026-03-01T00:30:00Z')), 'org_turn')!
    t.equal(march.burnRates['1h'], 15, '15,000 in the hour over March\'s 1,000')
    t.same(march.rulesTripped, ['page_1h'])
    const february = byOrg(await evaluateBurn(deps(runtime), new Date('2026-02-28T23:59:00Z')), 'org_turn')!
    t.equal(february.burnRates['1h'], 7_500 * 672 / 744_000, 'in February: half the spend, over a shorter month\'s even hour')
    t.same(february.rulesTripped, [])
  })
})

async function snapshot (runtime: Runtime): Promise<unknown[]> {
  const tables = ['ai_spend_minutes', 'ai_spend_hours', 'ai_budget_policies']
  return Promise.all(tables.map(async (table) =>
    (await runtime.sql.query(`SELECT * FROM ${table} ORDER BY 1, 2`)).rows.map((row) => JSON.stringify(row))))
}

t.test('the read model agrees with a rebuild from the log, buckets past their retention pruned in both', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { runtime } = await openTestApp(t, sql)
    const orgs = ['org_r1', 'org_r2', 'org_r3']
    await write(runtime, orgs.map((orgId) => orgRow(orgId)))
    // Five days of spend, written a day at a time: the runner applies it in batches a rebuild does not share.
    for (let day = 5; day >= 0; day--) {
      const rows = orgs.flatMap((orgId, i) => Array.from({ length: 24 }, (_, hour) =>
        usageRow(orgId, ago(day * 24 * HOUR + hour * HOUR + i * 7 * MINUTE), 1000 * (i + 1) + hour)))
      await write(runtime, day === 3 ? [...rows, budgetRow('org_r2', ago(day * 24 * HOUR), 'ai.budget.set',
        { monthlyMicros: 5_000_000, reason: 'r' })] : rows)
    }
    const before = await snapshot(runtime)
    const { rows: oldest } = await runtime.sql.query<{ minute: Date, hour: Date }>(
      'SELECT (SELECT min(bucket) FROM ai_spend_minutes) AS minute, (SELECT min(bucket) FROM ai_spend_hours) AS hour')
    t.ok(new Date(oldest[0]!.minute).getTime() >= ago(8 * HOUR).getTime(), 'minutes: at most 7 hours and one behind the latest')
    t.ok(new Date(oldest[0]!.hour).getTime() >= ago(4 * 24 * HOUR + HOUR).getTime(), 'hours: at most 4 days and one')
    const evaluated = await evaluateBurn(deps(runtime), NOW)
    await rebuildProjection({ sql: runtime.sql, store: runtime.store, projection: spendProjection })
    t.same(await snapshot(runtime), before, 'the same rows')
    t.same(await evaluateBurn(deps(runtime), NOW), evaluated, 'and the same evaluation')
  })
})

t.test('hundreds of organizations on every driver; 2,000 on the scale driver, timed', async (t) => {
  await forEachDatabase(t, async (t, { driver, sql }) => {
    const { runtime } = await openTestApp(t, sql)
    const count = driver === scaleDriver() ? 2000 : 300
    const ids = Array.from({ length: count }, (_, i) => `org_n${i}`)
    // Every 10th burns fast (page_1h), every 7th steadily over 3 days (ticket_3d), the rest slowly; 6 usage records each.
    const rows = ids.flatMap((orgId, i) => {
      const fast = i % 10 === 0
      const steady = i % 7 === 0
      return [orgRow(orgId), usageRow(orgId, ago(MINUTE), fast ? 20_000 : 100), usageRow(orgId, ago(30 * MINUTE), fast ? 230_000 : 100),
        usageRow(orgId, ago(3 * HOUR), steady ? 150_000 : 100), usageRow(orgId, ago(26 * HOUR), steady ? 400_000 : 100),
        usageRow(orgId, ago(50 * HOUR), steady ? 400_000 : 100), usageRow(orgId, ago(70 * HOUR), steady ? 400_000 : 100)]
    })
    await write(runtime, rows)
    const timings: number[] = []
    let evaluation: BurnEvaluation | undefined
    for (let run = 0; run < 5; run++) {
      const started = performance.now()
      evaluation = await evaluateBurn(deps(runtime), NOW)
      timings.push(performance.now() - started)
    }
    timings.sort((a, b) => a - b)
    t.comment(`${driver}: evaluation of ${count} organizations with spend: median ${timings[2]!.toFixed(1)} ms, ` +
      `min ${timings[0]!.toFixed(1)} ms, max ${timings[4]!.toFixed(1)} ms`)
    t.equal(evaluation!.orgs.length, count)
    t.same(evaluation!.burning, {
      page_1h: ids.filter((_, i) => i % 10 === 0).length, page_6h: 0, ticket_3d: ids.filter((_, i) => i % 7 === 0).length
    })
    t.ok(timings[2]! < 5000, 'well within a scrape')
  })
})

t.test('the gauges: every rule\'s series at 0 from the start, one evaluation per 15 s shared by a scrape\'s gauges', async (t) => {
  const registry = new Registry()
  let now = NOW
  let evaluations = 0
  let failing = false
  const burning = { page_1h: 2, page_6h: 1, ticket_3d: 0 }
  const metrics = new BurnMetrics(registry, {
    now: () => now,
    evaluate: async (at) => {
      evaluations++
      if (failing) throw new Error('the database is away')
      return { evaluatedAt: at, orgs: [], burning: { ...burning }, blocked: 3 }
    }
  })
  const scrape = async (): Promise<Record<string, number>> => Object.fromEntries(parseMetrics(await registry.metrics())
    .map((sample) => [`${sample.name}${sample.labels.rule === undefined ? '' : `{${sample.labels.rule}}`}`, sample.value]))
  failing = true
  t.same(await scrape(), {
    'ledgerline_ai_budget_orgs_burning{page_1h}': 0, 'ledgerline_ai_budget_orgs_burning{page_6h}': 0,
    'ledgerline_ai_budget_orgs_burning{ticket_3d}': 0, ledgerline_ai_budget_orgs_blocked: 0,
    ledgerline_ai_budget_burn_evaluated_timestamp_seconds: 0
  }, 'a failed evaluation: the three rules at 0, never evaluated')
  t.equal(evaluations, 1, 'one evaluation for the three gauges')
  failing = false
  const first = await scrape()
  t.equal(evaluations, 2, 'a failure is not kept: the next scrape evaluates again')
  t.same(first, {
    'ledgerline_ai_budget_orgs_burning{page_1h}': 2, 'ledgerline_ai_budget_orgs_burning{page_6h}': 1,
    'ledgerline_ai_budget_orgs_burning{ticket_3d}': 0, ledgerline_ai_budget_orgs_blocked: 3,
    ledgerline_ai_budget_burn_evaluated_timestamp_seconds: NOW.getTime() / 1000
  })
  now = new Date(NOW.getTime() + 14_999)
  burning.page_1h = 5
  t.same(await scrape(), first, 'within 15 s: the same evaluation')
  t.equal(evaluations, 2)
  now = new Date(NOW.getTime() + 15_000)
  t.equal((await scrape())['ledgerline_ai_budget_orgs_burning{page_1h}'], 5, '15 s later: evaluated again')
  t.equal(metrics.evaluations, 3)
  failing = true
  now = new Date(NOW.getTime() + 60_000)
  const stale = await scrape()
  t.equal(stale.ledgerline_ai_budget_burn_evaluated_timestamp_seconds, (NOW.getTime() + 15_000) / 1000,
    'a failure leaves the last success\'s time, which the staleness alert reads')
  t.equal(stale['ledgerline_ai_budget_orgs_burning{page_1h}'], 5, 'and its counts')
})

t.test('the runtime\'s registry serves the three gauges, with no label naming an organization', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { runtime } = await openTestApp(t, sql)
    await write(runtime, [orgRow('org_scraped'), usageRow('org_scraped', ago(MINUTE, new Date()), 1_000_000)])
    const samples = parseMetrics(await runtime.metrics.registry.metrics())
      .filter((sample) => sample.name.startsWith('ledgerline_ai_budget_'))
    t.same(samples.map((sample) => `${sample.name}${JSON.stringify(sample.labels)}`).sort(), [
      'ledgerline_ai_budget_burn_evaluated_timestamp_seconds{}', 'ledgerline_ai_budget_orgs_blocked{}',
      'ledgerline_ai_budget_orgs_burning{"rule":"page_1h"}', 'ledgerline_ai_budget_orgs_burning{"rule":"page_6h"}',
      'ledgerline_ai_budget_orgs_burning{"rule":"ticket_3d"}'
    ])
    const burning = samples.find((sample) => sample.labels.rule === 'page_1h')!
    t.equal(burning.value, 1, '$1 in a minute of a $10 budget trips page_1h')
    t.ok(Date.now() / 1000 - samples.find((s) => s.name.endsWith('timestamp_seconds'))!.value < 60, 'evaluated just now')
  })
})
