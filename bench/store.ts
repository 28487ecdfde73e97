/**
 * Event store benchmark: `npm run bench:store`.
 *
 * On a fresh PostgreSQL database (created on the DATABASE_URL server, dropped
 * at the end) and then on in-memory PGlite, measures in one run:
 * appends (single events, 100-event batches; 8 writers on distinct streams)
 * against raw INSERTs and Emmett, readAll catch-up against a raw keyset SELECT,
 * and a projection rebuild against a raw INSERT ... SELECT. Contenders run in
 * alternating rounds so drift (table growth, caches) hits them alike.
 * Results go to bench/results/store.json (DESIGN.md §9).
 *
 * Settings, as env vars or flags (`npm run bench:store -- --scale 0.05`):
 *   DATABASE_URL              server to create the bench database on
 *                             (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_SCALE         --scale          multiplies every duration and size (1; 0.05 = smoke run)
 *   BENCH_WRITERS       --writers        concurrent writers (8)
 *   BENCH_BATCH         --batch          events per batch append (100)
 *   BENCH_ROUND_SECONDS --round-seconds  seconds per contender per round (3)
 *   BENCH_ROUNDS        --rounds         rounds (3); readall reads for as long in total
 *   BENCH_EVENTS        --events         log size for readall and rebuild on PostgreSQL (1000000)
 *   BENCH_PGLITE_EVENTS --pglite-events  the same on PGlite (200000)
 *   BENCH_PAGE          --page           readAll page size (5000)
 *   BENCH_REBUILD_BATCH --rebuild-batch  rebuild batch size (the runner's default)
 *   BENCH_SYNCHRONOUS_COMMIT --synchronous-commit  for the bench database (the server's)
 *   BENCH_ONLY          --only           all | pg | pglite (all)
 *   BENCH_KEEP_DB=1     --keep-db        keep the bench database for a look afterwards
 *   BENCH_STRICT=1                       exit 1 when a target is missed
 */
import pg from 'pg'
import { z } from 'zod'
import { getPostgreSQLEventStore, type PostgresEventStore as EmmettStore } from '@event-driven-io/emmett-postgresql'
import { newTraceId, type EventMetadata } from '../src/domain/envelope.ts'
import { defineEvent, EventRegistry } from '../src/domain/registry.ts'
import { createPostgresEventStore } from '../src/eventstore/postgres.ts'
import type { EventStore, NewEvent, RecordedEvent } from '../src/eventstore/types.ts'
import type { Projection } from '../src/projections/projection.ts'
import { rebuildProjection } from '../src/projections/rebuild.ts'
import { openSqlClient, type SqlClient, type SqlExecutor } from '../src/sql/client.ts'
import { migrate } from '../src/sql/migrate.ts'
import {
  combine, databaseName, formatReport, machineInfo, measure, missedTargets, newReport,
  throughput, writeReport, type BenchResult, type Measurement, type Targets
} from './lib/results.ts'
import { createBenchDatabase } from './lib/database.ts'
import { readOptions } from './lib/options.ts'
import { readPass } from './lib/read-pass.ts'

// ── configuration ──────────────────────────────────────────────────────────

interface Config {
  serverUrl: string
  writers: number
  batch: number
  /** Seconds each contender runs per round; rounds alternate the contenders. */
  roundSeconds: number
  rounds: number
  warmupSeconds: number
  /** Events in the log for readall and rebuild (PostgreSQL / PGlite). */
  logEvents: number
  pgliteLogEvents: number
  page: number
  /** Rows per projection batch in a rebuild (our runner's default when unset). */
  rebuildBatch: number | undefined
  /** `synchronous_commit` for the bench database (default: the server's). */
  synchronousCommit: string | undefined
  only: 'all' | 'pg' | 'pglite'
  keepDatabase: boolean
}

