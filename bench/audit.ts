/**
 * Audit log benchmark: `npm run bench:audit` (issue 5).
 *
 * On a fresh PostgreSQL database (created on the DATABASE_URL server, dropped
 * at the end):
 * 1. appends a year of traffic of 100 organizations, 1,000,000 events of the
 *    real domain, through our event store (bench/lib/audit-data.ts);
 * 2. `projection`: rebuilds auditProjection over them with rebuildProjection
 *    (the runner's batch size unless --rebuild-batch), against the raw limit:
 *    one INSERT ... SELECT of rows as close as SQL alone makes them (same
 *    table and indexes, no chain, diff or actor label state);
 * 3. `query-p95-<filter>`: pages of 50, newest first, for five filters of
 *    random organizations and values (drawn from the rows, so frequent values
 *    are asked more), first pages and pages after a cursor, each through
 *    auditPage and as the same SQL run raw through `pg`, in turn;
 * 4. `export-csv`, `export-csv-rss`: exportAudit of every organization in
 *    turn (the API exports one organization's log), 1,000,000 rows in all,
 *    in a child process whose peak RSS is read at its end, against a raw
 *    keyset SELECT formatted as CSV in a child process of its own
 *    (bench/lib/audit-export.ts).
 * Results go to bench/results/audit.json (DESIGN.md §9).
 *
 * Settings, as env vars or flags (`npm run bench:audit -- --scale 0.05`):
 *   DATABASE_URL                         server to create the bench database on
 *                                        (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_SCALE          --scale          multiplies the events and the query count (1; 0.05 = smoke run)
 *   BENCH_EVENTS         --events         events, so audit rows (1000000)
 *   BENCH_ORGS           --orgs           organizations (100)
 *   BENCH_WRITERS        --writers        concurrent writers appending the log (4)
 *   BENCH_BATCH          --batch          events per append at most (100)
 *   BENCH_QUERIES        --queries        timed queries per filter, each ours and raw (300)
 *   BENCH_REBUILD_BATCH  --rebuild-batch  rebuild batch size (the runner's default)
 *   BENCH_EXPORT_ROUNDS  --export-rounds  export runs, ours and raw in turn (2)
 *   BENCH_KEEP_DB=1      --keep-db        keep the bench database for a look afterwards
 *   BENCH_STRICT=1                        exit 1 when a target is missed
 */
import { execFile } from 'node:child_process'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pg from 'pg'
import { createRegistry } from '../src/domain/events.ts'
import { createPostgresEventStore } from '../src/eventstore/postgres.ts'
import type { EventStore } from '../src/eventstore/types.ts'
import { auditProjection } from '../src/projections/audit/projection.ts'
import { schemaFor } from '../src/projections/projection.ts'
import { rebuildProjection } from '../src/projections/rebuild.ts'
import { openSqlClient, type SqlClient } from '../src/sql/client.ts'
import { migrate } from '../src/sql/migrate.ts'
import { appendAuditData } from './lib/audit-data.ts'
import { measureQueries, type QueryFigures } from './lib/audit-queries.ts'
import { createBenchDatabase, DEFAULT_SERVER_URL, redact } from './lib/database.ts'
import { log } from './lib/log.ts'
import { readOptions } from './lib/options.ts'
import { readPass } from './lib/read-pass.ts'
import {
  formatReport, latency, machineInfo, measure, missedTargets, newReport, throughput, writeReport,
  type BenchReport, type BenchResult, type Measurement
} from './lib/results.ts'

const OPTIONS = {
  scale: { env: 'BENCH_SCALE', fallback: '1' },
  events: { env: 'BENCH_EVENTS', fallback: '1000000' },
  orgs: { env: 'BENCH_ORGS', fallback: '100' },
  writers: { env: 'BENCH_WRITERS', fallback: '4' },
  batch: { env: 'BENCH_BATCH', fallback: '100' },
  queries: { env: 'BENCH_QUERIES', fallback: '300' },
  'rebuild-batch': { env: 'BENCH_REBUILD_BATCH', fallback: '' },
  'export-rounds': { env: 'BENCH_EXPORT_ROUNDS', fallback: '2' },
  'keep-db': { type: 'boolean', env: 'BENCH_KEEP_DB', fallback: '' }
} as const

interface Config {
  readonly serverUrl: string
  readonly scale: number
  readonly events: number
  readonly orgs: number
  readonly writers: number
  readonly batch: number
  readonly queries: number
  readonly rebuildBatch: number | undefined
  readonly exportRounds: number
  readonly keepDatabase: boolean
}

