/**
 * Servers under benchmark, each in its own process started alike
 * (`node --import tsx`): the Ledgerline server (src/main.ts, NODE_ENV=production)
 * and its peer, the bare Fastify hello-world of hello-server.ts. A group stops
 * them all, on the way out or on Ctrl-C, and shows what they wrote.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { log } from './log.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface Server {
  readonly name: string
  readonly url: string
  /** CPU time the server's process has used so far, in ms, from /proc/<pid>/stat; undefined where there is no /proc. */
  cpuMs (): CpuTime | undefined
  /** What the process wrote to stdout and stderr since started or cleared (the last 64 KiB). */
  output (): string
  clearOutput (): void
  stop (): Promise<void>
}

const OUTPUT_KEPT = 64 * 1024
const STARTUP_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 15_000

/** The Ledgerline server on `storage` (DATABASE_URL or LEDGERLINE_DATA_DIR); `nodeArgs` e.g. `--cpu-prof`. */
export function startLedgerline (storage: Readonly<Record<string, string>>, nodeArgs: readonly string[] = []): Promise<Server> {
  // Production refuses to start without a key to sign audit digests: one for this run.
  const AUDIT_SIGNING_KEY = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  // Nor with /metrics open on the API port: a token nobody scrapes with.
  const METRICS_TOKEN = randomBytes(24).toString('hex')
  const env = { NODE_ENV: 'production', LOG_LEVEL: 'warn', KURRENTDB_URL: '', AUDIT_SIGNING_KEY, METRICS_TOKEN, ...storage }
  return startServer('ledgerline', 'src/main.ts', env, '/healthz', nodeArgs)
}

/** The peer: GET /hello → `{"hello":"world"}`. */
export function startHello (): Promise<Server> {
  return startServer('hello-world', 'bench/lib/hello-server.ts', { NODE_ENV: 'production' }, '/hello')
}

/** The body the hello-world answers, to check every response of a run against. */
export const HELLO_BODY = '{"hello":"world"}'

/**
 * Extra node flags for the Ledgerline server from BENCH_SERVER_NODE_ARGS,
 * e.g. "--cpu-prof --cpu-prof-dir=.scratch/prof".
 */
export function serverNodeArgs (): string[] {
  return (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter((arg) => arg !== '')
}

/**
 * Runs `work` with a group of servers; on the way out, or on SIGINT, shows
 * what each wrote, stops them all and then calls `release` (the database).
 */
export async function withServers<T> (
  release: () => Promise<void>, work: (start: (server: Promise<Server>) => Promise<Server>) => Promise<T>
): Promise<T> {
  const servers: Server[] = []
  const cleanUp = async (): Promise<void> => {
    await Promise.all(servers.map((server) => server.stop()))
    await release()
  }
  const onSignal = (): void => { void cleanUp().finally(() => process.exit(130)) }
  process.once('SIGINT', onSignal)
  try {
    return await work(async (starting) => {
      const server = await starting
      servers.push(server)
      return server
    })
  } finally {
    process.off('SIGINT', onSignal)
    for (const server of servers) {
      const output = server.output().trim()
      if (output !== '') log(`${server.name} wrote (last ${OUTPUT_KEPT / 1024} KiB):\n${output}`)
    }
    await cleanUp()
  }
}

/**
 * Waits until the server's read models have reached `head`, the set-up's
 * last write (X-Consistent-With answers 504 while they have not), and checks
 * the session it answers for `token`; then forgets the output so far (the
 * 504s are logged as errors).
 */
export async function awaitCaughtUp (server: Server, token: string, head: string, memberships: number): Promise<void> {
  const started = performance.now()
  const deadline = Date.now() + 300_000
  for (;;) {
    const response = await fetch(`${server.url}/v1/session`, { headers: { authorization: `Bearer ${token}`, 'x-consistent-with': head } })
    if (response.status === 200) {
      const body = await response.json() as { memberships: unknown[] }
      if (body.memberships.length !== memberships) {
        throw new Error(`expected ${memberships} memberships, the server answered ${body.memberships.length}`)
      }
      log(`  read models caught up with ${head} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
      server.clearOutput()
      return
    }
    if (response.status !== 504 || Date.now() > deadline) {
      throw new Error(`GET /v1/session answered ${response.status}: ${await response.text()}`)
    }
  }
}

let clockTicks: number | undefined

/** Clock ticks per second, the unit of /proc/<pid>/stat's times (100 on Linux almost everywhere). */
function ticksPerSecond (): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

export interface CpuTime {
  /** In user space (utime), ms. */
  readonly user: number
  /** In the kernel on the process's behalf (stime), ms: system calls, the sockets' loopback traffic. */
  readonly system: number
}

/**
 * utime and stime of a process, in ms: fields 14 and 15 of /proc/<pid>/stat,
 * counted after the command name, which is in parentheses and may hold spaces.
 */
export function processCpu (pid: number): CpuTime | undefined {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  const ms = 1000 / ticksPerSecond()
  return { user: Number(fields[11]) * ms, system: Number(fields[12]) * ms }
}

/** A port nothing listens on right now. */
async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no TCP port')
  return address.port
}

/** Starts `node [nodeArgs] --import tsx <script>` and waits until GET `probe` answers 200. */
async function startServer (
  name: string, script: string, env: Record<string, string>, probe: string, nodeArgs: readonly string[] = []
): Promise<Server> {
  const port = await freePort()
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...process.env, ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-OUTPUT_KEPT) }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  let exitCode: number | null | undefined
  const exited = new Promise<void>((resolve) => child.once('exit', (code, signal) => {
    exitCode = code ?? (signal === null ? null : 128)
    resolve()
  }))
  const url = `http://127.0.0.1:${port}`
  const server: Server = {
    name,
    url,
    cpuMs: () => child.pid === undefined ? undefined : processCpu(child.pid),
    output: () => output,
    clearOutput: () => { output = '' },
    async stop () {
      if (exitCode !== undefined) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
      await exited
      clearTimeout(timer)
      if (exitCode !== 0) log(`${name} exited with ${String(exitCode)}`)
    }
  }
  const deadline = Date.now() + STARTUP_TIMEOUT_MS
  for (;;) {
    if (exitCode !== undefined) throw new Error(`${name} exited with ${String(exitCode)} while starting:\n${output}`)
    try {
      if ((await fetch(url + probe)).status === 200) return server
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop()
      throw new Error(`${name} did not answer ${probe} within ${STARTUP_TIMEOUT_MS / 1000} s:\n${output}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
