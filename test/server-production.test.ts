/**
 * `npm start` in production, as a user runs it: the first start creates
 * nothing and prints the bootstrap command, and /metrics is never served
 * open. (Split from server.test.ts so the files run in parallel.)
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { spawnServer as spawnServerProcess, startServer, type ServerProcess, printed, serverEnvironment } from './helpers/server-process.ts'
import { openSqlClient } from '../src/sql/client.ts'

type Server = ServerProcess

function spawnServer (dataDir: string, nodeEnv: string, env: Record<string, string> = {}): ChildProcess {
  return spawnServerProcess(serverEnvironment(dataDir, nodeEnv, env))
}

function start (dataDir: string, nodeEnv = 'development', env: Record<string, string> = {}): Promise<Server> {
  return startServer(serverEnvironment(dataDir, nodeEnv, env))
}

t.test('the first start in production creates nothing and prints the bootstrap command', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ledgerline-first-run-prod-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const server = await start(dir, 'production')
  t.ok(await printed(server, /ledgerline bootstrap --email <owner e-mail> --org "<organization name>"/), 'the bootstrap command is printed')
  t.notMatch(server.output(), /ll_[a-z2-7]{16}_/, 'no token')
  const session = await fetch(`${server.address}/v1/session`)
  t.equal(session.status, 401)
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0)
  const after = await openSqlClient({ dataDir: dir })
  t.teardown(() => after.close())
  const { rows } = await after.query<{ n: string }>('SELECT count(*)::text AS n FROM events')
  t.same(rows, [{ n: '0' }], 'no event was written')
})

t.test('production refuses to start with /metrics open, and serves it on a listener of its own with METRICS_PORT', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ledgerline-metrics-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const refused = spawnServer(dir, 'production', { METRICS_TOKEN: '' })
  let output = ''
  refused.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString() })
  refused.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => refused.on('exit', resolve))
  t.equal(code, 1, output)
  t.match(output, /refusing to start in production: \/metrics is open on the API port: set METRICS_TOKEN .* or METRICS_PORT/)
  t.notMatch(output, /Ledgerline listening/)

  const server = await start(dir, 'production', { METRICS_TOKEN: '', METRICS_PORT: '0' })
  t.teardown(() => { server.child.kill('SIGKILL') })
  t.ok(await printed(server, /metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/))
  const metricsAddress = /metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(server.output())![1]!
  t.equal((await fetch(`${server.address}/metrics`)).status, 404, 'not on the API port')
  const scraped = await fetch(`${metricsAddress}/metrics`)
  t.equal(scraped.status, 200)
  t.match(await scraped.text(), /ledgerline_ready [01]/)
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0, 'both listeners close on SIGTERM')
})
