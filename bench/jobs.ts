/**
 * Jobs benchmark: `npm run bench:jobs`.
 *
 * Ledgerline's jobs engine (src/application/jobs/, its due queue the `jobs`
 * projection) against graphile-worker 0.17, both with concurrency 8 and
 * no-op handlers, in one run, each scenario and each contender on a fresh
 * PostgreSQL database (created on DATABASE_URL's server, dropped after):
 * - jobs-throughput: enqueue N jobs, then drain them; jobs/s for the
 *   enqueue, the drain, and the whole (N over both times).
 * - jobs-latency: jobs enqueued open-loop at a fixed rate while a worker
 *   runs; enqueue → handler start, p50 and p99.
 * - jobs-recovery: a node in a child process killed with SIGKILL while its
 *   handlers hold leased jobs; seconds until another node has completed
 *   them all. graphile-worker's figure is its documented lock expiry (4 h,
 *   hard-coded in its SQL), not measured.
 * Then ours alone on in-memory PGlite (one connection), without targets.
 * Our engine runs at the configuration's defaults (bench/lib/jobs-engine.ts);
 * the peer at its own. Results go to bench/results/jobs.json (DESIGN.md §9),
 * each result with its verdict.
 *
 * Settings, as flags or env vars (`npm run bench:jobs -- --jobs 2000`):
 *   DATABASE_URL                                 server for the bench databases (default: the local server's `postgres`)
 *   BENCH_JOBS            --jobs N               jobs enqueued and drained on PostgreSQL (50000; --quick 2000)
 *   BENCH_QUICK=1         --quick                a small smoke run: fewer jobs, short latency runs, a 5 s lease
 *   BENCH_RATE            --rate                 offered load of the latency runs, jobs/s (500)
 *   BENCH_LATENCY_SECONDS --latency-seconds      length of each latency run (20; --quick 3), after a warm-up of a fifth of it
 *   BENCH_LEASE_SECONDS   --lease-seconds        lease in the recovery run (30, JOB_LEASE_SECONDS's default; --quick 5)
 *   BENCH_RECOVERY_JOBS   --recovery-jobs        jobs the killed node holds (8: its concurrency)
 *   BENCH_ENQUEUERS       --enqueuers            concurrent schedule()/addJob callers (8)
 *   BENCH_ADD_BATCH       --add-batch            jobs per addJobs call of the peer (1000)
 *   BENCH_PGLITE_JOBS     --pglite-jobs          jobs in the PGlite throughput run (10000; --quick 1000)
 *   BENCH_PGLITE_RATE     --pglite-rate          offered load of the PGlite latency run (100: one connection saturates below 500)
 *   BENCH_ONLY            --only                 all | pg | pglite (all)
 *   BENCH_STRICT=1                               exit 1 when a target is missed
 */
import { loadavg } from 'node:os'
import { openSqlClient, type SqlClient } from '../src/sql/client.ts'
import { migrate } from '../src/sql/migrate.ts'
import { createBenchDatabase, DEFAULT_SERVER_URL, redact } from './lib/database.ts'
import { GRAPHILE_NAME } from './lib/graphile-worker.ts'
import { DEFAULTS } from './lib/jobs-engine.ts'
import { describeMs, rates, type LatencyFigures, type ThroughputFigures } from './lib/jobs-load.ts'
import { oursLatency, oursRecovery, oursEnqueueSingle, oursThroughput } from './lib/jobs-ours.ts'
import { peerEnqueueSingle, peerLatency, peerThroughput } from './lib/jobs-peer.ts'
import {
  jobsNotes, jobsResults, type JobsFigures, type PgliteFigures, type PostgresFigures, type ReportParameters
} from './lib/jobs-report.ts'
import { log } from './lib/log.ts'
import { readOptions } from './lib/options.ts'
import {
  checkTargets, databaseName, formatReport, machineInfo, missedTargets, newReport, packageVersion, writeReport,
  type BenchReport, type BenchResult
} from './lib/results.ts'

// ── configuration ──────────────────────────────────────────────────────────

const OPTIONS = {
  jobs: { env: 'BENCH_JOBS', fallback: '' },
  quick: { type: 'boolean', env: 'BENCH_QUICK', fallback: '' },
  rate: { env: 'BENCH_RATE', fallback: '500' },
  'latency-seconds': { env: 'BENCH_LATENCY_SECONDS', fallback: '' },
  'lease-seconds': { env: 'BENCH_LEASE_SECONDS', fallback: '' },
  'recovery-jobs': { env: 'BENCH_RECOVERY_JOBS', fallback: '' },
  enqueuers: { env: 'BENCH_ENQUEUERS', fallback: '8' },
  'add-batch': { env: 'BENCH_ADD_BATCH', fallback: '1000' },
  'pglite-jobs': { env: 'BENCH_PGLITE_JOBS', fallback: '' },
  'pglite-rate': { env: 'BENCH_PGLITE_RATE', fallback: '' },
  only: { env: 'BENCH_ONLY', fallback: 'all' }
} as const

