/**
 * The CLI and the server as a user runs them: real processes, real data
 * directories (PGlite) or a database of their own on the PostgreSQL server.
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
import { openSqlClient } from '../src/sql/client.ts'
import { migrate } from '../src/sql/migrate.ts'
import { pino } from 'pino'
import { loadConfig } from '../src/config.ts'
import { buildApp } from '../src/http/app.ts'
import { openRuntime } from '../src/runtime.ts'
import { drivers, openTestDatabase } from './helpers/databases.ts'
import { settled } from './helpers/assertions.ts'
import { cli } from './helpers/cli.ts'

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

/** A place for the CLI's data, seeded with events: a PGlite directory, or a server database. */
async function seeded (driver: 'pglite' | 'postgres', t: Test): Promise<Record<string, string>> {
  if (driver === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), 'ledgerline-cli-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const sql = await openSqlClient({ dataDir: dir })
    await migrate(sql)
    const store = createPostgresEventStore(sql, registry)
    await store.append('org-1', notes(3))
    await store.append('user-7', notes(2))
    await store.close()
    await sql.close()
    return { LEDGERLINE_DATA_DIR: dir }
  }
  const db = await openTestDatabase('postgres')
  t.teardown(db.dispose)
  const store = createPostgresEventStore(db.sql, registry)
  await store.append('org-1', notes(3))
  await store.append('user-7', notes(2))
  await store.close()
  return { DATABASE_URL: db.url! }
}

for (const driver of drivers()) {
  t.test(`the CLI on ${driver}`, async (t) => {
    const env = await seeded(driver, t)

    const migrated = await cli(['migrate', '--json'], env)
    t.equal(migrated.code, 0, migrated.stderr)
    t.same(JSON.parse(migrated.stdout), { applied: [] }, 'already migrated: nothing to apply')

    const replay = await cli(['replay', 'projection', 'stream_catalogue', '--json'], env)
    t.equal(replay.code, 0, replay.stderr)
    t.match(JSON.parse(replay.stdout), { projection: 'stream_catalogue', generation: 1, eventsApplied: 5 })
    t.match(replay.stderr, /replay 100% 5 events/, 'progress is reported on stderr')

    const again = await cli(['replay', 'projection', 'stream_catalogue', '--json'], env)
    t.match(JSON.parse(again.stdout), { generation: 2, eventsApplied: 5 }, 'a second replay builds the next generation')

    const tail = await cli(['events', 'tail', '--from', 'start', '--no-follow'], env)
    t.equal(tail.code, 0, tail.stderr)
    const lines = tail.stdout.trim().split('\n')
      .map((line) => JSON.parse(line) as { streamId: string, streamVersion: string, position: string, type: string, data: unknown })
    t.same(lines.map((l) => [l.streamId, l.streamVersion]),
      [['org-1', '1'], ['org-1', '2'], ['org-1', '3'], ['user-7', '1'], ['user-7', '2']], 'NDJSON, one event a line, in log order')
    t.match(lines[0], { type: 'test.note.written', data: { text: 'note 0' }, position: /^\d+\.\d+$/ })

    const fromThird = await cli(['events', 'tail', '--from', lines[2]!.position, '--no-follow', '--stream-prefix', 'user-'], env)
    t.same(fromThird.stdout.trim().split('\n').map((line) => JSON.parse(line).streamId), ['user-7', 'user-7'],
      '--from is exclusive; filters apply')

    const stats = await cli(['events', 'stats', '--json'], env)
    t.equal(stats.code, 0, stats.stderr)
    const parsed = JSON.parse(stats.stdout)
    t.same(parsed.categories.map((c: { category: string, streams: number, events: number }) => [c.category, c.streams, c.events]),
      [['org', 1, 3], ['user', 1, 2]])
    t.same(parsed.types, [{ type: 'test.note.written', events: 5 }])

    const unknown = await cli(['replay', 'projection', 'nope'], env)
    t.equal(unknown.code, 2)
    t.match(unknown.stderr, /unknown projection nope; known: stream_catalogue/)

    const badFrom = await cli(['events', 'tail', '--from', 'yesterday'], env)
    t.equal(badFrom.code, 2)
    t.match(badFrom.stderr, /--from must be start, end or major\.minor/)
  })
}

