import { pino } from 'pino'
import t, { type Test } from 'tap'
import { z } from 'zod'
import { metadataFor, systemCommand } from '../domain/envelope.ts'
import { EventRegistry, defineEvent } from '../domain/registry.ts'
import { createPostgresEventStore } from '../eventstore/postgres.ts'
import type { EventStore, LogPosition, NewEvent } from '../eventstore/types.ts'
import type { SqlClient } from '../sql/client.ts'
import { forEachDatabase } from '../../test/helpers/databases.ts'
import type { Projection } from './projection.ts'
import { rebuildProjection } from './rebuild.ts'
import { ProjectionRunner } from './runner.ts'
import { streamCatalogue } from './stream_catalogue/projection.ts'
import { categoryStats } from './stream_catalogue/queries.ts'
import { lastWritten, untilVisible } from '../../test/helpers/assertions.ts'

const registry = new EventRegistry([
  defineEvent({ type: 'test.note.written', schema: z.object({ text: z.string() }) })
])
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })

function notes (count: number): NewEvent[] {
  const command = systemCommand('test')
  return Array.from({ length: count }, (_, index) => {
    const metadata = metadataFor(command, index)
    return { id: metadata.eventId, type: 'test.note.written', data: { text: `note ${index}` }, metadata }
  })
}

async function catalogue (sql: SqlClient): Promise<unknown[]> {
  const { rows } = await sql.query(
    'SELECT stream_id, category, version::int, first_event_at, last_event_at, last_event_type FROM stream_catalogue ORDER BY stream_id')
  return rows
}

/**
 * Appends, then waits until readers see it all: on a shared PostgreSQL server
 * an open transaction in another test's database holds back what readers see.
 */
async function seed (store: EventStore, streams: number, perStream: number): Promise<void> {
  let last: LogPosition = { major: 0n, minor: 0n }
  for (let i = 0; i < streams; i++) last = (await store.append(`${i % 2 === 0 ? 'org' : 'user'}-${i}`, notes(perStream))).position
  await untilVisible(store, last)
}

t.test('the stream catalogue follows the log and survives a restart from its checkpoint', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const store = createPostgresEventStore(sql, registry)
    t.teardown(() => store.close())
    await seed(store, 4, 3)
    const runner = new ProjectionRunner({ sql, store, projections: [streamCatalogue], logger })
    runner.start()
    await runner.waitFor(await store.headPosition(), 10_000)
    t.same((await categoryStats(sql)).map((s) => [s.category, s.streams, s.events]), [['org', 2, 6], ['user', 2, 6]])
    await runner.stop()

    const last = await store.append('org-0', notes(2))
    const team = await store.append('team-9', notes(1))
    const again = new ProjectionRunner({ sql, store, projections: [streamCatalogue], logger })
    again.start()
    t.teardown(() => again.stop())
    await again.waitFor(last.position, 10_000)
    await again.waitFor(team.position, 10_000)
    const rows = await catalogue(sql) as Array<{ stream_id: string, version: number }>
    t.same(rows.map((r) => [r.stream_id, r.version]), [['org-0', 5], ['org-2', 3], ['team-9', 1], ['user-1', 3], ['user-3', 3]])
    t.equal(again.status()[0]!.eventsApplied, 15, 'every event applied once across both runs')
    const { rows: state } = await sql.query<{ events_applied: string }>(
      'SELECT events_applied::text FROM projections WHERE name = $1', ['stream_catalogue'])
    t.equal(state[0]!.events_applied, '15', 'the checkpoint row agrees')
  })
})

t.test('a rebuild is blue/green: readers see the whole old model until the swap, then identical rows', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const store = createPostgresEventStore(sql, registry)
    t.teardown(() => store.close())
    await seed(store, 30, 4)
    const runner = new ProjectionRunner({ sql, store, projections: [streamCatalogue], logger })
    runner.start()
    await runner.waitFor(await store.headPosition(), 10_000)
    await runner.stop()
    const before = await catalogue(sql)
    t.equal(before.length, 30)

    const seenDuring: number[] = []
    const result = await rebuildProjection({
      sql,
      store,
      projection: streamCatalogue,
      batchSize: 10,
      onProgress: () => { seenDuring.push(-1) }
    })
    t.ok(seenDuring.length >= 12, `the rebuild went in many batches (${seenDuring.length})`)
    t.equal(result.generation, 2)
    t.equal(result.eventsApplied, 120)
    t.same(await catalogue(sql), before, 'a rebuild gives identical rows')
    const { rows: schemas } = await sql.query<{ nspname: string }>(
      "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'ledgerline_stream_catalogue_g%'")
    t.same(schemas.map((s) => s.nspname), ['ledgerline_stream_catalogue_g2'], 'the old generation is dropped')
  })
})

t.test('reads during a rebuild never see a half-built model', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const store = createPostgresEventStore(sql, registry)
    t.teardown(() => store.close())
    await seed(store, 20, 2)
    await rebuildProjection({ sql, store, projection: streamCatalogue })
    const counts: number[] = []
    // The progress hook runs between batches, while the next generation is partly built.
    let pending: Promise<void> = Promise.resolve()
    await rebuildProjection({
      sql,
      store,
      projection: streamCatalogue,
      batchSize: 5,
      onProgress: () => {
        pending = pending.then(async () => {
          const { rows } = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM stream_catalogue')
          counts.push(rows[0]!.n)
        })
      }
    })
    await pending
    t.ok(counts.length >= 8, `read ${counts.length} times during the rebuild`)
    t.same([...new Set(counts)], [20], 'every read saw all 20 streams')
  })
})

