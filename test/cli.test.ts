/**
 * The CLI and the server as a user runs them, on real data directories
 * (PGlite) or a database of their own on the PostgreSQL server. The commands
 * run in the test's process (test/helpers/ledgerline.ts); what only a
 * process shows runs in one: a new data directory made and left, its lock
 * refusing a second process, exit statuses, stdout apart from stderr, a
 * bad setting, and a live tail stopped by SIGINT.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { z } from 'zod'
import { metadataFor, systemCommand } from '../src/domain/envelope.ts'
import { EventRegistry, defineEvent } from '../src/domain/registry.ts'
import { createPostgresEventStore } from '../src/eventstore/postgres.ts'
import { openSqlClient, type SqlClient } from '../src/sql/client.ts'
import { pino } from 'pino'
import { loadConfig } from '../src/config.ts'
import { buildApp } from '../src/http/app.ts'
import { openRuntime, type Runtime } from '../src/runtime.ts'
import { drivers, openTestDatabase } from './helpers/databases.ts'
import { settled } from './helpers/assertions.ts'
import { cli as spawned } from './helpers/cli.ts'
import { ledgerline, type CliRun } from './helpers/ledgerline.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = join(ROOT, 'bin', 'ledgerline.js')

const registry = new EventRegistry([defineEvent({ type: 'test.note.written', schema: z.object({ text: z.string() }) })])

function notes (count: number) {
  const command = systemCommand('cli-test')
  return Array.from({ length: count }, (_, index) => {
    const metadata = metadataFor(command, index)
    return { id: metadata.eventId, type: 'test.note.written', data: { text: `note ${index}` }, metadata }
  })
}

const logger = pino({ level: 'silent' })

async function seedNotes (sql: SqlClient): Promise<void> {
  const store = createPostgresEventStore(sql, registry)
  await store.append('org-1', notes(3))
  await store.append('user-7', notes(2))
  await store.close()
}

/** `ledgerline migrate --json` where `env` points, already migrated: nothing to apply. */
async function migrated (t: Test, env: Record<string, string>): Promise<void> {
  const run = await ledgerline(undefined, ['migrate', '--json'], { env })
  t.equal(run.code, 0, run.stderr)
  t.same(JSON.parse(run.stdout), { applied: [] }, 'already migrated: nothing to apply')
}

/** A runtime as a CLI command opens one (projections stopped), over `sql`; closed with the test. */
async function cliRuntime (t: Test, sql: SqlClient): Promise<Runtime> {
  const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), logger, { sql })
  t.teardown(() => runtime.close())
  return runtime
}