function config (): Config {
  const { get, num } = readOptions(OPTIONS)
  const scale = num('scale')
  return {
    serverUrl: process.env.DATABASE_URL || DEFAULT_SERVER_URL,
    scale,
    events: Math.round(num('events') * scale),
    orgs: Math.round(num('orgs')),
    writers: Math.round(num('writers')),
    batch: Math.round(num('batch')),
    queries: Math.max(20, Math.round(num('queries') * Math.min(1, scale * 4))),
    rebuildBatch: get('rebuild-batch') === '' ? undefined : Math.round(num('rebuild-batch')),
    exportRounds: Math.round(num('export-rounds')),
    keepDatabase: ['1', 'true'].includes(get('keep-db'))
  }
}

const TARGETS = {
  query: { value: '<= 15' },
  export: { value: '>= 100000' },
  exportRss: { value: '<= 150' },
  projection: { value: '>= 20000' }
} as const

const RUNNER_BATCH = 2000 // rebuildProjection's default batch size (src/projections/rebuild.ts)

// ── projection ─────────────────────────────────────────────────────────────

interface Projection { ours: Measurement, generation: number, raw: Measurement, readAll: Measurement }

async function rebuild (
  cfg: Config, sql: SqlClient, store: EventStore, events: number
): Promise<{ ours: Measurement, generation: number }> {
  log(`projection: rebuildProjection(auditProjection), batches of ${cfg.rebuildBatch ?? RUNNER_BATCH}`)
  let generation = 0
  let reported = 0
  const ours = await measure({ ops: 1 }, async () => {
    const result = await rebuildProjection({
      sql,
      store,
      projection: auditProjection,
      ...(cfg.rebuildBatch === undefined ? {} : { batchSize: cfg.rebuildBatch }),
      onProgress: (p) => {
        if (p.eventsApplied - reported < events / 10) return
        reported = p.eventsApplied
        log(`  ${p.eventsApplied.toLocaleString('en-US')} events, ${Math.round(p.eventsPerSecond).toLocaleString('en-US')} events/s`)
      }
    })
    generation = result.generation
    return result.eventsApplied
  })
  const { rows } = await sql.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_events')
  if (Number(rows[0]!.n) !== ours.units || ours.units !== events) {
    throw new Error(`the rebuild wrote ${rows[0]!.n} rows for ${ours.units} events (${events} appended)`)
  }
  log(`  ours: ${ours.units.toLocaleString('en-US')} rows in ${ours.seconds.toFixed(1)} s, ${rate(ours)}`)
  return { ours, generation }
}

/**
 * The raw limit: the same table and indexes (in a schema of their own) filled
 * by one INSERT ... SELECT from `events`: org, seq (row_number per log, in
 * log order), time, action, actor, target from the stream, data as the diff,
 * request facts, and a SHA-256 per row. No working state (diffs, labels) and
 * no chain, which SQL alone cannot compute in one pass: an upper bound.
 */
