/**
 * Webhooks benchmark: `npm run bench:webhooks`.
 *
 *   webhook-delivery  deliveries/s end to end with 8 endpoints: events
 *                     appended to the log, the fan-out reactor, a
 *                     `webhook.deliver` job per message, the signed POST to
 *                     a local receiver, the attempt recorded; against a
 *                     plain loop of signed fetches to the same receiver
 *                     (bench/lib/webhook-delivery.ts). Target >= 1,000/s.
 *   webhook-latency   an event appended to its message's first attempt,
 *                     events offered open-loop at 200/s to one endpoint:
 *                     p99 <= 100 ms (and the p50 beside it).
 *   webhook-ingest    verified inbound Stripe events/s (each signed with the
 *                     SDK's generateTestHeaderString, each a new event)
 *                     against a bare Fastify route taking the same body
 *                     (bench/lib/webhook-ingest.ts): ratio >= 0.5.
 *
 * The Ledgerline server runs in its own process (src/main.ts,
 * NODE_ENV=production) on a fresh PostgreSQL database, with its projections,
 * reactors and job runners, WEBHOOK_ALLOW_PRIVATE_TARGETS=true (the receiver
 * is on 127.0.0.1; production refuses this setting) and the inbound rate
 * limit raised out of the way (WEBHOOK_INBOUND_RATE_PER_SECOND=100000: a
 * limit per source would otherwise measure itself). The receiver, the load
 * and the peers' callers run in this process, on the same two cores.
 *
 * Settings, as flags or env vars (`npm run bench:webhooks -- --quick`):
 *   DATABASE_URL                       server for the bench database (default: the local server's `postgres`)
 *   BENCH_QUICK=1      --quick         a smoke run: fewer events, 2 s runs
 *   BENCH_EVENTS       --events        events appended in the delivery run, each to 8 endpoints (2000; --quick 200)
 *   BENCH_WRITERS      --writers       concurrent writers appending them (4)
 *   BENCH_SECONDS      --seconds       seconds of the peer's run, the latency run and each ingest run (10; --quick 2)
 *   BENCH_RATE         --rate          events/s offered in the latency run (200)
 *   BENCH_CONNECTIONS  --connections   concurrent connections of webhook-ingest, each contender (16)
 *   BENCH_ROUNDS       --rounds        alternating rounds of webhook-ingest (3; --quick 1)
 *   BENCH_ONLY         --only          all | delivery | ingest (all): the results file then holds only those
 *   BENCH_SERVER_NODE_ARGS             extra node flags for the Ledgerline server, e.g. "--cpu-prof"
 *   BENCH_STRICT=1                     exit 1 when a target is missed
 */
import { randomBytes } from 'node:crypto'
import { loadavg } from 'node:os'
import { pino } from 'pino'
import { bootstrap } from '../src/application/identity/commands.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { formatPosition } from '../src/eventstore/position.ts'
import { openRuntime } from '../src/runtime.ts'
import { createBenchDatabase, DEFAULT_SERVER_URL, redact } from './lib/database.ts'
import { log } from './lib/log.ts'
import { sizedOptions } from './lib/sized-options.ts'
import {
  formatReport, latency, machineInfo, missedTargets, newReport, packageVersion, percentile, throughput, writeReport, type BenchResult
} from './lib/results.ts'
import { awaitCaughtUp, serverNodeArgs, startLedgerline, withServers, type Server } from './lib/server.ts'
import {
  deliveryRun, keepOneEndpoint, latencyRun, peerRun, subscribe, verifySamples, type DeliveryFixture, type DeliveryRun, type LatencyRun
} from './lib/webhook-delivery.ts'
import { webhookIngest } from './lib/webhook-ingest.ts'
import { startReceiver } from './lib/webhook-receiver.ts'

// ── configuration ──────────────────────────────────────────────────────────

const OPTIONS = {
  quick: { type: 'boolean', env: 'BENCH_QUICK', fallback: '' },
  events: { env: 'BENCH_EVENTS', fallback: '' },
  writers: { env: 'BENCH_WRITERS', fallback: '4' },
  seconds: { env: 'BENCH_SECONDS', fallback: '' },
  rate: { env: 'BENCH_RATE', fallback: '200' },
  connections: { env: 'BENCH_CONNECTIONS', fallback: '16' },
  rounds: { env: 'BENCH_ROUNDS', fallback: '' },
  only: { env: 'BENCH_ONLY', fallback: 'all' }
} as const

