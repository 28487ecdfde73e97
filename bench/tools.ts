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
 *   mcp-call       the real server (src/main.ts, NODE_ENV=production, its
 *                  own process, a fresh database) and the same tool,
 *                  `org.get`, called as the owner two ways: `tools/call`
 *                  through the MCP SDK's own Client over Streamable HTTP
 *                  (one client, so one session, per connection, opened
 *                  before timing), against POST /v1/orgs/:orgId/tools/org.get/calls
 *                  with fetch; req/s from `connections` callers in this
 *                  process, a warm-up each, then alternating rounds.
 *                  Every answer is checked (the organization's id in the
 *                  output, structuredContent over MCP). mcp-call-p50 and -p99
 *                  in ms; mcp-call-cpu: the server's CPU time per call
 *                  (/proc/<pid>/stat around each run), which holds where
 *                  req/s follows what the callers leave of two cores.
 *
 * Results go to bench/results/tools.json (DESIGN.md §9). The issue sets no
 * target for tool-pipeline; mcp-call's is a ratio >= 0.7.
 *
 * Settings, as flags or env vars (`npm run bench:tools -- --quick`):
 *   DATABASE_URL                          server for the bench database (default: the local server's `postgres`)
 *   BENCH_QUICK=1        --quick          a smoke run: 2 s runs instead of 10
 *   BENCH_SECONDS        --seconds        seconds of each measured run (10; --quick 2), after a warm-up of a fifth of it
 *   BENCH_CONCURRENCY    --concurrency    concurrent callers of the throughput run (8)
 *   BENCH_BODY_CALLS     --body-calls     direct calls of the body (200000; --quick 50000)
 *   BENCH_CONNECTIONS    --connections    concurrent callers of mcp-call, each contender (16)
 *   BENCH_ROUNDS         --rounds         alternating rounds of mcp-call (3; --quick 1)
 *   BENCH_ONLY           --only           all | pipeline | mcp (all): the results file then holds only those
 *   BENCH_SERVER_NODE_ARGS                extra node flags for the Ledgerline server, e.g. "--cpu-prof"
 *   BENCH_STRICT=1                        exit 1 when a target is missed
 */
import { loadavg } from 'node:os'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
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
import { formatPosition } from '../src/eventstore/position.ts'
import { openRuntime, type Runtime } from '../src/runtime.ts'
import { parseMetrics, valueOf } from '../src/ops/lib/prometheus-text.ts'
import { createBenchDatabase, DEFAULT_SERVER_URL, redact } from './lib/database.ts'
import { log } from './lib/log.ts'
import { readOptions } from './lib/options.ts'
import {
  combine, formatReport, latency, machineInfo, measure, missedTargets, newReport, packageVersion, percentile, throughput, writeReport,
  type BenchResult, type Measurement
} from './lib/results.ts'
import { awaitCaughtUp, serverNodeArgs, startLedgerline, withServers, type Server } from './lib/server.ts'

// ── configuration ──────────────────────────────────────────────────────────

const OPTIONS = {
  quick: { type: 'boolean', env: 'BENCH_QUICK', fallback: '' },
  seconds: { env: 'BENCH_SECONDS', fallback: '' },
  concurrency: { env: 'BENCH_CONCURRENCY', fallback: '8' },
  'body-calls': { env: 'BENCH_BODY_CALLS', fallback: '' },
  connections: { env: 'BENCH_CONNECTIONS', fallback: '16' },
  rounds: { env: 'BENCH_ROUNDS', fallback: '' },
  only: { env: 'BENCH_ONLY', fallback: 'all' }
} as const

/** What a run measures when a setting is not given: a full run, and a smoke run (--quick). */
const SIZES = { full: { seconds: 10, bodyCalls: 200_000, rounds: 3 }, quick: { seconds: 2, bodyCalls: 50_000, rounds: 1 } } as const

type Config = ReturnType<typeof config>

function config () {
  const options = readOptions(OPTIONS)
  const quick = ['1', 'true'].includes(options.get('quick'))
  const size = SIZES[quick ? 'quick' : 'full']
  const given = (key: keyof typeof OPTIONS, otherwise: number): number => options.get(key) === '' ? otherwise : options.num(key)
  const seconds = given('seconds', size.seconds)
  const only = options.get('only')
  if (only !== 'all' && only !== 'pipeline' && only !== 'mcp') throw new Error('--only / BENCH_ONLY is all, pipeline or mcp')
  return {
    serverUrl: process.env.DATABASE_URL || DEFAULT_SERVER_URL,
    quick,
    seconds,
    warmupSeconds: Math.max(1, seconds / 5),
    concurrency: Math.round(options.num('concurrency')),
    bodyCalls: Math.round(given('body-calls', size.bodyCalls)),
    connections: Math.round(options.num('connections')),
    rounds: Math.round(given('rounds', size.rounds)),
    only,
    serverNodeArgs: serverNodeArgs()
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

// ── mcp-call ───────────────────────────────────────────────────────────────

/** The tool both ways call: a real read-only tool (a body of the bench's own cannot be registered in the server). */
const MCP_TOOL = 'org.get'
const ROUTE = `POST /v1/orgs/:orgId/tools/${MCP_TOOL}/calls`

/** One way of calling the tool, from `connections` workers; `call` throws on any answer but the organization. */
interface Contender {
  readonly label: string
  call(worker: number): Promise<void>
  close(): Promise<void>
}

interface Runs {
  readonly measured: Measurement
  /** The server's CPU time per call over the measured runs, in µs (undefined without /proc). */
  readonly cpuUs: number | undefined
}

interface Fixture {
  readonly orgId: string
  readonly token: string
  /** The log's head once set up: the server's read models must reach it before a run. */
  readonly head: string
}

/** The owner, their organization and API token, written through the application functions as `ledgerline bootstrap` does. */
async function fixtureOn (databaseUrl: string): Promise<Fixture> {
  const runtime = await openRuntime(loadConfig({ NODE_ENV: 'production', DATABASE_URL: databaseUrl }), pino({ level: 'warn' }))
  try {
    const owner = await bootstrap(runtime.identity, systemCommand('bench-tools'),
      { email: 'owner@bench.example', orgName: 'Bench Tools', displayName: 'Bench Owner' })
    return { orgId: owner.orgId, token: owner.token, head: formatPosition(await runtime.store.headPosition()) }
  } finally {
    await runtime.close()
  }
}

function httpContender (server: Server, { orgId, token }: Fixture): Contender {
  const url = `${server.url}/v1/orgs/${orgId}/tools/${MCP_TOOL}/calls`
  const init = { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"input":{}}' }
  return {
    label: ROUTE,
    async call () {
      const response = await fetch(url, init)
      const body = await response.json() as { output?: { orgId?: unknown } }
      if (response.status !== 200 || body.output?.orgId !== orgId) {
        throw new Error(`${ROUTE} answered ${response.status} ${JSON.stringify(body).slice(0, 300)}`)
      }
    },
    close: async () => {}
  }
}

/** One SDK client per worker, each connected (initialize: a session of its own) and having listed the tools, as a client does. */
async function mcpContender (server: Server, { orgId, token }: Fixture, connections: number): Promise<Contender> {
  const endpoint = new URL(`${server.url}/v1/orgs/${orgId}/mcp`)
  const clients = await Promise.all(Array.from({ length: connections }, async () => {
    const client = new Client({ name: 'ledgerline-bench', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(endpoint, { requestInit: { headers: { authorization: `Bearer ${token}` } } }))
    const { tools } = await client.listTools()
    if (!tools.some((tool) => tool.name === MCP_TOOL)) throw new Error(`tools/list does not offer ${MCP_TOOL} to the owner`)
    return client
  }))
  return {
    label: `tools/call ${MCP_TOOL}`,
    async call (worker) {
      const result = await clients[worker]!.callTool({ name: MCP_TOOL, arguments: {} })
      if (result.isError === true || (result.structuredContent as { orgId?: unknown } | undefined)?.orgId !== orgId) {
        throw new Error(`tools/call answered ${JSON.stringify(result).slice(0, 300)}`)
      }
    },
    close: async () => { await Promise.all(clients.map((client) => client.close())) }
  }
}

/** One run of `seconds` from every worker, with the server's CPU time around it. */
async function runFor (label: string, contender: Contender, connections: number, seconds: number, server?: Server) {
  const before = server?.cpuMs()
  const measured = await measure({ concurrency: connections, seconds }, (worker) => contender.call(worker))
  const after = server?.cpuMs()
  const cpuMs = before === undefined || after === undefined ? undefined : after.user + after.system - before.user - before.system
  describe(label, measured)
  return { measured, cpuMs }
}

/** A warm-up run of each contender, not counted, then `rounds` rounds of one run of each in turn, so drift hits them alike. */
async function compete (cfg: Config, server: Server, contenders: readonly Contender[]): Promise<Runs[]> {
  for (const c of contenders) await runFor(`warm-up ${c.label} (${cfg.warmupSeconds} s)`, c, cfg.connections, cfg.warmupSeconds)
  const runs = contenders.map((): Array<{ measured: Measurement, cpuMs: number | undefined }> => [])
  for (let round = 1; round <= cfg.rounds; round++) {
    for (const [i, c] of contenders.entries()) {
      runs[i]!.push(await runFor(`${c.label} (${cfg.seconds} s, round ${round}/${cfg.rounds})`, c, cfg.connections, cfg.seconds, server))
    }
  }
  return runs.map((list) => {
    const measured = combine(list.map((r) => r.measured))
    const cpu = list.every((r) => r.cpuMs !== undefined) ? list.reduce((sum, r) => sum + r.cpuMs!, 0) : undefined
    return { measured, cpuUs: cpu === undefined ? undefined : cpu * 1000 / measured.ops }
  })
}

async function mcpCall (cfg: Config): Promise<{ version: string, results: BenchResult[] }> {
  const db = await createBenchDatabase(cfg.serverUrl, 'ledgerline_bench_tools_mcp')
  log(`mcp-call on ${db.version}, database ${redact(db.url)}, ${cfg.connections} callers each`)
  const results = await withServers(() => db.drop(), async (start) => {
    const fixture = await fixtureOn(db.url)
    const server = await start(startLedgerline({ DATABASE_URL: db.url }, cfg.serverNodeArgs))
    log(`  server at ${server.url}`)
    await awaitCaughtUp(server, fixture.token, fixture.head, 1)
    const http = httpContender(server, fixture)
    const mcp = await mcpContender(server, fixture, cfg.connections)
    try {
      const [peer, ours] = await compete(cfg, server, [http, mcp])
      return mcpResults(ours!, peer!)
    } finally {
      await mcp.close()
    }
  })
  return { version: db.version, results }
}

function mcpResults (ours: Runs, peer: Runs): BenchResult[] {
  const name = `${ROUTE}, fetch`
  const p = (runs: Runs, q: number): number => percentile(runs.measured.samples, q)
  return [
    throughput({ name: 'mcp-call', metric: 'req/s', value: ours.measured.rate, peer: { name, value: peer.measured.rate },
      targets: { ratio: '>= 0.7' } }),
    latency({ name: 'mcp-call-p50', metric: 'ms', value: p(ours, 50), peer: { name, value: p(peer, 50) } }),
    latency({ name: 'mcp-call-p99', metric: 'ms', value: p(ours, 99), peer: { name, value: p(peer, 99) } }),
    ...ours.cpuUs === undefined || peer.cpuUs === undefined
      ? []
      : [latency({ name: 'mcp-call-cpu', metric: 'µs server CPU per call', value: ours.cpuUs, peer: { name, value: peer.cpuUs } })]
  ]
}

// ── main ───────────────────────────────────────────────────────────────────

async function main (): Promise<void> {
  const cfg = config()
  const started = performance.now()
  const loads = [loadavg()[0]!]
  log(`bench:tools — ${JSON.stringify({ ...cfg, serverUrl: redact(cfg.serverUrl) })}, 1-min load average ${loads[0]!.toFixed(2)}`)
  const pipeline = cfg.only === 'mcp' ? undefined : await toolPipeline(cfg)
  const mcp = cfg.only === 'pipeline' ? undefined : await mcpCall(cfg)
  loads.push(loadavg()[0]!)
  const machine = machineInfo(pipeline?.version ?? mcp?.version, {
    '@modelcontextprotocol/sdk': packageVersion('@modelcontextprotocol/sdk'),
    ...(pipeline === undefined ? {} : { pipelinePoolSize: pipeline.poolSize, pipelineConcurrency: cfg.concurrency }),
    ...(mcp === undefined ? {} : { mcpConnections: cfg.connections, mcpRounds: cfg.rounds }),
    seconds: cfg.seconds,
    loadAverage: loads.map((l) => Number(l.toFixed(2)))
  })
  const results = [...pipeline === undefined ? [] : pipelineResults(pipeline, cfg), ...mcp?.results ?? []]
  const report = {
    ...newReport('tools', `npm run bench:tools${cfg.quick ? ' -- --quick' : ''}`, machine, results),
    notes: [...pipeline === undefined ? [] : pipelineNotes(pipeline), ...mcp === undefined ? [] : MCP_NOTES]
  }
  const file = writeReport(report)
  console.log('\n' + formatReport(report))
  log(`wrote ${file} in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  if (process.env.BENCH_STRICT === '1' && missedTargets(report).length > 0) process.exitCode = 1
}

function pipelineNotes (f: PipelineFigures): string[] {
  return [
    `tool-pipeline: each call writes 3 events (requested, started, succeeded) on its own stream; ${f.counted} calls ` +
      'counted by ledgerline_tool_calls_total, as made. No projection runs during the measure.',
    'tool-pipeline: the body\'s figures are at the clock\'s resolution; the ratio says how little of a call is the body.'
  ]
}

const MCP_NOTES = [
  `mcp-call: ${MCP_TOOL} both ways, as the owner; the callers run in the bench's process, the server in its own, on the same ` +
    'two cores: the MCP side\'s callers (the SDK Client, which also checks structuredContent against the listed outputSchema) ' +
    'take more of them than fetch does, so mcp-call-cpu, the server\'s own cost per call, is the fairer of the two ratios.'
]

await main()
