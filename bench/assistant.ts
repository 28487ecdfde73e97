/**
 * Assistant benchmark: `npm run bench:assistant`.
 *
 *   sse-relay      a fake OpenAI-compatible upstream (test/helpers/fake-openai.ts, in this process) streams 500
 *                  text chunks, `gap` ms apart; the p95 delay Ledgerline adds between the upstream writing a chunk
 *                  and the client receiving it: the p95 of each chunk's delay through Ledgerline (its messages
 *                  route, the UI message stream) minus the p95 of the same client reading the upstream directly.
 *                  Target <= 5 ms. sse-relay-p95 gives both percentiles (ratio: direct ÷ through).
 *   ttft-overhead  time to first token through Ledgerline minus direct, p95 (target <= 15 ms): the request's
 *                  start to the first text chunk's arrival, the upstream answering at once. Through Ledgerline it
 *                  includes the quota check, the member's message appended to the conversation, the tool list
 *                  and the upstream request. ttft-p95 gives both percentiles.
 *
 * The two contenders run one request at a time, alternating, with the same client code (bench/lib/assistant-streams.ts:
 * fetch and an SSE line parser), and every stream is checked: the whole text, in order. The Ledgerline server runs
 * in its own process (src/main.ts, NODE_ENV=production) on a fresh PostgreSQL database, with OPENAI_BASE_URL at the
 * fake; the fake and the client share this process, so a chunk's write and its arrival are read on one clock.
 * Each message goes to a new conversation (created before the timing), so the upstream request stays the same size.
 *
 * Settings, as flags or env vars (`npm run bench:assistant -- --quick`):
 *   DATABASE_URL                      server for the bench database (default: the local server's `postgres`)
 *   BENCH_QUICK=1     --quick         a smoke run: fewer streams and requests
 *   BENCH_STREAMS     --streams       streams of 500 chunks per contender in sse-relay (10; --quick 2)
 *   BENCH_CHUNKS      --chunks        chunks per stream (500)
 *   BENCH_GAP_MS      --gap           ms between the upstream's chunks (5)
 *   BENCH_REQUESTS    --requests      requests per contender in ttft-overhead (100; --quick 20)
 *   BENCH_SERVER_NODE_ARGS            extra node flags for the Ledgerline server, e.g. "--cpu-prof"
 *   BENCH_STRICT=1                    exit 1 when a target is missed
 */
import { randomBytes } from 'node:crypto'
import { loadavg } from 'node:os'
import { pino } from 'pino'
import { bootstrap } from '../src/application/identity/commands.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { formatPosition } from '../src/eventstore/position.ts'
import { openRuntime } from '../src/runtime.ts'
import { startFakeOpenAI, type FakeOpenAI } from '../test/helpers/fake-openai.ts'
import { firstToken, markedChunk, readStream, relayDelays, uiStreamText, upstreamText } from './lib/assistant-streams.ts'
import { createBenchDatabase, DEFAULT_SERVER_URL, redact } from './lib/database.ts'
import { log } from './lib/log.ts'
import { formatReport, latency, machineInfo, missedTargets, newReport, packageVersion, percentile, writeReport } from './lib/results.ts'
import { sizedOptions } from './lib/sized-options.ts'
import { awaitCaughtUp, serverNodeArgs, startLedgerline, withServers } from './lib/server.ts'
import { openAssistantClient, type AssistantClient } from './lib/assistant-client.ts'

const OPTIONS = {
  quick: { type: 'boolean', env: 'BENCH_QUICK', fallback: '' },
  streams: { env: 'BENCH_STREAMS', fallback: '' },
  chunks: { env: 'BENCH_CHUNKS', fallback: '500' },
  gap: { env: 'BENCH_GAP_MS', fallback: '5' },
  requests: { env: 'BENCH_REQUESTS', fallback: '' }
} as const

const SIZES = { full: { streams: 10, requests: 100 }, quick: { streams: 2, requests: 20 } }
const MODEL = 'bench-model'
const API_KEY = 'bench-key'

