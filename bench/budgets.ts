/**
 * AI budgets benchmark: `npm run bench:budgets` (docs/ai-budgets.md).
 *
 * On a fresh PostgreSQL database (created on DATABASE_URL's server, dropped
 * after), Ledgerline's reservation statements (src/application/assistant/budgets.ts)
 * on one hot organization:
 * - reserve-settle: 50 concurrent callers, each reserving then settling a
 *   response in a loop for a while; the p95 of the reservation step (through
 *   the pool, as a request sees it) and the pairs per second. The node sends
 *   what arrives for the organization while its statement is under way as one
 *   batch, so a reservation waits for at most the statement under way and its
 *   own: about two commits. The peer is the
 *   raw limit of the same contention: the same callers each running two bare
 *   `UPDATE … SET n = n + 1` of one row per pair, through the same pool.
 * - overspend: 200 reservations at once on a budget that pays for 50, every
 *   admitted one settled at its whole estimate (the worst case); micro-units
 *   over budget, target exactly 0.
 * - reserve-single-caller: the same with one caller, no contention: what one
 *   reservation costs on its own (no target; context for the first).
 * Results go to bench/results/budgets.json (DESIGN.md §9).
 *
 * Settings (env): DATABASE_URL (default: the local server's `postgres`), BENCH_SECONDS (10), BENCH_CALLERS (50),
 * BENCH_POOL (10, the default DATABASE_POOL_SIZE).
 */
import { loadavg } from 'node:os'
import { AiBudgets } from '../src/application/assistant/budgets.ts'
import { openSqlClient, type SqlClient } from '../src/sql/client.ts'
import { migrate } from '../src/sql/migrate.ts'
import { createBenchDatabase, DEFAULT_SERVER_URL } from './lib/database.ts'
import { log } from './lib/log.ts'
import { formatReport, latency, machineInfo, newReport, percentile, throughput, writeReport } from './lib/results.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const CALLERS = Number(process.env.BENCH_CALLERS ?? 50)
const POOL = Number(process.env.BENCH_POOL ?? 10)
const MONTH = '2030-01'

const budgetsOf = (sql: SqlClient, budgetMicros: number): AiBudgets =>
  new AiBudgets(sql, { policyOf: async () => ({ budgetMicros, blocked: false }), spent: async () => {} }, 900_000)

/** Runs `callers` loops of `step` for `seconds`; each step's first phase timed. */
async function load (callers: number, seconds: number, step: (caller: number, n: number) => Promise<number>) {
  const samples: number[] = []
  const until = performance.now() + seconds * 1000
  let pairs = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: callers }, async (_, caller) => {
    for (let n = 0; performance.now() < until; n++) {
      samples.push(await step(caller, n))
      pairs++
    }
  }))
  return { p95: percentile(samples, 95), perSecond: pairs / ((performance.now() - started) / 1000) }
}

async function reserveSettle (sql: SqlClient, callers: number, tag: string) {
  const budgets = budgetsOf(sql, 1e15)
  return load(callers, SECONDS, async (caller, n) => {
    const responseId = `rsp_${tag}_${caller}_${n}`
    const t0 = performance.now()
    await budgets.reserve({ orgId: 'org_hot', conversationId: 'cnv_bench', responseId, month: MONTH, estimateMicros: 100, now: new Date() })
    const elapsed = performance.now() - t0
    await budgets.settle(responseId, 80)
    return elapsed
  })
}

async function rawLimit (sql: SqlClient, callers: number) {
  await sql.query('CREATE TABLE IF NOT EXISTS bench_counter (id int PRIMARY KEY, n bigint NOT NULL)')
  await sql.query('INSERT INTO bench_counter VALUES (1, 0) ON CONFLICT DO NOTHING')
  return load(callers, SECONDS, async () => {
    const t0 = performance.now()
    await sql.query('UPDATE bench_counter SET n = n + 1 WHERE id = 1')
    const elapsed = performance.now() - t0
    await sql.query('UPDATE bench_counter SET n = n - 1 WHERE id = 1')
    return elapsed
  })
}

async function overspend (sql: SqlClient): Promise<number> {
  const estimate = 1000
  const budget = 50 * estimate
  const budgets = budgetsOf(sql, budget)
  const outcomes = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => budgets.reserve({
    orgId: 'org_over', conversationId: 'cnv_bench', responseId: `rsp_over_${i}`, month: MONTH, estimateMicros: estimate, now: new Date()
  }).then(() => i)))
  const admitted = outcomes.flatMap((outcome) => outcome.status === 'fulfilled' ? [outcome.value] : [])
  await Promise.all(admitted.map((i) => budgets.settle(`rsp_over_${i}`, estimate)))
  const { spentMicros } = await budgets.month('org_over', MONTH)
  log(`overspend: ${admitted.length} of 200 admitted, ${spentMicros} spent of ${budget}`)
  return Math.max(0, spentMicros - budget)
}

async function main (): Promise<void> {
  const database = await createBenchDatabase(process.env.DATABASE_URL ?? DEFAULT_SERVER_URL, 'bench_budgets')
  const sql = await openSqlClient({ databaseUrl: database.url, poolSize: POOL })
  try {
    await migrate(sql)
    const over = await overspend(sql)
    const ours = await reserveSettle(sql, CALLERS, 'hot')
    const peer = await rawLimit(sql, CALLERS)
    const alone = await reserveSettle(sql, 1, 'alone')
    const peerAlone = await rawLimit(sql, 1)
    const peerName = `raw single-row UPDATE via pg, ${CALLERS} callers`
    const report = {
      ...newReport('budgets', 'npm run bench:budgets', machineInfo(database.version, { load: loadavg()[0]!.toFixed(2), pool: POOL }), [
        latency({ name: 'reserve-settle', metric: 'ms p95 (reserve)', value: ours.p95, peer: { name: peerName, value: peer.p95 },
          targets: { value: '<= 2' } }),
        throughput({ name: 'reserve-settle-rate', metric: 'reservations+settlements/s', value: ours.perSecond,
          peer: { name: `${peerName}, two per pair`, value: peer.perSecond } }),
        latency({ name: 'reserve-single-caller', metric: 'ms p95 (reserve)', value: alone.p95,
          peer: { name: 'raw single-row UPDATE via pg, 1 caller', value: peerAlone.p95 } }),
        { name: 'overspend', metric: 'micro-units over budget', value: over, targets: { value: '= 0' } }
      ]),
      notes: [
        `${CALLERS} callers on one organization for ${SECONDS} s, through a pool of ${POOL} connections`,
        'a reservation alone is one statement and one commit: its floor is the server\'s commit time (reserve-single-caller\'s ' +
          'peer); on one hot row each statement holds the row\'s lock through its commit, so the raw UPDATE peer\'s callers queue ' +
          'one commit after another, while Ledgerline sends what arrives meanwhile as one batch (one commit for many)'
      ]
    }
    writeReport(report)
    log(formatReport(report))
  } finally {
    await sql.close()
    await database.drop()
  }
}

await main()
