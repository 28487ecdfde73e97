/**
 * `npm start` as a user runs it: a real process on the embedded store, real
 * HTTP, SIGTERM, and a restart on the same data directory.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startServer, type ServerProcess, printed, serverEnvironment } from './helpers/server-process.ts'
import { z } from 'zod'
import { metadataFor, systemCommand } from '../src/domain/envelope.ts'
import { EventRegistry, defineEvent } from '../src/domain/registry.ts'
import { createPostgresEventStore } from '../src/eventstore/postgres.ts'
import { openSqlClient } from '../src/sql/client.ts'
import { migrate } from '../src/sql/migrate.ts'

type Server = ServerProcess

function start (dataDir: string, nodeEnv = 'development', env: Record<string, string> = {}): Promise<Server> {
  return startServer(serverEnvironment(dataDir, nodeEnv, env))
}

t.test('npm start serves health on the embedded store, stops on SIGTERM and keeps its data across restarts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ledgerline-server-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const registry = new EventRegistry([defineEvent({ type: 'test.note.written', schema: z.object({ text: z.string() }) })])
  const seed = await openSqlClient({ dataDir: dir })
  await migrate(seed)
  const command = systemCommand('server-test')
  const metadata = metadataFor(command, 0)
  await createPostgresEventStore(seed, registry)
    .append('org-1', [{ id: metadata.eventId, type: 'test.note.written', data: { text: 'hello' }, metadata }])
  await seed.close()

  const first = await start(dir)
  t.equal((await fetch(`${first.address}/healthz`)).status, 200)
  let ready = await fetch(`${first.address}/readyz`)
  for (let i = 0; i < 50 && ready.status !== 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    ready = await fetch(`${first.address}/readyz`)
  }
  t.equal(ready.status, 200, 'ready once the projections caught up')
  first.child.kill('SIGTERM')
  t.equal(await first.exited, 0, 'SIGTERM drains and exits cleanly')
  t.match(first.output(), /shutting down: draining requests/)

  const second = await start(dir)
  t.equal((await fetch(`${second.address}/healthz`)).status, 200, 'starts again on the same directory')
  second.child.kill('SIGTERM')
  t.equal(await second.exited, 0)

  const after = await openSqlClient({ dataDir: dir })
  t.teardown(() => after.close())
  const { rows } = await after.query<{ generation: number, events_applied: string }>(
    "SELECT generation, events_applied::text FROM projections WHERE name = 'stream_catalogue'")
  t.same(rows, [{ generation: 1, events_applied: '1' }], 'the read model was kept, not rebuilt, across the restart')
  const catalogue = await after.query<{ stream_id: string }>('SELECT stream_id FROM stream_catalogue')
  t.same(catalogue.rows, [{ stream_id: 'org-1' }])
})

t.test('the first start in development prints a demo token that works, once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ledgerline-first-run-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const first = await start(dir)
  const token = (await printed(first, /^ {2}(ll_[a-z2-7]{16}_[A-Za-z0-9_-]{43})$/m))?.[1]
  t.ok(token, 'a token is printed')
  t.match(first.output(), /API docs: http:\/\/localhost:\d+\/docs/)
  const session = await fetch(`${first.address}/v1/session`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(session.status, 200)
  const body = await session.json() as { user: { email: string }, memberships: Array<{ name: string, roles: string[] }> }
  t.equal(body.user.email, 'owner@demo.example')
  t.same(body.memberships.map((m) => [m.name, m.roles]), [['Demo Agency', ['owner']]])
  const docs = await fetch(`${first.address}/docs/`)
  t.equal(docs.status, 200, '/docs serves Swagger UI')
  first.child.kill('SIGTERM')
  t.equal(await first.exited, 0)

  const second = await start(dir)
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.notMatch(second.output(), /ll_[a-z2-7]{16}_/, 'a second start prints no token')
  const again = await fetch(`${second.address}/v1/session`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(again.status, 200, 'the printed token still works after a restart')
  second.child.kill('SIGTERM')
  t.equal(await second.exited, 0)
})