for (const driver of drivers()) {
  t.test(`the CLI on ${driver}`, async (t) => {
    const db = await openTestDatabase(driver)
    t.teardown(db.dispose)
    await seedNotes(db.sql)
    // On PGlite, migrate opens a data directory itself: the test of a process's new directory below runs it there.
    if (driver === 'postgres') await migrated(t, { DATABASE_URL: db.url! })
    const runtime = await cliRuntime(t, db.sql)
    const cli = (args: string[]): Promise<CliRun> => ledgerline(runtime, args)

    const replay = await cli(['replay', 'projection', 'stream_catalogue', '--json'])
    t.equal(replay.code, 0, replay.stderr)
    t.match(JSON.parse(replay.stdout), { projection: 'stream_catalogue', generation: 1, eventsApplied: 5 })
    t.match(replay.stderr, /replay 100% 5 events/, 'progress is reported on stderr')

    const again = await cli(['replay', 'projection', 'stream_catalogue', '--json'])
    t.match(JSON.parse(again.stdout), { generation: 2, eventsApplied: 5 }, 'a second replay builds the next generation')

    const tail = await cli(['events', 'tail', '--from', 'start', '--no-follow'])
    t.equal(tail.code, 0, tail.stderr)
    const lines = tail.stdout.trim().split('\n')
      .map((line) => JSON.parse(line) as { streamId: string, streamVersion: string, position: string, type: string, data: unknown })
    t.same(lines.map((l) => [l.streamId, l.streamVersion]),
      [['org-1', '1'], ['org-1', '2'], ['org-1', '3'], ['user-7', '1'], ['user-7', '2']], 'NDJSON, one event a line, in log order')
    t.match(lines[0], { type: 'test.note.written', data: { text: 'note 0' }, position: /^\d+\.\d+$/ })

    const fromThird = await cli(['events', 'tail', '--from', lines[2]!.position, '--no-follow', '--stream-prefix', 'user-'])
    t.same(fromThird.stdout.trim().split('\n').map((line) => JSON.parse(line).streamId), ['user-7', 'user-7'],
      '--from is exclusive; filters apply')

    const stats = await cli(['events', 'stats', '--json'])
    t.equal(stats.code, 0, stats.stderr)
    const parsed = JSON.parse(stats.stdout)
    t.same(parsed.categories.map((c: { category: string, streams: number, events: number }) => [c.category, c.streams, c.events]),
      [['org', 1, 3], ['user', 1, 2]])
    t.same(parsed.types, [{ type: 'test.note.written', events: 5 }])

    const unknown = await cli(['replay', 'projection', 'nope'])
    t.equal(unknown.code, 2)
    t.match(unknown.stderr, /unknown projection nope; known: stream_catalogue/)

    const badFrom = await cli(['events', 'tail', '--from', 'yesterday'])
    t.equal(badFrom.code, 2)
    t.match(badFrom.stderr, /--from must be start, end or major\.minor/)

    if (driver === 'pglite') return
    // A process of its own on the server (cheap there): the JSON alone on stdout, the progress on stderr, exit status 0.
    const own = await spawned(['replay', 'projection', 'stream_catalogue', '--json'], { DATABASE_URL: db.url! })
    t.equal(own.code, 0, own.stderr)
    t.match(JSON.parse(own.stdout), { projection: 'stream_catalogue', generation: 3, eventsApplied: 5 })
    t.match(own.stderr, /replay 100% 5 events/, 'the process reports progress on its stderr')
  })
}

for (const driver of drivers()) {
  t.test(`ledgerline bootstrap on ${driver} makes a first owner whose token works`, async (t) => {
    const db = await openTestDatabase(driver)
    t.teardown(db.dispose)
    const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), logger, { sql: db.sql, runProjections: true })
    t.teardown(() => runtime.close())
    const cli = (args: string[]): Promise<CliRun> => ledgerline(runtime, args)
    const json = await cli(['bootstrap', '--email', 'root@acme.example', '--org', 'Acme', '--json'])
    t.equal(json.code, 0, json.stderr)
    const created = JSON.parse(json.stdout) as { token: string, orgId: string, userId: string }
    t.same(Object.keys(created).sort(), ['orgId', 'token', 'userId'], 'one JSON object with token, orgId and userId')
    t.match(created, { token: /^ll_[a-z2-7]{16}_/, orgId: /^org_/, userId: /^usr_/ })

    const human = await cli(['bootstrap', '--email', 'second@acme.example', '--org', 'Acme Two', '--no-platform-admin'])
    t.equal(human.code, 0, human.stderr)
    t.match(human.stdout, /API token, shown this once:\n {2}ll_[a-z2-7]{16}_/)

    const twice = await cli(['bootstrap', '--email', 'ROOT@acme.example', '--org', 'Acme'])
    t.equal(twice.code, 1)
    t.match(twice.stderr, /already registered/)
    const bad = await cli(['bootstrap', '--email', 'not-an-address', '--org', 'Acme'])
    t.equal(bad.code, 1)
    t.match(bad.stderr, /invalid input: email: must be an e-mail address/)
    const blankOrg = await cli(['bootstrap', '--email', 'third@acme.example', '--org', ' '])
    t.match(blankOrg.stderr, /invalid input: orgName: must not be empty/)
    const third = await cli(['bootstrap', '--email', 'third@acme.example', '--org', 'Acme Three', '--json'])
    t.equal(third.code, 0, 'a refused bootstrap wrote nothing: the address is still free')

    await session(t, runtime, created)
  })
}