t.test('a projection whose version changed is rebuilt beside the old one at start-up', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const store = createPostgresEventStore(sql, registry)
    t.teardown(() => store.close())
    await seed(store, 3, 2)
    const v1 = new ProjectionRunner({ sql, store, projections: [streamCatalogue], logger })
    v1.start()
    await v1.waitFor(await store.headPosition(), 10_000)
    await v1.stop()
    const v2Projection: Projection = { ...streamCatalogue, version: 2 }
    const v2 = new ProjectionRunner({ sql, store, projections: [v2Projection], logger })
    v2.start()
    t.teardown(() => v2.stop())
    await v2.waitFor(await store.headPosition(), 10_000)
    const status = v2.status()[0]!
    t.equal(status.generation, 2, 'a new generation')
    const { rows } = await sql.query<{ version: number }>('SELECT version FROM projections WHERE name = $1', ['stream_catalogue'])
    t.equal(rows[0]!.version, 2)
    t.equal((await catalogue(sql)).length, 3)
  })
})

/** Two runners of the stream catalogue over `streams` seeded streams: `a` started and caught up, `b` not started. */
async function leaderAndStandby (t: Test, sql: SqlClient, streams: number): Promise<{
  store: EventStore, a: ProjectionRunner, b: ProjectionRunner
}> {
  const store = createPostgresEventStore(sql, registry)
  t.teardown(() => store.close())
  await seed(store, streams, 2)
  const a = new ProjectionRunner({ sql, store, projections: [streamCatalogue], logger, standbyRetryMs: 50 })
  const b = new ProjectionRunner({ sql, store, projections: [streamCatalogue], logger, standbyRetryMs: 50 })
  a.start()
  await a.waitFor(await lastWritten(sql), 10_000)
  return { store, a, b }
}

t.test('only one runner leads a projection; a standby takes over when it stops', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { store, a, b } = await leaderAndStandby(t, sql, 2)
    b.start()
    t.teardown(() => b.stop())
    await new Promise((resolve) => setTimeout(resolve, 200))
    t.same([a.status()[0]!.leader, b.status()[0]!.leader], [true, false], 'the second stands by')
    await a.stop()
    const position = (await store.append('org-77', notes(1))).position
    await b.waitFor(position, 10_000)
    t.equal(b.status()[0]!.leader, true, 'the standby took over')
    t.equal((await catalogue(sql)).length, 3)
  })
})

t.test('a wait on a leader that steps down ends with the next leader\'s progress, not at its deadline', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { store, a, b } = await leaderAndStandby(t, sql, 1)
    const head = await lastWritten(sql)
    // Past the last event written: any later append is after it. Asked of the leader, whose waits are woken by its own batches.
    const deadlineMs = 60_000
    const waited = a.waitFor({ major: head.major, minor: head.minor + 1n }, deadlineMs).then(() => Date.now())
    await new Promise((resolve) => setTimeout(resolve, 100))
    b.start()
    t.teardown(() => b.stop())
    await a.stop()
    const began = Date.now()
    const { position } = await store.append('org-78', notes(1))
    await b.waitFor(position, 10_000)
    const tookMs = (await waited) - began
    t.ok(tookMs < deadlineMs / 2,
      `answered once the standby had applied it (${tookMs} ms after the append; the deadline was ${deadlineMs} ms)`)
  })
})

t.test('a failing batch writes nothing and moves no checkpoint; waitFor times out with a typed error', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const store = createPostgresEventStore(sql, registry)
    t.teardown(() => store.close())
    let fail = true
    const flaky: Projection = {
      name: 'flaky',
      version: 1,
      eventTypes: ['test.note.written'],
      tables: ['flaky_notes'],
      setup: 'CREATE TABLE flaky_notes (id uuid PRIMARY KEY)',
      async apply (events, tx) {
        for (const event of events) await tx.query('INSERT INTO flaky_notes (id) VALUES ($1)', [event.id])
        if (fail) throw new Error('projection bug')
      }
    }
    const runner = new ProjectionRunner({ sql, store, projections: [flaky], logger })
    runner.start()
    t.teardown(() => runner.stop())
    await runner.waitFor(await store.headPosition(), 10_000)
    const { position } = await store.append('org-1', notes(3))
    const error = await runner.waitFor(position, 600).catch((e: unknown) => e)
    t.equal((error as { code?: string }).code, 'projection.timeout')
    // Under load the first batch may not have failed yet when the 600 ms are up: wait for its error, then look.
    for (let i = 0; i < 200 && runner.status()[0]!.lastError === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 50))
    t.match(runner.status()[0]!.lastError, /projection bug/, 'the batch failed with the projection\'s error')
    t.equal((await sql.query('SELECT * FROM flaky_notes')).rowCount, 0, 'the failed batch left no row')
    fail = false
    await runner.waitFor(position, 15_000)
    t.equal((await sql.query('SELECT * FROM flaky_notes')).rowCount, 3, 'retried, then applied once')
  })
})
