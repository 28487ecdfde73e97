/**
 * The CLI beside a running server on the embedded store: each call runs in
 * the server over the data directory's socket, with the caller's output,
 * working directory and exit status; a dead server's socket is passed by.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { controlSocketPath } from '../src/cli/control.ts'
import { startServer, stopServer } from './helpers/server-process.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = join(ROOT, 'bin', 'ledgerline.js')

interface Run { code: number | null, stdout: string, stderr: string }

function cli (args: string[], env: Record<string, string>, cwd = ROOT): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`ledgerline ${args.join(' ')} timed out; stderr: ${stderr}`))
    }, 60_000)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

/** Sends raw bytes to the socket and collects the answer's frames. */
function raw (path: string, text: string): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const socket = connect(path, () => socket.write(text))
    let answer = ''
    socket.on('data', (chunk) => { answer += chunk.toString() })
    socket.on('error', reject)
    socket.on('close', () =>
      resolve(answer.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>)))
  })
}

t.test('the launcher looks for the socket in the data directory config.ts defaults to', async (t) => {
  const launcher = readFileSync(BIN, 'utf8')
  t.match(launcher, `const DEFAULT_DATA_DIR = '${loadConfig({}).dataDir}'`)
  t.equal(controlSocketPath('./x'), join(ROOT, 'x', 'run', 'cli.sock'))
})

t.test('beside a running server on the embedded store, CLI calls run in the server', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llc-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = { LEDGERLINE_DATA_DIR: dir }
  const server = await startServer(env)
  t.teardown(() => { if (server.child.exitCode === null) server.child.kill('SIGKILL') })
  const socket = controlSocketPath(dir)

  t.test('the socket is its owner\'s only', async (t) => {
    t.equal(statSync(dirname(socket)).mode & 0o777, 0o700)
    t.equal(statSync(socket).mode & 0o777, 0o600)
  })

  t.test('a read, a write seen over HTTP, and a failure keep their output and exit status', async (t) => {
    const stats = await cli(['events', 'stats', '--json'], env)
    t.equal(stats.code, 0, stats.stderr)
    const parsed = JSON.parse(stats.stdout) as { head: string, types: Array<{ type: string, events: number }> }
    t.ok(parsed.types.some((row) => row.type === 'org.organization.created'),
      'the server\'s first-run organization is in the log the CLI read')

    const token = /ll_[A-Za-z0-9_-]+/.exec(server.output())![0]
    const session = await (await fetch(`${server.address}/v1/session`, { headers: { authorization: `Bearer ${token}` } }))
      .json() as { memberships: Array<{ orgId: string }> }
    const orgId = session.memberships[0]!.orgId
    const off = await cli(['impersonation', 'support-access', orgId, 'off'], env)
    t.equal(off.code, 0, off.stderr)
    const access = await (await fetch(`${server.address}/v1/orgs/${orgId}/support-access`,
      { headers: { authorization: `Bearer ${token}` } })).json() as { enabled: boolean }
    t.equal(access.enabled, false, 'the server reads what the CLI wrote')

    const missing = await cli(['audit', 'retention', '--org', 'no-such-org'], env)
    t.equal(missing.code, 1)
    t.match(missing.stderr, /^ledgerline: /)
    t.equal(missing.stdout, '')

    const yearZero = await cli(['audit', 'export', '--org', orgId, '--from', '0000-01-01'], env)
    t.equal(yearZero.code, 1, 'a time PostgreSQL cannot keep is refused before any SQL')
    t.match(yearZero.stderr, /--from/)
    const plainDate = await cli(['audit', 'export', '--org', orgId, '--format', 'ndjson', '--from', '2000-01-01', '--to', '9999-12-31'],
      env)
    t.equal(plainDate.code, 0, plainDate.stderr)
    t.ok(plainDate.stdout.split('\n').filter((line) => line !== '').length > 0, 'plain dates select rows')

    const unknown = await cli(['no-such-command'], env)
    t.not(unknown.code, 0)
    t.match(unknown.stderr, /unknown command/)
  })

  t.test('an export lands where the caller stands, whole', async (t) => {
    const token = /ll_[A-Za-z0-9_-]+/.exec(server.output())![0]
    const session = await (await fetch(`${server.address}/v1/session`, { headers: { authorization: `Bearer ${token}` } }))
      .json() as { memberships: Array<{ orgId: string }> }
    const orgId = session.memberships[0]!.orgId
    const elsewhere = mkdtempSync(join(tmpdir(), 'llc-out-'))
    t.teardown(() => rmSync(elsewhere, { recursive: true, force: true }))
    const exported = await cli(['audit', 'export', '--org', orgId, '--format', 'ndjson', '--out', 'rows.ndjson'], env, elsewhere)
    t.equal(exported.code, 0, exported.stderr)
    const rows = readFileSync(join(elsewhere, 'rows.ndjson'), 'utf8').split('\n').filter((line) => line !== '')
    t.ok(rows.length >= 2, `${rows.length} rows`)
    for (const row of rows) t.doesNotThrow(() => JSON.parse(row))
    const toStdout = await cli(['audit', 'export', '--org', orgId, '--format', 'ndjson'], env)
    t.equal(toStdout.code, 0, toStdout.stderr)
    t.equal(toStdout.stdout.split('\n').filter((line) => line !== '').length, rows.length + 1,
      'the same rows on standard output, and the first export\'s own record')
  })

  t.test('concurrent calls keep their own output', async (t) => {
    const runs = await Promise.all(Array.from({ length: 6 }, (_, i) => i % 2 === 0
      ? cli(['events', 'stats', '--json'], env)
      : cli(['impersonation', 'list', '--json', '--status', 'all'], env)))
    runs.forEach((run, i) => {
      t.equal(run.code, 0, run.stderr)
      const parsed = JSON.parse(run.stdout) as unknown
      if (i % 2 === 0) t.ok(typeof (parsed as { head: unknown }).head === 'string')
      else t.ok(Array.isArray((parsed as { items: unknown }).items))
    })
  })

  t.test('garbage on the socket is refused and the server goes on', async (t) => {
    const frames = await raw(socket, 'not json\n')
    t.same(frames.at(-1), { exit: 2 })
    const wrongShape = await raw(socket, `${JSON.stringify({ argv: 'x', cwd: '/' })}\n`)
    t.same(wrongShape.at(-1), { exit: 2 })
    const health = await fetch(`${server.address}/healthz`)
    t.equal(health.status, 200)
  })

  t.test('a server stopped by SIGTERM takes its socket away', async (t) => {
    t.equal(await stopServer(server), 0)
    t.notOk(existsSync(socket))
  })
})

t.test('a socket left by a killed server is passed by: the CLI opens the data directory itself', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llc-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = { LEDGERLINE_DATA_DIR: dir }
  const server = await startServer(env)
  server.child.kill('SIGKILL')
  await server.exited
  t.ok(existsSync(controlSocketPath(dir)), 'the dead server left its socket')
  const stats = await cli(['events', 'stats', '--json'], env)
  t.equal(stats.code, 0, stats.stderr)
  t.ok((JSON.parse(stats.stdout) as { types: unknown[] }).types.length > 0)
})