/** The token `created` was given answers GET /v1/session as the platform admin owning Acme. */
async function session (t: Test, runtime: Runtime, created: { token: string, orgId: string, userId: string }): Promise<void> {
  const app = await buildApp(runtime)
  t.teardown(() => app.close())
  await settled(runtime)
  const session = await app.inject({ url: '/v1/session', headers: { authorization: `Bearer ${created.token}` } })
  t.equal(session.statusCode, 200, session.body)
  t.match(session.json(), {
    user: { userId: created.userId, email: 'root@acme.example', platformAdmin: true },
    memberships: [{ orgId: created.orgId, name: 'Acme', roles: ['owner'] }]
  })
}

t.test('ledgerline bootstrap as a process of its own makes a new data directory and exits; ' +
  'a second process is then refused the directory, with the owner named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ledgerline-bootstrap-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const json = await spawned(['bootstrap', '--email', 'root@acme.example', '--org', 'Acme', '--json'], { LEDGERLINE_DATA_DIR: dir })
  t.equal(json.code, 0, json.stderr)
  t.equal(json.stderr, '', 'nothing on stderr')
  const created = JSON.parse(json.stdout) as { token: string, orgId: string, userId: string }

  // The process left the directory: this one opens it, and holds it while the next process tries.
  await migrated(t, { LEDGERLINE_DATA_DIR: dir })
  const sql = await openSqlClient({ dataDir: dir })
  t.teardown(() => sql.close())
  const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), logger, { sql, runProjections: true })
  t.teardown(() => runtime.close())
  await session(t, runtime, created)

  const run = await spawned(['migrate'], { LEDGERLINE_DATA_DIR: dir })
  t.equal(run.code, 1)
  t.match(run.stderr, new RegExp(`in use by process ${process.pid}`))
})

t.test('a bad setting stops the CLI process with the variable named and exit status 1; a bad argument, with 2', async (t) => {
  const run = await spawned(['migrate'], { PORT: 'eighty', LEDGERLINE_DATA_DIR: 'memory://' })
  t.equal(run.code, 1)
  t.match(run.stderr, /invalid configuration:\n\s+PORT: /)
  const usage = await spawned(['replay', 'projection', 'nope'], { LEDGERLINE_DATA_DIR: 'memory://' })
  t.equal(usage.code, 2)
  t.equal(usage.stdout, '')
  t.match(usage.stderr, /unknown projection nope; known: stream_catalogue/)
})

t.test('events tail follows new events live', {
  skip: drivers().includes('postgres')
    ? false
    : 'needs DATABASE_URL: on the embedded store the tailing process owns the data directory, so nothing else could append'
}, async (t) => {
  const db = await openTestDatabase('postgres')
  t.teardown(db.dispose)
  const store = createPostgresEventStore(db.sql, registry)
  t.teardown(() => store.close())
  const child = spawn(process.execPath, [BIN, 'events', 'tail', '--from', 'end'],
    { cwd: ROOT, env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.url! } })
  t.teardown(() => { child.kill('SIGKILL') })
  let stdout = ''
  const lines = new Promise<string[]>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const complete = stdout.split('\n').filter((line) => line !== '')
      if (complete.length >= 2) resolve(complete)
    })
  })
  // Appended while the tail runs; repeated until it has seen them, since it may still be starting.
  const appender = setInterval(() => { void store.append(`org-${randomSuffix()}`, notes(1)) }, 300)
  t.teardown(() => clearInterval(appender))
  const seen = await lines
  clearInterval(appender)
  t.equal(seen.length >= 2, true, 'two live events printed')
  t.match(JSON.parse(seen[0]!), { type: 'test.note.written', streamId: /^org-/ })
  child.kill('SIGINT')
  const code = await new Promise((resolve) => child.on('close', resolve))
  t.equal(code, 0, 'SIGINT stops it cleanly')
})

function randomSuffix (): string {
  return Math.random().toString(36).slice(2, 10)
}