for (const driver of drivers()) {
  t.test(`ledgerline bootstrap on ${driver} makes a first owner whose token works`, async (t) => {
    let env: Record<string, string>
    if (driver === 'pglite') {
      const dir = mkdtempSync(join(tmpdir(), 'ledgerline-bootstrap-'))
      t.teardown(() => rmSync(dir, { recursive: true, force: true }))
      env = { LEDGERLINE_DATA_DIR: dir }
    } else {
      const db = await openTestDatabase('postgres')
      t.teardown(db.dispose)
      env = { DATABASE_URL: db.url! }
    }
    const json = await cli(['bootstrap', '--email', 'root@acme.example', '--org', 'Acme', '--json'], env)
    t.equal(json.code, 0, json.stderr)
    const created = JSON.parse(json.stdout) as { token: string, orgId: string, userId: string }
    t.same(Object.keys(created).sort(), ['orgId', 'token', 'userId'], 'one JSON object with token, orgId and userId')
    t.match(created, { token: /^ll_[a-z2-7]{16}_/, orgId: /^org_/, userId: /^usr_/ })

    const human = await cli(['bootstrap', '--email', 'second@acme.example', '--org', 'Acme Two', '--no-platform-admin'], env)
    t.equal(human.code, 0, human.stderr)
    t.match(human.stdout, /API token, shown this once:\n {2}ll_[a-z2-7]{16}_/)

    const twice = await cli(['bootstrap', '--email', 'ROOT@acme.example', '--org', 'Acme'], env)
    t.equal(twice.code, 1)
    t.match(twice.stderr, /already registered/)
    const bad = await cli(['bootstrap', '--email', 'not-an-address', '--org', 'Acme'], env)
    t.equal(bad.code, 1)
    t.match(bad.stderr, /invalid input: email: must be an e-mail address/)
    const blankOrg = await cli(['bootstrap', '--email', 'third@acme.example', '--org', ' '], env)
    t.match(blankOrg.stderr, /invalid input: orgName: must not be empty/)
    const third = await cli(['bootstrap', '--email', 'third@acme.example', '--org', 'Acme Three', '--json'], env)
    t.equal(third.code, 0, 'a refused bootstrap wrote nothing: the address is still free')

    const sql = driver === 'pglite'
      ? await openSqlClient({ dataDir: env.LEDGERLINE_DATA_DIR! })
      : await openSqlClient({ databaseUrl: env.DATABASE_URL! })
    t.teardown(() => sql.close())
    const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), pino({ level: 'silent' }), { sql, runProjections: true })
    t.teardown(() => runtime.close())
    const app = await buildApp(runtime)
    t.teardown(() => app.close())
    await settled(runtime)
    const session = await app.inject({ url: '/v1/session', headers: { authorization: `Bearer ${created.token}` } })
    t.equal(session.statusCode, 200, session.body)
    t.match(session.json(), {
      user: { userId: created.userId, email: 'root@acme.example', platformAdmin: true },
      memberships: [{ orgId: created.orgId, name: 'Acme', roles: ['owner'] }]
    })
  })
}

t.test('a second process is refused the embedded data directory, with the owner named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ledgerline-lock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const sql = await openSqlClient({ dataDir: dir })
  t.teardown(() => sql.close())
  const run = await cli(['migrate'], { LEDGERLINE_DATA_DIR: dir })
  t.equal(run.code, 1)
  t.match(run.stderr, new RegExp(`in use by process ${process.pid}`))
})

t.test('a bad setting stops the CLI with the variable named', async (t) => {
  const run = await cli(['migrate'], { PORT: 'eighty', LEDGERLINE_DATA_DIR: 'memory://' })
  t.equal(run.code, 1)
  t.match(run.stderr, /invalid configuration:\n\s+PORT: /)
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
