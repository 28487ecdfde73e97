/**
 * Tools benchmark: `npm run bench:tools`.
 *
 *   tool-pipeline  a read-only tool whose body answers its input at once
 *                  (`bench.echo`, permission org:read, no approval, no
 *                  retry), called as the organization's owner through the
 *                  runtime's pipeline (src/application/tools/pipeline.ts) on
 *                  a fresh PostgreSQL database, against calling its body
 *                  directly: what the pipeline itself costs per call (find
 *                  the tool, the policy snapshot, parse, can(), record the
 *                  request, start the attempt, run with the timeout,
 *                  validate the output, record the success: three events on
 *                  the call's own stream; count it on the metrics). p50 and
 *                  p99 per call from one caller at a time
 *                  (tool-pipeline-p50, -p99); calls/s from `concurrency`
 *                  callers at once (tool-pipeline). The body's figures come
 *                  from calling `run(input, context)` one call at a time.
 *                  tool-pipeline-vs-appends puts the calls/s beside the
 *                  floor under them: the same three events (taken from a
 *                  call the pipeline made) appended to a new stream one
 *                  after the other through the event store, from as many
 *                  writers, with nothing else around them.
 *
 * Every call's outcome is checked (succeeded, the output its input), and so
 * is the metrics' count of the calls at the end.
 *
 * Results go to bench/results/tools.json (DESIGN.md §9). The issue sets no
 * target for tool-pipeline.
 *
 * Settings, as flags or env vars (`npm run bench:tools -- --quick`):
 *   DATABASE_URL                          server for the bench database (default: the local server's `postgres`)
 *   BENCH_QUICK=1        --quick          a smoke run: 2 s runs instead of 10
 *   BENCH_SECONDS        --seconds        seconds of each measured run (10; --quick 2), after a warm-up of a fifth of it
 *   BENCH_CONCURRENCY    --concurrency    concurrent callers of the throughput run (8)
 *   BENCH_BODY_CALLS     --body-calls     direct calls of the body (200000; --quick 50000)
 *   BENCH_STRICT=1                        exit 1 when a target is missed
 */
import { loadavg } from 'node:os'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { z } from 'zod'
import { bootstrap } from '../src/application/identity/commands.ts'
import { ToolMetrics } from '../src/application/tools/metrics.ts'
import { ToolPipeline } from '../src/application/tools/pipeline.ts'
import { ToolRegistry } from '../src/application/tools/registry.ts'
import { defineTool, type ToolCaller, type ToolContext } from '../src/application/tools/tool.ts'
import { loadConfig } from '../src/config.ts'
import { metadataFor, systemCommand, type CommandMetadata } from '../src/domain/envelope.ts'
import { toolCallStreamId } from '../src/domain/tools/call.ts'
import type { EventStore, ExpectedVersion } from '../src/eventstore/types.ts'
import { openRuntime, type Runtime } from '../src/runtime.ts'
import { parseMetrics, valueOf } from '../src/ops/lib/prometheus-text.ts'
import { createBenchDatabase, DEFAULT_SERVER_URL, redact } from './lib/database.ts'
import { log } from './lib/log.ts'
import { readOptions } from './lib/options.ts'
import {
  formatReport, latency, machineInfo, measure, missedTargets, newReport, percentile, throughput, writeReport,
  type BenchResult, type Measurement
} from './lib/results.ts'

// ── configuration ──────────────────────────────────────────────────────────

const OPTIONS = {
  quick: { type: 'boolean', env: 'BENCH_QUICK', fallback: '' },
  seconds: { env: 'BENCH_SECONDS', fallback: '' },
  concurrency: { env: 'BENCH_CONCURRENCY', fallback: '8' },
  'body-calls': { env: 'BENCH_BODY_CALLS', fallback: '' }
} as const

/** What a run measures when a setting is not given: a full run, and a smoke run (--quick). */
const SIZES = { full: { seconds: 10, bodyCalls: 200_000 }, quick: { seconds: 2, bodyCalls: 50_000 } } as const

type Config = ReturnType<typeof config>

function config () {
  const options = readOptions(OPTIONS)
  const quick = ['1', 'true'].includes(options.get('quick'))
  const size = SIZES[quick ? 'quick' : 'full']
  const given = (key: keyof typeof OPTIONS, otherwise: number): number => options.get(key) === '' ? otherwise : options.num(key)
  const seconds = given('seconds', size.seconds)
  return {
    serverUrl: process.env.DATABASE_URL || DEFAULT_SERVER_URL,
    quick,
    seconds,
    warmupSeconds: Math.max(1, seconds / 5),
    concurrency: Math.round(options.num('concurrency')),
    bodyCalls: Math.round(given('body-calls', size.bodyCalls))
  }
}

// ── tool-pipeline ──────────────────────────────────────────────────────────