async function rawProjection (url: string): Promise<Measurement> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS bench_raw CASCADE; CREATE SCHEMA bench_raw; SET search_path TO bench_raw, public;
      ${auditProjection.setup}`)
    const raw = await measure({ ops: 1 }, async () => {
      const { rowCount } = await client.query(`
        INSERT INTO bench_raw.audit_events (id, org_id, seq, occurred_at, action, actor_type, actor_id, actor_label, impersonator_id,
          target_type, target_id, diff, ip, user_agent, trace_id, request_id, position, prev_hash, hash)
        SELECT e.event_id, o.org, row_number() OVER (PARTITION BY coalesce(o.org, '') ORDER BY e.transaction_id, e.global_position),
               (e.metadata->>'occurredAt')::timestamptz, e.type, e.metadata->'actor'->>'type', e.metadata->'actor'->>'id',
               e.metadata->'actor'->>'id',
               e.metadata->>'impersonatorId', split_part(e.stream_id, '-', 1), substr(e.stream_id, strpos(e.stream_id, '-') + 1), e.data,
               e.metadata->>'ip', e.metadata->>'userAgent', e.metadata->>'traceId', e.metadata->>'requestId',
               e.transaction_id::text || '.' || e.global_position::text, repeat('0', 64),
               encode(sha256(convert_to(e.data::text || e.metadata::text, 'UTF8')), 'hex')
          FROM public.events e
          CROSS JOIN LATERAL (SELECT coalesce(e.metadata->>'orgId',
                                              CASE WHEN e.stream_id LIKE 'org-%' THEN substr(e.stream_id, 5) END) AS org) o`)
      return rowCount ?? 0
    })
    log(`  raw INSERT ... SELECT: ${raw.units.toLocaleString('en-US')} rows in ${raw.seconds.toFixed(1)} s, ${rate(raw)}`)
    return raw
  } finally {
    await client.query('DROP SCHEMA IF EXISTS bench_raw CASCADE').catch(() => {})
    await client.end()
  }
}

/** What reading the log alone costs the rebuild: a readAll pass in the runner's pages, for the notes. */
async function readAllPass (store: EventStore, page: number): Promise<Measurement> {
  return measure({ ops: 1 }, readPass(store, page))
}

async function measureProjection (cfg: Config, url: string, sql: SqlClient, store: EventStore, events: number): Promise<Projection> {
  // The log as autovacuum leaves it: hint bits set, statistics fresh (as bench:store does).
  await sql.query('VACUUM ANALYZE events')
  const { ours, generation } = await rebuild(cfg, sql, store, events)
  const raw = await rawProjection(url)
  const readAll = await readAllPass(store, cfg.rebuildBatch ?? RUNNER_BATCH)
  log(`  readAll alone (pages of ${cfg.rebuildBatch ?? RUNNER_BATCH}): ${rate(readAll)}`)
  // The read model as autovacuum leaves it before the queries.
  await sql.query(`VACUUM ANALYZE ${schemaFor(auditProjection.name, generation)}.audit_events`)
  return { ours, generation, raw, readAll }
}

// ── export ─────────────────────────────────────────────────────────────────

interface ExportRun { rows: number, bytes: number, seconds: number, rssBeforeMB: number, maxRssMB: number }

const EXPORT_CHILD = fileURLToPath(new URL('./lib/audit-export.ts', import.meta.url))

async function exportRun (mode: 'ours' | 'raw', url: string, orgIds: readonly string[]): Promise<ExportRun> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', EXPORT_CHILD, mode, url, orgIds.join(',')],
    { maxBuffer: 1024 * 1024 })
  const run = JSON.parse(stdout.trim().split('\n').at(-1)!) as ExportRun
  log(`  ${mode}: ${run.rows.toLocaleString('en-US')} rows, ${(run.bytes / 1024 / 1024).toFixed(0)} MB of CSV ` +
    `in ${run.seconds.toFixed(1)} s, ${Math.round(run.rows / run.seconds).toLocaleString('en-US')} rows/s, ` +
    `RSS ${run.rssBeforeMB.toFixed(0)} MB before, peak ${run.maxRssMB.toFixed(0)} MB`)
  return run
}

interface ExportFigures { ours: ExportRun[], raw: ExportRun[] }

async function measureExport (cfg: Config, url: string, orgIds: readonly string[], events: number): Promise<ExportFigures> {
  log(`export: CSV of ${orgIds.length} organizations in turn, one child process per run, ${cfg.exportRounds} round(s) of ours and raw`)
  const figures: ExportFigures = { ours: [], raw: [] }
  for (let round = 0; round < cfg.exportRounds; round++) {
    for (const mode of round % 2 === 0 ? ['ours', 'raw'] as const : ['raw', 'ours'] as const) {
      const run = await exportRun(mode, url, orgIds)
      if (run.rows !== events) throw new Error(`export ${mode} wrote ${run.rows} rows of ${events}`)
      figures[mode].push(run)
    }
  }
  return figures
}

const rowsPerSecond = (runs: readonly ExportRun[]): number => runs.reduce((n, r) => n + r.rows, 0) / runs.reduce((s, r) => s + r.seconds, 0)
const peakRss = (runs: readonly ExportRun[]): number => Math.max(...runs.map((r) => r.maxRssMB))

// ── the run ────────────────────────────────────────────────────────────────

function rate (m: Measurement): string {
  return `${Math.round(m.rate).toLocaleString('en-US')} events/s`
}

function results (projection: Projection, queries: QueryFigures, exports: ExportFigures): BenchResult[] {
  return [
    ...queries.filters.map((q) => latency({
      name: `query-p95-${q.filter}`, metric: 'ms', value: q.ours,
      peer: { name: `the same SQL run raw through pg (p95 of ${q.samples} pages)`, value: q.raw }, targets: TARGETS.query
    })),
    throughput({
      name: 'export-csv', metric: 'rows/s', value: rowsPerSecond(exports.ours),
      peer: { name: 'raw keyset SELECT via pg (array rows, chunks of 1000) written as CSV', value: rowsPerSecond(exports.raw) },
      targets: TARGETS.export
    }),
    latency({
      name: 'export-csv-rss', metric: 'MB', value: peakRss(exports.ours),
      peer: { name: 'peak RSS of the raw export process', value: peakRss(exports.raw) }, targets: TARGETS.exportRss
    }),
    throughput({
      name: 'projection', metric: 'events/s', value: projection.ours.rate,
      peer: { name: `raw INSERT ... SELECT in SQL, same table and indexes, ${projection.raw.units} rows`, value: projection.raw.rate },
      targets: TARGETS.projection
    })
  ]
}

function notes (
  cfg: Config, data: { events: number, seconds: number }, projection: Projection, queries: QueryFigures, exports: ExportFigures,
  loads: number[]
): string[] {
  return [
    `scale ${cfg.scale}: ${data.events.toLocaleString('en-US')} audit rows over ${cfg.orgs} organizations, ` +
      `every one in an organization's log (the ${cfg.orgs} organizations' sizes differ by one at most); ` +
      `the log was appended through createPostgresEventStore by ${cfg.writers} writers in ${data.seconds.toFixed(0)} s ` +
      `(${Math.round(data.events / data.seconds).toLocaleString('en-US')} events/s).`,
    `projection: rebuildProjection of auditProjection from the start of the log, batches of ${cfg.rebuildBatch ?? RUNNER_BATCH}, ` +
      `${projection.ours.seconds.toFixed(1)} s including the swap; ` +
      `a readAll pass alone in the same pages reads ${Math.round(projection.readAll.rate).toLocaleString('en-US')} events/s. ` +
      'The raw peer writes no chain, diff or actor label and keeps no state: an upper bound.',
    `queries: newest first, limit 50, organizations and values drawn from random rows; ${queries.describe}. ` +
      'VACUUM ANALYZE ran on audit_events before them. Ours and raw alternate on the same parameters; ' +
      `max ms ours/raw: ${queries.filters.map((q) => `${q.filter} ${q.max.toFixed(1)}/${q.rawMax.toFixed(1)}`).join(', ')}.`,
    `export: the API exports one organization's log, so every organization was exported in turn ` +
      `(${cfg.orgs} exports, ${data.events.toLocaleString('en-US')} rows in all, CSV to /dev/null), ` +
      `in a child process started for the run; rows/s over ${exports.ours.length} run(s) each; ` +
      `RSS before the first export ${exports.ours[0]!.rssBeforeMB.toFixed(0)} MB (ours) / ` +
      `${exports.raw[0]!.rssBeforeMB.toFixed(0)} MB (raw), ` +
      `the rest is the export's.`,
    `1-min load average ${loads.map((l) => l.toFixed(2)).join(' → ')} (start → end); 2 cores shared with other work on the machine.`
  ]
}