/** What a run measures when a setting is not given: a full run, and a smoke run (--quick). */
const SIZES = { full: { events: 2000, seconds: 10, rounds: 3 }, quick: { events: 200, seconds: 2, rounds: 1 } }
const ENDPOINTS = 8
/** How long a run may take to drain before the bench gives up on it. */
const DRAIN_TIMEOUT_MS = 300_000

type Config = ReturnType<typeof config>

function config () {
  const { options, quick, size, given } = sizedOptions(OPTIONS, SIZES)
  const seconds = given('seconds', size.seconds)
  const only = options.get('only')
  if (only !== 'all' && only !== 'delivery' && only !== 'ingest') throw new Error('--only / BENCH_ONLY is all, delivery or ingest')
  return {
    serverUrl: process.env.DATABASE_URL || DEFAULT_SERVER_URL,
    quick,
    events: Math.round(given('events', size.events)),
    writers: Math.round(options.num('writers')),
    seconds,
    warmupSeconds: Math.max(1, seconds / 5),
    rate: options.num('rate'),
    connections: Math.round(options.num('connections')),
    rounds: Math.round(given('rounds', size.rounds)),
    only,
    serverNodeArgs: serverNodeArgs()
  }
}

// ── the runs ───────────────────────────────────────────────────────────────

interface DeliveryFigures {
  readonly run: DeliveryRun
  readonly peerRate: number
  readonly verified: number
  readonly latency: LatencyRun
}

async function delivery (cfg: Config, fixture: DeliveryFixture): Promise<DeliveryFigures> {
  log(`webhook-delivery: ${cfg.events} events to ${ENDPOINTS} endpoints, ${cfg.writers} writers (a warm-up of a tenth first)`)
  await deliveryRun(fixture, Math.max(10, Math.round(cfg.events / 10)), cfg.writers, DRAIN_TIMEOUT_MS)
  const verified = verifySamples(fixture)
  const run = await deliveryRun(fixture, cfg.events, cfg.writers, DRAIN_TIMEOUT_MS)
  log(`  the peer: signed fetches to the receiver from ${ENDPOINTS} callers, ${cfg.seconds} s`)
  const peer = await peerRun(fixture, ENDPOINTS, cfg.seconds)
  log(`    ${Math.round(peer.rate).toLocaleString('en-US')} POSTs/s (${peer.ops} in ${peer.seconds.toFixed(1)} s)`)
  log(`webhook-latency: ${cfg.rate} events/s to one endpoint for ${cfg.seconds} s (a warm-up of ${cfg.warmupSeconds} s first)`)
  const single = await keepOneEndpoint(fixture)
  await latencyRun(single, cfg.rate, cfg.warmupSeconds, DRAIN_TIMEOUT_MS)
  const measured = await latencyRun(single, cfg.rate, cfg.seconds, DRAIN_TIMEOUT_MS)
  return { run, peerRate: peer.rate, verified, latency: measured }
}

function deliveryResults (f: DeliveryFigures, cfg: Config): BenchResult[] {
  const peerName = `signed fetches to the same receiver, ${ENDPOINTS} callers (standardwebhooks)`
  const at = `${cfg.rate} events/s offered, one endpoint`
  return [
    throughput({
      name: 'webhook-delivery', metric: `deliveries/s (${ENDPOINTS} endpoints)`, value: f.run.rate,
      peer: { name: peerName, value: f.peerRate }, targets: { value: '>= 1000' }
    }),
    latency({ name: 'webhook-latency', metric: `ms p99, append to first attempt (${at})`, value: percentile(f.latency.latencies, 99),
      targets: { value: '<= 100' } }),
    latency({ name: 'webhook-latency-p50', metric: `ms p50, append to first attempt (${at})`, value: percentile(f.latency.latencies, 50) })
  ]
}

