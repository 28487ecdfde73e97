/**
 * The claim's plan on a due queue that has grown faster than its statistics,
 * on every database driver: 20,000 jobs written into a fresh table that was
 * never analyzed (a projection's first minutes, or a server whose autovacuum
 * is off), 8,000 of them already run. The claim must read the due rows in
 * `jobs_claimable`'s order and stop at the batch, never read every due row
 * through a bitmap and sort it: that claim grows with the queue. Without
 * statistics it reads all three partial indexes; the same holds for the due
 * rows once the table is analyzed.
 */
import t, { type Test } from 'tap'
import { jobsProjection } from '../src/projections/jobs/projection.ts'
import { CLAIM_FUNCTION, claimDueJobs, type ClaimOptions } from '../src/projections/jobs/queries.ts'
import type { SqlClient } from '../src/sql/client.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { planNodes, planningExecutor, type PlanNode } from './helpers/plans.ts'

const TYPE = 'test.plan'
const JOBS = 20_000
const DONE = 8_000

/** The table as the projection builds it, with no statistics: nothing analyzes it here. */
async function seedQueue (sql: SqlClient): Promise<void> {
  await sql.exec(jobsProjection.setup + (jobsProjection.indexes ?? ''))
  await sql.query(`
    INSERT INTO jobs (job_id, job_type, state, run_at, attempt, max_attempts, timeout_seconds, scheduled_at, updated_at)
    SELECT 'job-' || lpad(i::text, 6, '0'), $1, 'waiting', timestamptz '2024-01-01' + i * interval '1 ms', 0, 25, 300, now(), now()
      FROM generate_series(1, $2::int) AS i`, [TYPE, JOBS])
  // The oldest ones ran as a runner runs them: claimed, started, succeeded (each a new row version).
  const first = `job_id <= 'job-${String(DONE).padStart(6, '0')}'`
  await sql.query(`UPDATE jobs SET claimed_attempt = 1, claimed_by = 'n', claimed_until = timestamptz '2024-01-01' WHERE ${first}`)
  await sql.query(`UPDATE jobs SET state = 'running', attempt = 1, lease_node = 'n', lease_until = timestamptz '2024-01-01' WHERE ${first}`)
  await sql.query(`UPDATE jobs SET state = 'succeeded', lease_node = NULL, lease_until = NULL, finished_at = now() WHERE ${first}`)
}

/** Node types of a JSON plan with the relation or index each reads ("Sort" for a sort). */
function nodes (plan: PlanNode): string[] {
  return planNodes(plan).map((node) => {
    const name = node['Index Name'] ?? node['Relation Name'] ?? node['CTE Name']
    return `${String(node['Node Type'])}${name === undefined ? '' : ` ${String(name)}`}`
  })
}

/**
 * The claim function's body (migration 008) planned as the function runs it: with the function's own settings (bitmap scans
 * off), in a transaction that ends rolled back, its parameters typed as the function declares them.
 */
async function planClaim (t: Test, sql: SqlClient, params: readonly unknown[]): Promise<string[]> {
  const { rows } = await sql.query<{ body: string, config: string[] | string | null }>(
    'SELECT prosrc AS body, proconfig AS config FROM pg_proc WHERE proname = $1', [CLAIM_FUNCTION])
  t.equal(rows.length, 1, 'one claim function')
  const settings = typeof rows[0]!.config === 'string' ? rows[0]!.config.replace(/^{|}$/g, '').split(',') : rows[0]!.config ?? []
  const plans: string[] = []
  await sql.transaction(async (tx) => {
    for (const setting of settings) {
      const [name, value] = setting.split('=')
      await tx.query('SELECT set_config($1, $2, true)', [name, value])
    }
    await planningExecutor(tx, (plan) => plans.push(...nodes(plan))).query(
      `${rows[0]!.body.replace(/\$(\d)/g, (_, n: string) => `$${n}::${PARAM_TYPES[Number(n) - 1]}`)}`, params)
  })
  return plans
}

/** The function's parameters' types, in order: a body planned as a query gets them from casts. */
const PARAM_TYPES = ['timestamptz', 'text[]', 'integer', 'text[]', 'text', 'timestamptz']

/**
 * Due rows are read from `jobs_claimable` in its order, stopping at the batch (no sort between the limit and the scan), and
 * no source reads through a bitmap. Leases and lapsed claims may come through another index once the statistics show few
 * running or marked rows: those are bounded by the nodes' concurrency, not by the queue.
 */
async function checkPlan (t: Test, sql: SqlClient, options: ClaimOptions, when: string): Promise<string[]> {
  const until = new Date(options.now.getTime() + options.claimSeconds * 1000).toISOString()
  const plan = await planClaim(t, sql, [options.now.toISOString(), [...options.types], options.limit, [], options.node, until])
  const at = plan.indexOf('Index Scan jobs_claimable')
  t.same(plan.slice(at - 2, at + 1), ['Limit', 'LockRows', 'Index Scan jobs_claimable'],
    `${when}: due rows in jobs_claimable's order, up to the batch (${plan.join(', ')})`)
  t.same(plan.filter((node) => node.startsWith('Bitmap')), [], `${when}: no bitmap scan`)
  return plan
}

t.test('a claim walks its partial indexes in order on a queue without statistics, and once analyzed', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    await seedQueue(sql)
    const options = { node: 'plan', types: [TYPE], limit: 8, now: new Date('2025-01-01'), claimSeconds: 30 }
    const plan = await checkPlan(t, sql, options, 'without statistics')
    for (const index of ['jobs_lease_expired', 'jobs_claim_lapsed']) t.ok(plan.includes(`Index Scan ${index}`), `it reads ${index}`)
    await sql.exec('ANALYZE jobs')
    await checkPlan(t, sql, options, 'once analyzed')
    const claimed = await claimDueJobs(sql, options)
    t.same(claimed.map((job) => job.jobId), Array.from({ length: 8 }, (_, i) => `job-${String(DONE + 1 + i).padStart(6, '0')}`),
      'the oldest due jobs, in run order')
  })
})