async function main (): Promise<void> {
  const cfg = config()
  const started = performance.now()
  const loads = [loadavg()[0]!]
  log(`bench:audit — ${JSON.stringify({ ...cfg, serverUrl: redact(cfg.serverUrl) })}, 1-min load average ${loads[0]!.toFixed(2)}`)
  const db = await createBenchDatabase(cfg.serverUrl, 'ledgerline_bench_audit')
  log(`PostgreSQL: ${db.version}, database ${new URL(db.url).pathname.slice(1)}`)
  const onSignal = (): void => { void db.drop().finally(() => process.exit(130)) }
  process.once('SIGINT', onSignal)
  let report: BenchReport
  try {
    const sql = await openSqlClient({ databaseUrl: db.url, poolSize: cfg.writers + 2 })
    const store = createPostgresEventStore(sql, createRegistry())
    try {
      await migrate(sql)
      log(`log: ${cfg.events.toLocaleString('en-US')} events over ${cfg.orgs} organizations, ${cfg.writers} writers, ` +
        `up to ${cfg.batch} events per append`)
      const data = await appendAuditData(store,
        { orgs: cfg.orgs, events: cfg.events, writers: cfg.writers, batch: cfg.batch, end: new Date() })
      const projection = await measureProjection(cfg, db.url, sql, store, data.events)
      const queries = await measureQueries(sql, db.url, cfg.queries)
      const exports = await measureExport(cfg, db.url, data.orgIds, data.events)
      loads.push(loadavg()[0]!)
      report = {
        ...newReport('audit', 'npm run bench:audit',
          machineInfo(db.version, { loadAverage: loads.map((l) => Number(l.toFixed(2))), scale: cfg.scale }),
          results(projection, queries, exports)),
        notes: notes(cfg, data, projection, queries, exports, loads)
      }
    } finally {
      await store.close()
      await sql.close()
    }
  } finally {
    process.off('SIGINT', onSignal)
    if (cfg.keepDatabase) log(`kept ${redact(db.url)}`)
    else await db.drop()
  }
  const file = writeReport(report)
  console.log('\n' + formatReport(report))
  log(`wrote ${file} in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  if (process.env.BENCH_STRICT === '1' && missedTargets(report).length > 0) process.exitCode = 1
}

await main()
