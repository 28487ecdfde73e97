/**
 * npm run bench:cli — how long a `ledgerline` call takes as a user runs it,
 * from spawn to exit: beside a running server on the embedded store (the
 * call runs in the server over the data directory's socket), and alone on
 * the same data directory once the server has stopped. The peer is the raw
 * limit: a Node.js process that does nothing (`node -e 0`).
 *
 * Options: --runs (RUNS, default 15).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startServer, stopServer } from '../test/helpers/server-process.ts'
import { log } from './lib/log.ts'
import { readOptions } from './lib/options.ts'
import { formatReport, latency, machineInfo, newReport, percentile, writeReport } from './lib/results.ts'

const options = readOptions({ runs: { env: 'RUNS', fallback: '15' } })
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = join(ROOT, 'bin', 'ledgerline.js')

/** Wall milliseconds from spawn to exit; a failed run stops the bench. */
function timed (args: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(process.execPath, args,
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.on('close', (code) => code === 0
      ? resolve(performance.now() - started)
      : reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`)))
  })
}

async function series (runs: number, args: string[], env: Record<string, string>): Promise<number[]> {
  await timed(args, env) // warm-up: disk caches, the TypeScript loader's cache
  const samples: number[] = []
  for (let i = 0; i < runs; i++) samples.push(await timed(args, env))
  return samples
}

const median = (samples: readonly number[]): number => percentile(samples, 50)

const runs = options.num('runs')
const dir = mkdtempSync(join(tmpdir(), 'ledgerline-bench-cli-'))
try {
  const env = { LEDGERLINE_DATA_DIR: dir }
  const call = [BIN, 'events', 'stats', '--json']
  const raw = await series(runs, ['-e', '0'], {})
  log(`node -e 0: median ${median(raw).toFixed(0)} ms`)
  const server = await startServer(env)
  let beside: number[]
  try {
    beside = await series(runs, call, env)
  } finally {
    await stopServer(server)
  }
  log(`beside a running server: median ${median(beside).toFixed(0)} ms, p95 ${percentile(beside, 95).toFixed(0)} ms`)
  const alone = await series(runs, call, env)
  log(`alone on the data directory: median ${median(alone).toFixed(0)} ms, p95 ${percentile(alone, 95).toFixed(0)} ms`)
  const peer = { name: 'node -e 0 (a process that does nothing)', value: median(raw) }
  const report = newReport('cli', 'npm run bench:cli', machineInfo('PGlite (embedded)', { runs }), [
    latency({
      name: 'cli-beside-server', metric: 'ms (median, spawn to exit)', value: median(beside), peer, targets: { value: '<= 1500' }
    }),
    latency({
      name: 'cli-beside-server-p95', metric: 'ms (p95, spawn to exit)', value: percentile(beside, 95), peer,
      targets: { value: '<= 1500' }
    }),
    latency({ name: 'cli-alone', metric: 'ms (median, spawn to exit)', value: median(alone), peer, targets: { value: '<= 1500' } })
  ])
  log(`wrote ${writeReport(report)}`)
  log(formatReport(report))
} finally {
  rmSync(dir, { recursive: true, force: true })
}