const OPTIONS = {
  scale: { type: 'string', env: 'BENCH_SCALE', fallback: '1' },
  writers: { type: 'string', env: 'BENCH_WRITERS', fallback: '8' },
  batch: { type: 'string', env: 'BENCH_BATCH', fallback: '100' },
  'round-seconds': { type: 'string', env: 'BENCH_ROUND_SECONDS', fallback: '3' },
  rounds: { type: 'string', env: 'BENCH_ROUNDS', fallback: '3' },
  events: { type: 'string', env: 'BENCH_EVENTS', fallback: '1000000' },
  'pglite-events': { type: 'string', env: 'BENCH_PGLITE_EVENTS', fallback: '200000' },
  page: { type: 'string', env: 'BENCH_PAGE', fallback: '5000' },
  'rebuild-batch': { type: 'string', env: 'BENCH_REBUILD_BATCH', fallback: '' },
  'synchronous-commit': { type: 'string', env: 'BENCH_SYNCHRONOUS_COMMIT', fallback: '' },
  only: { type: 'string', env: 'BENCH_ONLY', fallback: 'all' },
  'keep-db': { type: 'boolean', env: 'BENCH_KEEP_DB', fallback: '' }
} as const

function config (): Config {
  const { get, num } = readOptions(OPTIONS)
  const scale = num('scale')
  const only = get('only')
  if (only !== 'all' && only !== 'pg' && only !== 'pglite') throw new Error('--only / BENCH_ONLY is all, pg or pglite')
  return {
    serverUrl: process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
    writers: Math.round(num('writers')),
    batch: Math.round(num('batch')),
    roundSeconds: num('round-seconds') * scale,
    rounds: Math.round(num('rounds')),
    warmupSeconds: Math.min(1, num('round-seconds') * scale / 3),
    logEvents: Math.round(num('events') * scale),
    pgliteLogEvents: Math.round(num('pglite-events') * scale),
    page: Math.round(num('page')),
    rebuildBatch: get('rebuild-batch') === '' ? undefined : Math.round(num('rebuild-batch')),
    synchronousCommit: get('synchronous-commit') === '' ? undefined : get('synchronous-commit'),
    only,
    keepDatabase: ['1', 'true'].includes(get('keep-db'))
  }
}

// ── events ─────────────────────────────────────────────────────────────────

/** A realistic payload: ~300 bytes of data, ~330 of metadata. */
const OrderPlaced = defineEvent({
  type: 'bench.order.placed',
  schema: z.object({
    orderId: z.uuid(),
    customer: z.object({ id: z.string(), name: z.string(), email: z.email() }),
    lines: z.array(z.object({ sku: z.string(), quantity: z.number().int().positive(), unitPrice: z.number().nonnegative() })).min(1),
    currency: z.enum(['EUR', 'USD', 'GBP']),
    total: z.number().nonnegative(),
    channel: z.enum(['web', 'api', 'pos'])
  }).strict()
})
type OrderPlacedData = z.infer<typeof OrderPlaced.schema>

const registry = new EventRegistry([OrderPlaced])
const ORG_ID = 'org_7Hq2kLx9'

function orderData (n: number): OrderPlacedData {
  const lines = Array.from({ length: 1 + (n % 3) }, (_, i) => ({
    sku: `SKU-${(n * 7 + i) % 9973}`, quantity: 1 + ((n + i) % 4), unitPrice: 9.99 + ((n * 13 + i) % 500)
  }))
  return {
    orderId: crypto.randomUUID(),
    customer: {
      id: `cus_${(n % 50_000).toString(36).padStart(6, '0')}`, name: `Customer ${n % 50_000}`, email: `buyer${n % 50_000}@example.com`
    },
    lines,
    currency: (['EUR', 'USD', 'GBP'] as const)[n % 3]!,
    total: Math.round(lines.reduce((sum, l) => sum + l.quantity * l.unitPrice, 0) * 100) / 100,
    channel: (['web', 'api', 'pos'] as const)[n % 3]!
  }
}

let eventCounter = 0