type Config = ReturnType<typeof config>

function config () {
  const { get, num } = readOptions(OPTIONS)
  const quick = ['1', 'true'].includes(get('quick'))
  const pick = (key: keyof typeof OPTIONS, full: number, small: number): number =>
    get(key) === '' ? (quick ? small : full) : Math.round(num(key))
  const only = get('only')
  if (only !== 'all' && only !== 'pg' && only !== 'pglite') throw new Error('--only / BENCH_ONLY is all, pg or pglite')
  const rate = num('rate')
  const latencySeconds = pick('latency-seconds', 20, 3)
  return {
    serverUrl: process.env.DATABASE_URL || DEFAULT_SERVER_URL,
    quick,
    jobs: pick('jobs', 50_000, 2000),
    concurrency: DEFAULTS.concurrency,
    rate,
    latencySeconds,
    warmupSeconds: Math.max(1, Math.round(latencySeconds / 5)),
    leaseSeconds: pick('lease-seconds', DEFAULTS.leaseSeconds, 5),
    recoveryJobs: pick('recovery-jobs', DEFAULTS.concurrency, DEFAULTS.concurrency),
    enqueuers: Math.round(num('enqueuers')),
    addBatch: Math.round(num('add-batch')),
    pgliteJobs: pick('pglite-jobs', 10_000, 1000),
    pgliteRate: get('pglite-rate') === '' ? 100 : num('pglite-rate'),
    only
  }
}

// ── running ────────────────────────────────────────────────────────────────

let serverVersion = ''

/** Runs `fn` on a fresh database on the server, dropped after (also on Ctrl-C). */
async function onFreshDatabase<T> (cfg: Config, tag: string, fn: (url: string) => Promise<T>): Promise<T> {
  const db = await createBenchDatabase(cfg.serverUrl, `ledgerline_bench_jobs_${tag}`)
  serverVersion = db.version
  const onSignal = (): void => { void db.drop().finally(() => process.exit(130)) }
  process.once('SIGINT', onSignal)
  try {
    return await fn(db.url)
  } finally {
    process.off('SIGINT', onSignal)
    await db.drop()
  }
}

/** Ours on a fresh, migrated database: our SQL client at the configuration's pool size. */
function oursOnFreshDatabase<T> (cfg: Config, tag: string, fn: (sql: SqlClient, url: string) => Promise<T>): Promise<T> {
  return onFreshDatabase(cfg, tag, async (url) => {
    const sql = await openSqlClient({ databaseUrl: url, poolSize: DEFAULTS.poolSize })
    try {
      await migrate(sql)
      return await fn(sql, url)
    } finally {
      await sql.close()
    }
  })
}

async function onPglite<T> (fn: (sql: SqlClient) => Promise<T>): Promise<T> {
  const sql = await openSqlClient({ dataDir: 'memory://' })
  try {
    await migrate(sql)
    return await fn(sql)
  } finally {
    await sql.close()
  }
}

async function runPostgres (cfg: Config): Promise<PostgresFigures> {
  const n = cfg.jobs
  log(`jobs-throughput, ours: ${n} jobs through scheduleMany in batches of ${cfg.addBatch}, then one node (concurrency ${cfg.concurrency})`)
  const ours = await oursOnFreshDatabase(cfg, 'tp_ours', (sql) => oursThroughput(sql, { jobs: n, batch: cfg.addBatch }))
  logThroughput('ours', ours)
  log(`jobs-throughput, peer: ${n} jobs through addJobs in batches of ${cfg.addBatch}, then run() (concurrency ${cfg.concurrency})`)
  const peer = await onFreshDatabase(cfg, 'tp_peer',
    (url) => peerThroughput(url, { jobs: n, batch: cfg.addBatch, concurrency: cfg.concurrency }))
  logThroughput('peer', peer)
  log(`peer enqueue through addJob from ${cfg.enqueuers} callers`)
  const peerSingle = await onFreshDatabase(cfg, 'enq_peer', (url) => peerEnqueueSingle(url, { jobs: n, concurrency: cfg.enqueuers }))
  log(`  peer: ${Math.round(peerSingle.rate)} jobs/s`)
  log(`ours enqueue through schedule() from ${cfg.enqueuers} callers`)
  const oursSingle = await oursOnFreshDatabase(cfg, 'enq_ours', (sql) => oursEnqueueSingle(sql, { jobs: n, concurrency: cfg.enqueuers }))
  log(`  ours: ${Math.round(oursSingle.rate)} jobs/s`)
  const latencyOptions = { rate: cfg.rate, seconds: cfg.latencySeconds, warmupSeconds: cfg.warmupSeconds, concurrency: cfg.concurrency }
  log(`jobs-latency: ${cfg.rate} jobs/s open loop for ${cfg.latencySeconds} s after ${cfg.warmupSeconds} s of warm-up`)
  const oursLat = await oursOnFreshDatabase(cfg, 'lat_ours', (sql) => oursLatency(sql, latencyOptions))
  logLatency('ours', oursLat)
  const peerLat = await onFreshDatabase(cfg, 'lat_peer', (url) => peerLatency(url, latencyOptions))
  logLatency('peer', peerLat)
  log(`jobs-recovery: a child node holding ${cfg.recoveryJobs} leased jobs (lease ${cfg.leaseSeconds} s) killed with SIGKILL`)
  const recovery = await oursOnFreshDatabase(cfg, 'recovery',
    (sql, url) => oursRecovery(sql, url, { jobs: cfg.recoveryJobs, leaseSeconds: cfg.leaseSeconds }))
  return { version: serverVersion, ours, peer, peerSingle, oursSingle, oursLatency: oursLat, peerLatency: peerLat, recovery }
}