/** The tool under measure: read-only, and its body answers at once, so what is timed is the pipeline around it. */
const echo = defineTool({
  name: 'bench.echo',
  title: 'Echo',
  description: 'Answers its text at once.',
  input: z.object({ text: z.string().max(200) }).strict(),
  output: z.object({ text: z.string() }).strict(),
  permission: { action: 'org:read', resource: (_input, { orgId }) => ({ type: 'organization', id: orgId }) },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  timeoutMs: 5000,
  retries: 0,
  approval: 'never',
  examples: [{ input: { text: 'hello' }, output: { text: 'hello' } }],
  async run ({ text }) {
    return { text }
  }
})

interface PipelineFigures {
  readonly version: string
  readonly poolSize: number
  readonly sequential: Measurement
  readonly concurrent: Measurement
  readonly body: Measurement
  /** The call's events appended alone, from `concurrency` writers. */
  readonly appends: Measurement
  readonly counted: number
}

async function toolPipeline (cfg: Config): Promise<PipelineFigures> {
  const db = await createBenchDatabase(cfg.serverUrl, 'ledgerline_bench_tools')
  log(`tool-pipeline on ${db.version}, database ${redact(db.url)}`)
  const onSignal = (): void => { void db.drop().finally(() => process.exit(130)) }
  process.once('SIGINT', onSignal)
  const poolSize = cfg.concurrency + 2
  let runtime: Runtime | undefined
  try {
    runtime = await openRuntime(
      loadConfig({ NODE_ENV: 'production', DATABASE_URL: db.url, DATABASE_POOL_SIZE: String(poolSize) }), pino({ level: 'warn' }))
    const owner = await bootstrap(runtime.identity, systemCommand('bench-tools'),
      { email: 'owner@bench.example', orgName: 'Bench Tools', displayName: 'Bench Owner' })
    const metrics = new Registry()
    const pipeline = new ToolPipeline({
      services: runtime.tools.deps.services,
      registry: new ToolRegistry(runtime.catalogue, [echo]),
      observer: new ToolMetrics(metrics, [echo])
    })
    const caller: ToolCaller = { userId: owner.userId, platformAdmin: false, platformSupport: false }
    const metadata = (): CommandMetadata => ({ ...systemCommand('bench-tools'), actor: { type: 'user', id: owner.userId } })
    const call = async (worker: number, index: number, callId?: string): Promise<void> => {
      const text = `w${worker}-${index}`
      const request = { orgId: owner.orgId, tool: echo.name, input: { text }, caller, metadata: metadata() }
      const outcome = await pipeline.call(callId === undefined ? request : { ...request, callId })
      if (outcome.status !== 'succeeded' || outcome.output.text !== text) {
        throw new Error(`bench.echo answered ${JSON.stringify(outcome)}`)
      }
    }
    const firstCall = crypto.randomUUID()
    await call(0, -1, firstCall)
    log(`  warm-up: ${cfg.warmupSeconds} s, ${cfg.concurrency} callers`)
    const warmUp = await measure({ concurrency: cfg.concurrency, seconds: cfg.warmupSeconds }, call)
    log(`  one caller: ${cfg.seconds} s`)
    const sequential = await measure({ concurrency: 1, seconds: cfg.seconds }, call)
    describe('pipeline, one caller', sequential)
    log(`  ${cfg.concurrency} callers: ${cfg.seconds} s`)
    const concurrent = await measure({ concurrency: cfg.concurrency, seconds: cfg.seconds }, call)
    describe(`pipeline, ${cfg.concurrency} callers`, concurrent)
    const body = await directBody(cfg.bodyCalls, owner.orgId, caller)
    describe('body called directly', body)
    const appends = await appendsAlone(cfg, runtime.store, firstCall, owner.userId, owner.orgId)
    describe(`the call's 3 events appended alone, ${cfg.concurrency} writers`, appends)
    const samples = parseMetrics(await metrics.metrics())
    const counted = valueOf(samples, 'ledgerline_tool_calls_total', { tool: echo.name, outcome: 'succeeded' })
    const made = 1 + warmUp.ops + sequential.ops + concurrent.ops
    if (counted !== made) throw new Error(`ledgerline_tool_calls_total counted ${counted} successful calls of ${made}`)
    return { version: db.version, poolSize, sequential, concurrent, body, appends, counted }
  } finally {
    process.off('SIGINT', onSignal)
    await runtime?.close()
    await db.drop()
  }
}

/** The body as the pipeline would call it, with a context of its own, one call at a time. */
async function directBody (calls: number, orgId: string, caller: ToolCaller): Promise<Measurement> {
  log(`  the body directly: ${calls} calls`)
  const signal = new AbortController().signal
  const context = (index: number): ToolContext => ({
    services: undefined as never, orgId, caller, callId: `call-${index}`, attempt: 1, signal,
    command: () => { throw new Error('bench.echo issues no command') }
  })
  return measure({ concurrency: 1, ops: calls }, async (_worker, index) => {
    const text = `d-${index}`
    const output = await echo.run({ text }, context(index))
    if (output.text !== text) throw new Error(`bench.echo's body answered ${JSON.stringify(output)}`)
  })
}