/** The events of one command: fresh UUIDs, metadata as the HTTP layer would build it. */
function newEvents (count: number): NewEvent<'bench.order.placed', OrderPlacedData>[] {
  const commandId = crypto.randomUUID()
  const common = {
    occurredAt: new Date().toISOString(),
    orgId: ORG_ID,
    actor: { type: 'user' as const, id: `usr_${eventCounter % 1000}` },
    ip: '203.0.113.42',
    userAgent: 'ledgerline-bench/1.0 (+https://example.com)',
    traceId: newTraceId(),
    requestId: `req_${commandId.slice(0, 12)}`,
    commandId
  }
  return Array.from({ length: count }, () => {
    const id = crypto.randomUUID()
    const metadata: EventMetadata = { eventId: id, ...common }
    return { id, type: OrderPlaced.type, data: orderData(eventCounter++), metadata }
  })
}

// ── contenders ─────────────────────────────────────────────────────────────

/** Appends `events` to `streamId`, whose version is `version` before the append. */
type Append = (streamId: string, events: readonly NewEvent[], version: bigint) => Promise<void>

interface Appender {
  readonly name: string
  readonly append: Append
}

function oursAppender (store: EventStore): Append {
  return async (streamId, events, version) => {
    await store.append(streamId, events, { expectedVersion: version === 0n ? 'no_stream' : version })
  }
}

/** One INSERT statement for all the events (one row for a single event), autocommit. */
function rawAppender (db: SqlExecutor, table: string): Append {
  return async (streamId, events, version) => {
    const params: unknown[] = []
    const rows = events.map((event, i) => {
      params.push(streamId, (version + BigInt(i + 1)).toString(), event.id, event.type,
        JSON.stringify(event.data), JSON.stringify(event.metadata))
      const at = i * 6
      return `($${at + 1}, $${at + 2}, $${at + 3}, $${at + 4}, $${at + 5}, $${at + 6})`
    })
    await db.query(`INSERT INTO ${table} (stream_id, stream_version, event_id, type, data, metadata) VALUES ${rows.join(', ')}`, params)
  }
}

function emmettAppender (store: EmmettStore): Append {
  return async (streamId, events, version) => {
    await store.appendToStream(streamId,
      events.map((e) => ({ type: e.type, data: e.data as Record<string, unknown>, metadata: e.metadata })),
      { expectedStreamVersion: version })
  }
}

/** A table like `events` (same columns, constraints and indexes, its own sequence) for raw INSERTs. */
async function createRawTable (db: SqlExecutor, table: string): Promise<void> {
  await db.query(`CREATE TABLE ${table} (LIKE events INCLUDING ALL)`)
  await db.query(`CREATE SEQUENCE ${table}_seq`)
  await db.query(`ALTER TABLE ${table} ALTER COLUMN global_position SET DEFAULT nextval('${table}_seq')`)
}

// ── drivers ────────────────────────────────────────────────────────────────

/** Appends per stream before a writer moves to a new one. */
const APPENDS_PER_STREAM = 10

/** An op for `measure`: each worker appends `batch` events at a time to streams of its own. */
function writerOp (append: Append, batch: number): (worker: number) => Promise<number> {
  const streams = new Map<number, { id: string, version: bigint, appends: number }>()
  return async (worker) => {
    let stream = streams.get(worker)
    if (stream === undefined || stream.appends >= APPENDS_PER_STREAM) {
      stream = { id: `bench-${crypto.randomUUID()}`, version: 0n, appends: 0 }
      streams.set(worker, stream)
    }
    await append(stream.id, newEvents(batch), stream.version)
    stream.version += BigInt(batch)
    stream.appends++
    return batch
  }
}

/** Runs each contender for `seconds` per round, round-robin, after a warm-up; returns each one's total. */
async function inRounds (
  cfg: Config, contenders: readonly { name: string, op: (worker: number) => Promise<number> }[]
): Promise<Map<string, Measurement>> {
  const runs = new Map<string, Measurement[]>(contenders.map((c) => [c.name, []]))
  for (const c of contenders) await measure({ concurrency: cfg.writers, seconds: cfg.warmupSeconds }, c.op)
  for (let round = 0; round < cfg.rounds; round++) {
    for (const c of contenders) {
      const m = await measure({ concurrency: cfg.writers, seconds: cfg.roundSeconds }, c.op)
      runs.get(c.name)!.push(m)
      log(`  round ${round + 1}/${cfg.rounds} ${c.name}: ${rate(m)}`)
    }
  }
  return new Map([...runs].map(([name, ms]) => [name, combine(ms)]))
}