async function runPglite (cfg: Config): Promise<PgliteFigures> {
  log(`PGlite, ours: ${cfg.pgliteJobs} jobs`)
  const tp = await onPglite((sql) => oursThroughput(sql, { jobs: cfg.pgliteJobs, batch: cfg.addBatch }))
  logThroughput('ours on PGlite', tp)
  log(`PGlite latency: ${cfg.pgliteRate} jobs/s open loop for ${cfg.latencySeconds} s`)
  const lat = await onPglite(async (sql) => {
    const version = databaseName((await sql.query<{ version: string }>('SELECT version()')).rows[0]!.version)
    const options = { rate: cfg.pgliteRate, seconds: cfg.latencySeconds, warmupSeconds: cfg.warmupSeconds }
    return { version, figures: await oursLatency(sql, options) }
  })
  logLatency('ours on PGlite', lat.figures)
  return { version: `PGlite ${packageVersion('@electric-sql/pglite')} (${lat.version})`, throughput: tp, latency: lat.figures }
}

function logThroughput (who: string, f: ThroughputFigures): void {
  const r = rates(f)
  log(`  ${who}: enqueue ${Math.round(r.enqueue)} jobs/s (${f.enqueueSeconds.toFixed(1)} s), ` +
    `drain ${Math.round(r.drain)} jobs/s (${f.drainSeconds.toFixed(1)} s), whole ${Math.round(r.whole)} jobs/s`)
}

function logLatency (who: string, f: LatencyFigures): void {
  log(`  ${who}: start ${describeMs(f.startMs)}; enqueue call ${describeMs(f.enqueueMs)}; ${f.missing} missing, ` +
    `${f.enqueueErrors} enqueue errors${f.firstError === undefined ? '' : ` (${String(f.firstError)})`}`)
}

async function main (): Promise<void> {
  const cfg = config()
  const started = performance.now()
  const loads = [loadavg()[0]!]
  log(`bench:jobs — ${JSON.stringify({ ...cfg, serverUrl: redact(cfg.serverUrl) })}, 1-min load average ${loads[0]!.toFixed(2)}`)
  const figures: JobsFigures = {
    ...(cfg.only === 'pglite' ? {} : { postgres: await runPostgres(cfg) }),
    ...(cfg.only === 'pg' ? {} : { pglite: await runPglite(cfg) })
  }
  loads.push(loadavg()[0]!)
  const parameters = reportParameters(cfg)
  const machine = machineInfo(figures.postgres?.version, {
    ...(figures.pglite === undefined ? {} : { pglite: figures.pglite.version }),
    peer: GRAPHILE_NAME,
    loadAverage: loads.map((l) => Number(l.toFixed(2)))
  })
  const base = newReport('jobs', `npm run bench:jobs${cfg.quick ? ' -- --quick' : ''}`, machine, jobsResults(parameters, figures))
  const report: BenchReport & { parameters: typeof parameters } = {
    ...base, parameters, results: withVerdicts(base.results), notes: jobsNotes(parameters, figures, loads)
  }
  const file = writeReport(report)
  console.log('\n' + formatReport(report))
  log(`wrote ${file} in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  if (process.env.BENCH_STRICT === '1' && missedTargets(report).length > 0) process.exitCode = 1
}

function reportParameters (cfg: Config): ReportParameters {
  return {
    jobs: cfg.jobs,
    concurrency: cfg.concurrency,
    enqueuers: cfg.enqueuers,
    peerAddJobsBatch: cfg.addBatch,
    latencyRate: cfg.rate,
    latencySeconds: cfg.latencySeconds,
    latencyWarmupSeconds: cfg.warmupSeconds,
    leaseSeconds: cfg.leaseSeconds,
    recoveryJobs: cfg.recoveryJobs,
    pgliteJobs: cfg.pgliteJobs,
    pgliteRate: cfg.pgliteRate,
    engine: DEFAULTS
  }
}

/** Each result with a target gets `met` per target and a `verdict`: pass when every target is met. */
function withVerdicts (results: readonly BenchResult[]): BenchResult[] {
  return results.map((r) => {
    const checks = checkTargets(r)
    if (checks.length === 0) return r
    const met = Object.fromEntries(checks.map((c) => [c.key, c.met === true]))
    return { ...r, met, verdict: checks.every((c) => c.met === true) ? 'pass' : 'miss' }
  })
}

await main()