type Config = ReturnType<typeof config>

function config () {
  const { options, quick, size, given } = sizedOptions(OPTIONS, SIZES)
  return {
    serverUrl: process.env.DATABASE_URL || DEFAULT_SERVER_URL,
    quick,
    streams: Math.round(given('streams', size.streams)),
    chunks: Math.round(options.num('chunks')),
    gapMs: options.num('gap'),
    requests: Math.round(given('requests', size.requests)),
    serverNodeArgs: serverNodeArgs()
  }
}

/** The two contenders: the same read of one scripted turn, directly from the fake or through Ledgerline. */
interface Contenders {
  readonly fake: FakeOpenAI
  readonly ledgerline: AssistantClient
}

async function direct (fake: FakeOpenAI, text: string) {
  return await readStream(`${fake.baseURL}/chat/completions`, { authorization: `Bearer ${API_KEY}` }, {
    model: MODEL, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: text }]
  }, upstreamText)
}

async function through (ledgerline: AssistantClient, text: string) {
  const { url, headers, body } = await ledgerline.newMessage(text)
  return await readStream(url, headers, body, uiStreamText)
}

/** One stream each way, alternating; the per-chunk delays of each. */
async function relay (c: Contenders, cfg: Config, streams: number): Promise<{ direct: number[], through: number[] }> {
  const delays = { direct: [] as number[], through: [] as number[] }
  const turn = {
    text: Array.from({ length: cfg.chunks }, (_, index) => markedChunk(index)),
    chunkDelayMs: cfg.gapMs,
    usage: { prompt_tokens: 20, completion_tokens: cfg.chunks }
  }
  for (let round = 0; round < streams; round++) {
    for (const side of ['direct', 'through'] as const) {
      c.fake.enqueue(turn)
      const arrivals = side === 'direct' ? await direct(c.fake, 'relay') : await through(c.ledgerline, 'relay')
      delays[side].push(...relayDelays(arrivals, c.fake.requests.at(-1)!.sentAt, cfg.chunks))
    }
  }
  return delays
}

/** One request each way, alternating; the time to first token of each. */
async function ttft (c: Contenders, requests: number): Promise<{ direct: number[], through: number[] }> {
  const times = { direct: [] as number[], through: [] as number[] }
  const turn = { text: [0, 1, 2].map(markedChunk), usage: { prompt_tokens: 20, completion_tokens: 3 } }
  for (let index = 0; index < requests; index++) {
    for (const side of ['direct', 'through'] as const) {
      c.fake.enqueue(turn)
      times[side].push(firstToken(side === 'direct' ? await direct(c.fake, 'hello') : await through(c.ledgerline, 'hello')))
    }
  }
  return times
}

function results (cfg: Config, relayed: { direct: number[], through: number[] }, first: { direct: number[], through: number[] }) {
  const p95 = (samples: number[]): number => percentile(samples, 95)
  const perChunk = `${cfg.chunks} chunks ${cfg.gapMs} ms apart, ${cfg.streams} streams each`
  return [
    latency({ name: 'sse-relay', metric: `ms added at p95, upstream chunk to client (${perChunk})`,
      value: p95(relayed.through) - p95(relayed.direct), targets: { value: '<= 5' } }),
    latency({ name: 'sse-relay-p95', metric: `ms p95, upstream chunk to client (${perChunk})`, value: p95(relayed.through),
      peer: { name: 'the same client reading the upstream directly', value: p95(relayed.direct) } }),
    latency({ name: 'ttft-overhead', metric: `ms added at p95, request to first token (${cfg.requests} requests each)`,
      value: p95(first.through) - p95(first.direct), targets: { value: '<= 15' } }),
    latency({ name: 'ttft-p95', metric: `ms p95, request to first token (${cfg.requests} requests each)`, value: p95(first.through),
      peer: { name: 'the same client reading the upstream directly', value: p95(first.direct) } })
  ]
}

