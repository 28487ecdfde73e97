/**
 * HTTP load with autocannon over real sockets: one run, and routes against
 * each other in the same run (warm-ups, then alternating rounds with the same
 * connections and duration). Only 2xx responses count; more than 1% of
 * anything else (or socket errors) fails the run, and so does a single 2xx
 * whose body is not the one expected.
 *
 * When the server under load is named, its CPU time (user + system, from
 * /proc/<pid>/stat) is read before and after each measured run: the server's
 * CPU time per request holds on a small machine where the load generator
 * takes its share of the cores, req/s less so.
 */
import autocannon from 'autocannon'
import { log } from './log.ts'
import type { CpuTime, Server } from './server.ts'
import { latency, percentile, throughput, type BenchResult, type Targets } from './results.ts'

export interface Load {
  /** 2xx responses per second. */
  readonly rate: number
  readonly p50: number
  readonly p99: number
  readonly ok: number
  readonly non2xx: number
  /** Socket errors and timeouts. */
  readonly errors: number
  readonly seconds: number
  /** Of every 2xx response, in ms. */
  readonly latencies: readonly number[]
  /** The server's CPU time during the run (user + system), in ms; undefined when not measured. */
  readonly serverCpuMs: number | undefined
  /** The system (kernel) part of serverCpuMs. */
  readonly serverSystemMs: number | undefined
}

/** The server's CPU time per answered request (2xx or not), in µs; undefined when not measured. */
export function cpuPerRequest (load: Load): number | undefined {
  const answered = load.ok + load.non2xx
  return load.serverCpuMs === undefined || answered === 0 ? undefined : load.serverCpuMs * 1000 / answered
}

/** What every run of a comparison shares. */
export interface LoadPlan {
  readonly connections: number
  /** Seconds per measured run (each round runs the peer and ours this long). */
  readonly seconds: number
  readonly warmupSeconds: number
  readonly rounds: number
}

/** A request to load a server with: url, and method, headers, body, expectBody as autocannon takes them. */
export type Target = Omit<autocannon.Options, keyof Shared>

/** Fails the bench when more than this share of a run's requests did not answer 2xx. */
const MAX_ERROR_SHARE = 0.01

/** The settings every run shares. */
type Shared = Pick<autocannon.Options, 'connections' | 'duration' | 'pipelining' | 'timeout'>

function loadOptions (connections: number, seconds: number): Shared {
  return { connections, duration: seconds, pipelining: 1, timeout: 10 }
}

/**
 * One autocannon run; `label` names it in the log and in a failure. Latencies
 * are those of the 2xx responses, from autocannon's `response` events: its own
 * histogram counts whole milliseconds, too coarse for a hello-world.
 */
export async function run (label: string, connections: number, seconds: number, target: Target, server?: Server): Promise<Load> {
  const cpuBefore = server?.cpuMs()
  // The promise autocannon returns is also its instance (an EventEmitter).
  type Running = autocannon.Instance & Promise<autocannon.Result>
  const instance = autocannon({ ...target, ...loadOptions(connections, seconds) }) as unknown as Running
  const latencies: number[] = []
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime)
  })
  const result = await instance
  const cpuAfter = server?.cpuMs()
  // With expectBody, every non-2xx answer is a mismatch too: the rest are 2xx with another body.
  const wrongBodies = target.expectBody === undefined ? 0 : Math.max(0, result.mismatches - result.non2xx)
  const ok = result['2xx'] - wrongBodies
  const failed = result.non2xx + result.errors
  const load: Load = {
    rate: ok / result.duration,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    seconds: result.duration,
    latencies,
    ...cpuUsed(cpuBefore, cpuAfter)
  }
  const cpu = cpuPerRequest(load)
  const codes = Object.entries(result.statusCodeStats ?? {}).map(([code, stat]) => `${code}×${stat.count ?? 0}`).join(' ')
  log(`  ${label}: ${Math.round(load.rate).toLocaleString('en-US')} req/s, p50 ${load.p50.toFixed(2)} ms, p99 ${load.p99.toFixed(2)} ms; ` +
    `${ok.toLocaleString('en-US')} 2xx, ${result.non2xx} non-2xx, ${result.errors} errors (${result.timeouts} timeouts) [${codes}]` +
    (cpu === undefined ? '' : `; server CPU ${cpu.toFixed(1)} µs per request (${systemShare(load)} system)`))
  if (wrongBodies > 0) throw new Error(`${label}: ${wrongBodies} 2xx answers did not have the expected body ${target.expectBody}`)
  if (ok === 0 || failed > MAX_ERROR_SHARE * (ok + failed)) {
    throw new Error(`${label}: ${failed} of ${ok + failed} requests failed ` +
      `(status codes: ${codes || 'none'}, socket errors: ${result.errors}); ` +
      'a benchmark of errors is not a benchmark')
  }
  return load
}