function deliveryNotes (f: DeliveryFigures): string[] {
  return [
    `webhook-delivery: ${f.run.events} events × ${ENDPOINTS} endpoints = ${f.run.deliveries} messages in ${f.run.seconds.toFixed(1)} s, ` +
      `from the first append to the last attempt recorded; ${f.run.repeats} repeated POSTs, ${f.run.failedAttempts} failed attempts; ` +
      `${f.verified} received messages verified with the standardwebhooks package against their endpoint's secret.`,
    `webhook-latency: ${f.latency.events} events; the load's own lag at most ${f.latency.maxLagMs.toFixed(1)} ms.`
  ]
}

// ── main ───────────────────────────────────────────────────────────────────

async function main (): Promise<void> {
  const cfg = config()
  const started = performance.now()
  const loads = [loadavg()[0]!]
  log(`bench:webhooks — ${JSON.stringify({ ...cfg, serverUrl: redact(cfg.serverUrl) })}, 1-min load average ${loads[0]!.toFixed(2)}`)
  const db = await createBenchDatabase(cfg.serverUrl, 'ledgerline_bench_webhooks')
  log(`on ${db.version}, database ${redact(db.url)}`)
  const runtime = await openRuntime(loadConfig({ NODE_ENV: 'production', DATABASE_URL: db.url }), pino({ level: 'warn' }))
  const receiver = await startReceiver()
  const stripeSecret = `whsec_${randomBytes(24).toString('hex')}`
  let figures: DeliveryFigures | undefined
  let ingest: BenchResult[] = []
  await withServers(async () => { await receiver.close(); await runtime.close(); await db.drop() }, async (start) => {
    const owner = await bootstrap(runtime.identity, systemCommand('bench-webhooks'),
      { email: 'owner@bench.example', orgName: 'Bench Webhooks', displayName: 'Bench Owner' })
    const head = formatPosition(await runtime.store.headPosition())
    const server: Server = await start(startLedgerline({
      DATABASE_URL: db.url,
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
      WEBHOOK_SECRETS_KEY: randomBytes(32).toString('base64'),
      STRIPE_WEBHOOK_SECRET: stripeSecret,
      WEBHOOK_INBOUND_RATE_PER_SECOND: '100000'
    }, cfg.serverNodeArgs))
    log(`  server at ${server.url}, receiver at ${receiver.url}`)
    await awaitCaughtUp(server, owner.token, head, 1)
    if (cfg.only !== 'ingest') {
      const base = { runtime, serverUrl: server.url, orgId: owner.orgId, userId: owner.userId, token: owner.token, receiver }
      figures = await delivery(cfg, await subscribe(base, ENDPOINTS))
    }
    if (cfg.only !== 'delivery') {
      log(`webhook-ingest: ${cfg.connections} connections each, ${cfg.rounds} round(s) of ${cfg.seconds} s`)
      ingest = await webhookIngest(
        { connections: cfg.connections, seconds: cfg.seconds, warmupSeconds: cfg.warmupSeconds, rounds: cfg.rounds }, server, stripeSecret)
    }
  })
  loads.push(loadavg()[0]!)
  const machine = machineInfo(db.version, {
    standardwebhooks: packageVersion('standardwebhooks'),
    stripe: packageVersion('stripe'),
    endpoints: ENDPOINTS,
    events: cfg.events,
    writers: cfg.writers,
    seconds: cfg.seconds,
    ingestConnections: cfg.connections,
    ingestRounds: cfg.rounds,
    loadAverage: loads.map((l) => Number(l.toFixed(2)))
  })
  const results = [...figures === undefined ? [] : deliveryResults(figures, cfg), ...ingest]
  const report = {
    ...newReport('webhooks', `npm run bench:webhooks${cfg.quick ? ' -- --quick' : ''}`, machine, results),
    notes: [
      ...figures === undefined ? [] : deliveryNotes(figures),
      ...ingest.length === 0 ? [] : [INGEST_NOTE]
    ]
  }
  const file = writeReport(report)
  console.log('\n' + formatReport(report))
  log(`wrote ${file} in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  if (process.env.BENCH_STRICT === '1' && missedTargets(report).length > 0) process.exitCode = 1
}

const INGEST_NOTE = 'webhook-ingest: every request a new Stripe event (charge.succeeded, which processing records as skipped: ' +
  'unhandled_type), so each is verified, stored with no_stream and its processing job scheduled before the 200; the ' +
  'processing jobs run in the server meanwhile. The signing happens in the load generator for both contenders.'

await main()