function notes (relayed: { direct: number[], through: number[] }, first: { direct: number[], through: number[] }): string[] {
  const p = (samples: number[], q: number): string => percentile(samples, q).toFixed(2)
  return [
    `sse-relay: p50 ${p(relayed.through, 50)} ms through Ledgerline, ${p(relayed.direct, 50)} ms direct; ` +
      `p99 ${p(relayed.through, 99)} ms and ${p(relayed.direct, 99)} ms (${relayed.through.length} chunks each).`,
    `ttft: p50 ${p(first.through, 50)} ms through Ledgerline, ${p(first.direct, 50)} ms direct; ` +
      `p99 ${p(first.through, 99)} ms and ${p(first.direct, 99)} ms.`,
    'The fake upstream, the client and the bench share one process; the server has its own; all on the same two cores, ' +
      'shared with whatever else runs on the machine (see loadAverage).'
  ]
}

async function main (): Promise<void> {
  const cfg = config()
  const started = performance.now()
  const loads = [loadavg()[0]!]
  log(`bench:assistant — ${JSON.stringify({ ...cfg, serverUrl: redact(cfg.serverUrl) })}, 1-min load average ${loads[0]!.toFixed(2)}`)
  const db = await createBenchDatabase(cfg.serverUrl, 'ledgerline_bench_assistant')
  log(`on ${db.version}, database ${redact(db.url)}`)
  const runtime = await openRuntime(loadConfig({ NODE_ENV: 'production', DATABASE_URL: db.url }), pino({ level: 'warn' }))
  const fake = await startFakeOpenAI()
  let figures: { relayed: { direct: number[], through: number[] }, first: { direct: number[], through: number[] } } | undefined
  await withServers(async () => { await fake.close(); await runtime.close(); await db.drop() }, async (start) => {
    const owner = await bootstrap(runtime.identity, systemCommand('bench-assistant'),
      { email: 'owner@bench.example', orgName: 'Bench Assistant', displayName: 'Bench Owner' })
    const head = formatPosition(await runtime.store.headPosition())
    const server = await start(startLedgerline({
      DATABASE_URL: db.url, OPENAI_BASE_URL: fake.baseURL, OPENAI_API_KEY: API_KEY, AI_MODEL: MODEL,
      WEBHOOK_SECRETS_KEY: randomBytes(32).toString('base64')
    }, cfg.serverNodeArgs))
    await awaitCaughtUp(server, owner.token, head, 1)
    const c: Contenders = { fake, ledgerline: await openAssistantClient(server.url, owner) }
    log('warm-up: a stream and 10 requests each way')
    await relay(c, cfg, 1)
    await ttft(c, 10)
    log(`sse-relay: ${cfg.streams} streams of ${cfg.chunks} chunks, ${cfg.gapMs} ms apart, each way`)
    const relayed = await relay(c, cfg, cfg.streams)
    log(`ttft-overhead: ${cfg.requests} requests each way`)
    figures = { relayed, first: await ttft(c, cfg.requests) }
  })
  loads.push(loadavg()[0]!)
  if (figures === undefined) throw new Error('no figures')
  const machine = machineInfo(db.version, {
    openai: packageVersion('openai'),
    streams: cfg.streams, chunks: cfg.chunks, gapMs: cfg.gapMs, requests: cfg.requests,
    loadAverage: loads.map((l) => Number(l.toFixed(2)))
  })
  const report = {
    ...newReport('assistant', `npm run bench:assistant${cfg.quick ? ' -- --quick' : ''}`, machine,
      results(cfg, figures.relayed, figures.first)),
    notes: notes(figures.relayed, figures.first)
  }
  const file = writeReport(report)
  console.log('\n' + formatReport(report))
  log(`wrote ${file} in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  if (process.env.BENCH_STRICT === '1' && missedTargets(report).length > 0) process.exitCode = 1
}

await main()