/** The kernel's share of the server's CPU time, e.g. `23%`. */
function systemShare (load: Load): string {
  return `${(100 * load.serverSystemMs! / load.serverCpuMs!).toFixed(0)}%`
}

function cpuUsed (before: CpuTime | undefined, after: CpuTime | undefined): Pick<Load, 'serverCpuMs' | 'serverSystemMs'> {
  if (before === undefined || after === undefined) return { serverCpuMs: undefined, serverSystemMs: undefined }
  return { serverCpuMs: after.user + after.system - before.user - before.system, serverSystemMs: after.system - before.system }
}

export interface Contender {
  readonly label: string
  readonly target: Target
  /** The server answering `target`, whose CPU time is read around each measured run. */
  readonly server?: Server
}

/**
 * A warm-up run of each contender, not counted, then `rounds` rounds of one
 * run of each in turn, so drift hits them alike; each contender's runs summed.
 */
export async function compete (plan: LoadPlan, contenders: readonly Contender[]): Promise<Load[]> {
  const { connections, seconds, warmupSeconds, rounds } = plan
  for (const c of contenders) await run(`warm-up ${c.label} (${warmupSeconds} s)`, connections, warmupSeconds, c.target)
  const runs = contenders.map((): Load[] => [])
  for (let round = 1; round <= rounds; round++) {
    const of = rounds === 1 ? '' : `, round ${round}/${rounds}`
    for (const [i, c] of contenders.entries()) {
      runs[i]!.push(await run(`${c.label} (${seconds} s${of})`, connections, seconds, c.target, c.server))
    }
  }
  return runs.map(combine)
}

/** The metric of the `-cpu` results. */
export const CPU_METRIC = 'µs server CPU per request'

/**
 * `name` in req/s against the peer's, then `name-p50` and `name-p99` in ms
 * against the peer's, then (when both servers' CPU time was read) `name-cpu`:
 * the server's CPU time per request against the peer's, ratio peer ÷ ours,
 * under the same targets as the req/s.
 */
export function versusResults (name: string, peerName: string, ours: Load, peer: Load, targets: Targets): BenchResult[] {
  const [oursCpu, peerCpu] = [cpuPerRequest(ours), cpuPerRequest(peer)]
  return [
    throughput({ name, metric: 'req/s', value: ours.rate, peer: { name: peerName, value: peer.rate }, targets }),
    latency({ name: `${name}-p50`, metric: 'ms', value: ours.p50, peer: { name: peerName, value: peer.p50 } }),
    latency({ name: `${name}-p99`, metric: 'ms', value: ours.p99, peer: { name: peerName, value: peer.p99 } }),
    ...oursCpu === undefined || peerCpu === undefined
      ? []
      : [latency({ name: `${name}-cpu`, metric: CPU_METRIC, value: oursCpu, peer: { name: peerName, value: peerCpu }, targets })]
  ]
}

function combine (loads: readonly Load[]): Load {
  if (loads.length === 1) return loads[0]!
  const total = (pick: (load: Load) => number): number => loads.reduce((sum, load) => sum + pick(load), 0)
  const latencies = loads.flatMap((load) => load.latencies)
  const seconds = total((load) => load.seconds)
  return {
    rate: total((load) => load.ok) / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    ok: total((load) => load.ok),
    non2xx: total((load) => load.non2xx),
    errors: total((load) => load.errors),
    seconds,
    latencies,
    serverCpuMs: loads.some((load) => load.serverCpuMs === undefined) ? undefined : total((load) => load.serverCpuMs!),
    serverSystemMs: loads.some((load) => load.serverSystemMs === undefined) ? undefined : total((load) => load.serverSystemMs!)
  }
}