/**
 * The floor under a call: the events of one the pipeline made (read back from its stream), appended to a new
 * stream one after the other as the pipeline appends them, each after the previous, with nothing around them.
 */
async function appendsAlone (cfg: Config, store: EventStore, callId: string, userId: string, orgId: string): Promise<Measurement> {
  const model = (await store.readStream(toolCallStreamId(callId))).map((e) => ({ type: e.type, data: e.data }))
  if (model.length !== 3) throw new Error(`a call wrote ${model.length} events, not 3`)
  log(`  the call's ${model.length} events appended alone: ${cfg.seconds} s, ${cfg.concurrency} writers`)
  const command = (): CommandMetadata => ({ ...systemCommand('bench-tools'), actor: { type: 'user', id: userId }, orgId })
  return measure({ concurrency: cfg.concurrency, seconds: cfg.seconds }, async () => {
    const stream = toolCallStreamId(crypto.randomUUID())
    let expectedVersion: ExpectedVersion = 'no_stream'
    for (const event of model) {
      const metadata = metadataFor(command(), 0)
      const { nextExpectedVersion } = await store.append(stream, [{ id: metadata.eventId, ...event, metadata }], { expectedVersion })
      expectedVersion = nextExpectedVersion
    }
  })
}

function describe (label: string, m: Measurement): void {
  log(`    ${label}: ${Math.round(m.rate).toLocaleString('en-US')} calls/s, p50 ${ms(percentile(m.samples, 50))}, ` +
    `p99 ${ms(percentile(m.samples, 99))} (${m.ops.toLocaleString('en-US')} calls in ${m.seconds.toFixed(1)} s)`)
}

function ms (value: number): string {
  return value < 0.01 ? `${(value * 1000).toFixed(2)} µs` : `${value.toFixed(2)} ms`
}

function pipelineResults (f: PipelineFigures, cfg: Config): BenchResult[] {
  const body = (value: number): { name: string, value: number } => ({ name: 'the body called directly, one call at a time', value })
  const callers = `calls/s (${cfg.concurrency} callers)`
  return [
    precise(throughput({ name: 'tool-pipeline', metric: callers, value: f.concurrent.rate, peer: body(f.body.rate) })),
    precise(latency({
      name: 'tool-pipeline-p50', metric: 'ms (one caller)', value: percentile(f.sequential.samples, 50),
      peer: body(percentile(f.body.samples, 50))
    })),
    precise(latency({
      name: 'tool-pipeline-p99', metric: 'ms (one caller)', value: percentile(f.sequential.samples, 99),
      peer: body(percentile(f.body.samples, 99))
    })),
    throughput({
      name: 'tool-pipeline-vs-appends', metric: callers, value: f.concurrent.rate,
      peer: { name: `the call's 3 events appended alone, one after the other (${cfg.concurrency} writers)`, value: f.appends.rate }
    })
  ]
}

/** The ratio to 3 significant digits: against the body it is far below the 0.001 the shared rounding keeps. */
function precise (result: BenchResult): BenchResult {
  if (result.peer === undefined) return result
  const [ours, peer] = [result.value, result.peer.value]
  const ratio = result.metric.startsWith('calls/s') ? ours / peer : peer / ours
  return { ...result, ratio: Number(ratio.toPrecision(3)) }
}

// ── main ───────────────────────────────────────────────────────────────────

async function main (): Promise<void> {
  const cfg = config()
  const started = performance.now()
  const loads = [loadavg()[0]!]
  log(`bench:tools — ${JSON.stringify({ ...cfg, serverUrl: redact(cfg.serverUrl) })}, 1-min load average ${loads[0]!.toFixed(2)}`)
  const pipeline = await toolPipeline(cfg)
  loads.push(loadavg()[0]!)
  const machine = machineInfo(pipeline.version, {
    poolSize: pipeline.poolSize,
    concurrency: cfg.concurrency,
    seconds: cfg.seconds,
    loadAverage: loads.map((l) => Number(l.toFixed(2)))
  })
  const report = {
    ...newReport('tools', `npm run bench:tools${cfg.quick ? ' -- --quick' : ''}`, machine, pipelineResults(pipeline, cfg)),
    notes: [
      `tool-pipeline: each call writes 3 events (requested, started, succeeded) on its own stream; ${pipeline.counted} calls ` +
        'counted by ledgerline_tool_calls_total, as made. No projection runs during the measure.',
      'tool-pipeline: the body\'s figures are at the clock\'s resolution; the ratio says how little of a call is the body.'
    ]
  }
  const file = writeReport(report)
  console.log('\n' + formatReport(report))
  log(`wrote ${file} in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  if (process.env.BENCH_STRICT === '1' && missedTargets(report).length > 0) process.exitCode = 1
}

await main()