/** Rows copied per statement (one transaction each) while filling the log. */
const FILL_CHUNK = 50_000

/**
 * Grows the log to `total` events by copying the events our store already
 * wrote (new stream ids, event ids and order ids), in SQL: rows as the store
 * writes them, many times faster than appending them. A copy takes a prefix
 * of the log, hence a prefix of each stream: stream versions stay gapless.
 */
async function fillLog (db: SqlExecutor, total: number): Promise<void> {
  const count = async (): Promise<number> => Number((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM events')).rows[0]!.n)
  const originals = await count()
  if (originals === 0) throw new Error('the log is empty: nothing to copy')
  const started = performance.now()
  for (let copy = 1, have = originals; have < total; copy++) {
    const rows = Math.min(total - have, originals, FILL_CHUNK)
    await db.query(`
      WITH source AS (
        SELECT stream_id || '~' || $2 AS stream_id, stream_version, gen_random_uuid() AS event_id, type, data, metadata
          FROM events WHERE stream_id NOT LIKE '%~%' ORDER BY global_position LIMIT $1)
      INSERT INTO events (stream_id, stream_version, event_id, type, data, metadata)
      SELECT stream_id, stream_version, event_id, type,
             jsonb_set(data, '{orderId}', to_jsonb(gen_random_uuid()::text)),
             jsonb_set(metadata, '{eventId}', to_jsonb(event_id::text))
        FROM source`, [rows, `${copy}`])
    have += rows
  }
  // The log as autovacuum leaves it: hint bits set (else the first reader pays
  // for writing them) and statistics fresh (else the planner misjudges the
  // type-filtered readAll of a rebuild and sorts the rest of the log per page).
  await db.query('VACUUM ANALYZE events')
  const seconds = (performance.now() - started) / 1000
  log(`  filled the log to ${await count()} events (${Math.max(0, total - originals)} copied in ${seconds.toFixed(1)} s)`)
}

// ── workloads ──────────────────────────────────────────────────────────────

interface AppendFigures { single: Map<string, Measurement>, batch: Map<string, Measurement> }

async function appendWorkloads (cfg: Config, appenders: readonly Appender[]): Promise<AppendFigures> {
  log(`append-single: ${cfg.writers} writers, 1 event per append`)
  const single = await inRounds(cfg, appenders.map((a) => ({ name: a.name, op: writerOp(a.append, 1) })))
  log(`append-batch: ${cfg.writers} writers, ${cfg.batch} events per append`)
  const batch = await inRounds(cfg, appenders.map((a) => ({ name: a.name, op: writerOp(a.append, cfg.batch) })))
  return { single, batch }
}


/** The raw limit of a readAll pass: the same keyset query, rows as pg parses them (jsonb → objects). */
function rawReadPass (db: SqlExecutor, page: number): () => Promise<number> {
  return async () => {
    let position: [string, string] = ['0', '0']
    let events = 0
    for (;;) {
      const { rows } = await db.query<{ t: string, p: string }>(
        `SELECT global_position::text AS p, transaction_id::text AS t, stream_id, stream_version::text AS v,
                event_id::text AS id, type, data, metadata, recorded_at
           FROM events
          WHERE (transaction_id, global_position) > ($1::text::xid8, $2::bigint)
            AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY transaction_id, global_position LIMIT $3`, [position[0], position[1], page])
      events += rows.length
      const last = rows.at(-1)
      if (last !== undefined) position = [last.t, last.p]
      if (rows.length < page) return events
    }
  }
}

/** Whole-log passes, alternating ours and raw: at least two each, and until each has read for `rounds × roundSeconds`. */
async function readAllWorkload (
  cfg: Config, ours: () => Promise<number>, raw: () => Promise<number>
): Promise<{ ours: Measurement, raw: Measurement }> {
  log(`readall: whole-log passes, pages of ${cfg.page}`)
  const minSeconds = cfg.rounds * cfg.roundSeconds
  const runs = { ours: [] as Measurement[], raw: [] as Measurement[] }
  const total = (name: 'ours' | 'raw'): number => combine(runs[name]).seconds
  for (let pass = 1; pass <= 2 || total('ours') < minSeconds || total('raw') < minSeconds; pass++) {
    for (const [name, fn] of [['ours', ours], ['raw', raw]] as const) {
      const m = await measure({ ops: 1 }, fn)
      runs[name].push(m)
      log(`  pass ${pass} ${name}: ${m.units} events, ${rate(m)}`)
    }
  }
  return { ours: combine(runs.ours), raw: combine(runs.raw) }
}

/** A simple read model: one row per order, written a batch at a time. */
const benchOrders: Projection = {
  name: 'bench_orders',
  version: 1,
  eventTypes: [OrderPlaced.type],
  tables: ['bench_orders'],
  setup: ordersTable('bench_orders'),
  async apply (events, tx) {
    const orders = events.filter((e) => e.type === OrderPlaced.type) as RecordedEvent<string, OrderPlacedData>[]
    if (orders.length === 0) return
    await tx.query(`
      INSERT INTO bench_orders (order_id, stream_id, customer_id, currency, total, line_count, channel, placed_at)
      SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::int[], $7::text[], $8::timestamptz[])
      ON CONFLICT (order_id) DO NOTHING`, [
      orders.map((e) => e.data.orderId),
      orders.map((e) => e.streamId),
      orders.map((e) => e.data.customer.id),
      orders.map((e) => e.data.currency),
      orders.map((e) => e.data.total),
      orders.map((e) => e.data.lines.length),
      orders.map((e) => e.data.channel),
      orders.map((e) => e.recordedAt.toISOString())
    ])
  }
}

function ordersTable (name: string): string {
  return `CREATE TABLE ${name} (
    order_id    uuid          PRIMARY KEY,
    stream_id   text          NOT NULL,
    customer_id text          NOT NULL,
    currency    text          NOT NULL,
    total       numeric(12,2) NOT NULL,
    line_count  int           NOT NULL,
    channel     text          NOT NULL,
    placed_at   timestamptz   NOT NULL)`
}

/** The raw limit of the rebuild: the same rows from the same events, in one INSERT ... SELECT. */
async function rawRebuild (db: SqlExecutor): Promise<number> {
  await db.query('DROP TABLE IF EXISTS bench_orders_raw')
  await db.query(ordersTable('bench_orders_raw'))
  const { rowCount } = await db.query(`
    INSERT INTO bench_orders_raw (order_id, stream_id, customer_id, currency, total, line_count, channel, placed_at)
    SELECT (data->>'orderId')::uuid, stream_id, data->'customer'->>'id', data->>'currency', (data->>'total')::numeric,
           jsonb_array_length(data->'lines'), data->>'channel', recorded_at
      FROM events WHERE type = $1 ORDER BY transaction_id, global_position
    ON CONFLICT (order_id) DO NOTHING`, [OrderPlaced.type])
  return rowCount
}

async function rebuildWorkload (cfg: Config, sql: SqlClient, store: EventStore): Promise<{ ours: Measurement, raw: Measurement }> {
  log(`rebuild: projection ${benchOrders.name} from the start of the log`)
  const ours = await measure({ ops: 1 }, async () => {
    const result = await rebuildProjection({
      sql, store, projection: benchOrders, ...(cfg.rebuildBatch === undefined ? {} : { batchSize: cfg.rebuildBatch })
    })
    return result.eventsApplied
  })
  const { rows } = await sql.query<{ n: string }>('SELECT count(*)::text AS n FROM bench_orders')
  if (Number(rows[0]!.n) !== ours.units) throw new Error(`rebuild wrote ${rows[0]!.n} rows for ${ours.units} events`)
  log(`  ours: ${ours.units} events, ${rate(ours)}`)
  const raw = await measure({ ops: 1 }, () => rawRebuild(sql))
  log(`  raw: ${raw.units} rows, ${rate(raw)}`)
  return { ours, raw }
}

// ── PostgreSQL ─────────────────────────────────────────────────────────────

const TARGETS = {
  appendSingle: { value: '>= 5000', ratio: '>= 0.7' },
  appendBatch: { value: '>= 40000' },
  vsEmmett: { ratio: '>= 1.0' },
  readall: { value: '>= 150000' },
  rebuild: { value: '>= 30000' }
} satisfies Record<string, Targets>

async function runPostgres (cfg: Config, url: string): Promise<BenchResult[]> {
  const sql = await openSqlClient({ databaseUrl: url, poolSize: 10 })
  const raw = new pg.Pool({ connectionString: url, max: 10 })
  const store = createPostgresEventStore(sql, registry)
  try {
    await migrate(sql)
    await createRawTable(sql, 'raw_events')
    const appends = await withEmmett(url, (emmett) => appendWorkloads(cfg, [
      { name: 'ours', append: oursAppender(store) },
      { name: 'raw', append: rawAppender(raw, 'raw_events') },
      { name: 'emmett', append: emmettAppender(emmett) }
    ]))
    await fillLog(sql, cfg.logEvents)
    const reads = await readAllWorkload(cfg, readPass(store, cfg.page), rawReadPass(raw, cfg.page))
    const rebuild = await rebuildWorkload(cfg, sql, store)
    const w = `${cfg.writers} writers`
    const single = (name: string): number => appends.single.get(name)!.rate
    const batch = (name: string): number => appends.batch.get(name)!.rate
    return [
      throughput({
        name: 'append-single', metric: 'events/s', value: single('ours'),
        peer: { name: `raw parameterized INSERT via pg, ${w}`, value: single('raw') }, targets: TARGETS.appendSingle
      }),
      throughput({
        name: 'append-batch', metric: 'events/s', value: batch('ours'),
        peer: { name: `raw ${cfg.batch}-row INSERT via pg, ${w}`, value: batch('raw') }, targets: TARGETS.appendBatch
      }),
      throughput({
        name: 'append-single-vs-emmett', metric: 'events/s', value: single('ours'),
        peer: { name: `emmett-postgresql appendToStream, 1 event, ${w}`, value: single('emmett') }, targets: TARGETS.vsEmmett
      }),
      throughput({
        name: 'append-batch-vs-emmett', metric: 'events/s', value: batch('ours'),
        peer: { name: `emmett-postgresql appendToStream, ${cfg.batch} events, ${w}`, value: batch('emmett') }, targets: TARGETS.vsEmmett
      }),
      throughput({
        name: 'readall', metric: 'events/s', value: reads.ours.rate,
        peer: { name: `raw keyset SELECT via pg, pages of ${cfg.page}, JSON parsed`, value: reads.raw.rate }, targets: TARGETS.readall
      }),
      throughput({
        name: 'rebuild', metric: 'events/s', value: rebuild.ours.rate,
        peer: { name: `raw INSERT ... SELECT in SQL, ${rebuild.raw.units} rows`, value: rebuild.raw.rate }, targets: TARGETS.rebuild
      })
    ]
  } finally {
    await store.close()
    await raw.end()
    await sql.close()
  }
}

/** pg type parsers that Emmett's driver (dumbo) replaces for the whole process when it opens a pool. */
const PG_TYPES_EMMETT_SETS = [20, 114, 3802] // int8 → BigInt; json, jsonb → JSON.parse with a reviver

/**
 * Runs `fn` with an Emmett store on `url`, then closes it and gives `pg` its
 * own type parsers back, so that ours and raw do not read through Emmett's
 * (about twice slower on jsonb). Our appends and raw INSERTs read no int8 or
 * jsonb, so the append rounds are not affected by them.
 */
async function withEmmett<T> (url: string, fn: (emmett: EmmettStore) => Promise<T>): Promise<T> {
  const parsers = PG_TYPES_EMMETT_SETS.map((oid) => [oid, pg.types.getTypeParser(oid)] as const)
  const emmett = getPostgreSQLEventStore(url)
  try {
    await emmett.schema.migrate()
    return await fn(emmett)
  } finally {
    await emmett.close()
    for (const [oid, parser] of parsers) pg.types.setTypeParser(oid, parser)
  }
}

// ── PGlite ─────────────────────────────────────────────────────────────────

async function runPglite (cfg: Config): Promise<{ version: string, results: BenchResult[] }> {
  const sql = await openSqlClient({ dataDir: 'memory://' })
  const store = createPostgresEventStore(sql, registry)
  try {
    const { rows } = await sql.query<{ version: string }>('SELECT version()')
    await migrate(sql)
    await createRawTable(sql, 'raw_events')
    const w = `${cfg.writers} writers`
    const appends = await appendWorkloads(cfg, [
      { name: 'ours', append: oursAppender(store) },
      { name: 'raw', append: rawAppender(sql, 'raw_events') }
    ])
    await fillLog(sql, cfg.pgliteLogEvents)
    const reads = await readAllWorkload(cfg, readPass(store, cfg.page), rawReadPass(sql, cfg.page))
    const rebuild = await rebuildWorkload(cfg, sql, store)
    const results = [
      throughput({
        name: 'append-single-pglite', metric: 'events/s', value: appends.single.get('ours')!.rate,
        peer: { name: `raw parameterized INSERT via PGlite, ${w}`, value: appends.single.get('raw')!.rate }
      }),
      throughput({
        name: 'append-batch-pglite', metric: 'events/s', value: appends.batch.get('ours')!.rate,
        peer: { name: `raw ${cfg.batch}-row INSERT via PGlite, ${w}`, value: appends.batch.get('raw')!.rate }
      }),
      throughput({
        name: 'readall-pglite', metric: 'events/s', value: reads.ours.rate,
        peer: { name: `raw keyset SELECT via PGlite, pages of ${cfg.page}`, value: reads.raw.rate }
      }),
      throughput({
        name: 'rebuild-pglite', metric: 'events/s', value: rebuild.ours.rate,
        peer: { name: `raw INSERT ... SELECT in SQL on PGlite, ${rebuild.raw.units} rows`, value: rebuild.raw.rate }
      })
    ]
    return { version: `PGlite (${databaseName(rows[0]!.version)})`, results }
  } finally {
    await store.close()
    await sql.close()
  }
}

// ── the run ────────────────────────────────────────────────────────────────


async function main (): Promise<void> {
  const cfg = config()
  const started = performance.now()
  log(`bench:store — ${JSON.stringify({ ...cfg, serverUrl: redact(cfg.serverUrl) })}`)
  const results: BenchResult[] = []
  const machine: { database?: string, pglite?: string } = {}
  if (cfg.only !== 'pglite') {
    const db = await createBenchDatabase(cfg.serverUrl, 'ledgerline_bench', { synchronousCommit: cfg.synchronousCommit })
    machine.database = db.version
    log(`PostgreSQL: ${db.version}, database ${new URL(db.url).pathname.slice(1)}`)
    const onSignal = (): void => { void db.drop().finally(() => process.exit(130)) }
    process.once('SIGINT', onSignal)
    try {
      results.push(...await runPostgres(cfg, db.url))
    } finally {
      process.off('SIGINT', onSignal)
      if (cfg.keepDatabase) log(`kept ${db.url}`)
      else await db.drop()
    }
  }
  if (cfg.only !== 'pg') {
    log('PGlite (in memory)')
    const pglite = await runPglite(cfg)
    machine.pglite = pglite.version
    results.push(...pglite.results)
  }
  const report = newReport('store', 'npm run bench:store',
    machineInfo(machine.database, machine.pglite === undefined ? {} : { pglite: machine.pglite }), results)
  const file = writeReport(report)
  console.log('\n' + formatReport(report))
  log(`wrote ${file} in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  if (process.env.BENCH_STRICT === '1' && missedTargets(report).length > 0) process.exitCode = 1
}

function rate (m: Measurement): string {
  return `${Math.round(m.rate).toLocaleString('en-US')} events/s`
}

function redact (url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')
}

function log (line: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`)
}

await main()
