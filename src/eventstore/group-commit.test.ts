/**
 * Group commit (group-commit.ts) over the PostgreSQL store, on PGlite and on
 * a server when DATABASE_URL is set: what each caller gets back, and how the
 * appends were grouped into `appendMany` calls.
 */
import t from 'tap'
import { z } from 'zod'
import { metadataFor, systemCommand } from '../domain/envelope.ts'
import { EventRegistry, defineEvent } from '../domain/registry.ts'
import { forEachDatabase } from '../../test/helpers/databases.ts'
import { StoreUnavailable } from './errors.ts'
import { groupCommit, type GroupCommitOptions } from './group-commit.ts'
import { createPostgresEventStore } from './postgres.ts'
import type { AppendResult, EventStore, NewEvent, StreamAppend } from './types.ts'

const registry = new EventRegistry([defineEvent({ type: 'grouped.item.added', schema: z.object({ n: z.number().int() }).strict() })])

function newEvents (count: number): NewEvent[] {
  const command = systemCommand('group-commit-test')
  return Array.from({ length: count }, (_, index) => {
    const metadata = metadataFor(command, index)
    return { id: metadata.eventId, type: 'grouped.item.added', data: { n: index }, metadata }
  })
}

/** The store, with the size of every `appendMany` it was asked for; `failNext` makes the next call throw. */
function counted (inner: EventStore): { store: EventStore, batches: number[], failNext(): void } {
  const batches: number[] = []
  let fail = false
  const store: EventStore = {
    ...inner,
    async appendMany (appends: readonly StreamAppend[]) {
      batches.push(appends.length)
      if (fail) {
        fail = false
        throw new StoreUnavailable('the event store database is unreachable')
      }
      return inner.appendMany(appends)
    }
  }
  return { store, batches, failNext: () => { fail = true } }
}

let streams = 0
const stream = (): string => `grouped-s${process.pid}x${streams++}`

forEachDatabase(t, async (t, { sql }) => {
  const inner = createPostgresEventStore(sql, registry)
  t.teardown(() => inner.close())
  const grouped = (options?: GroupCommitOptions): ReturnType<typeof counted> & { grouped: EventStore } => {
    const spy = counted(inner)
    return { ...spy, grouped: groupCommit(spy.store, options) }
  }

  await t.test('nothing appended, nothing sent; one append goes out alone', async (t) => {
    const { grouped: store, batches } = grouped()
    await new Promise((resolve) => setImmediate(resolve))
    t.same(batches, [], 'no batch without appends')
    const id = stream()
    const result = await store.append(id, newEvents(2), { expectedVersion: 'no_stream' })
    t.equal(result.nextExpectedVersion, 2n)
    t.same(batches, [1])
    t.same((await inner.readStream(id)).map((e) => e.data), [{ n: 0 }, { n: 1 }])
  })

  await t.test('appends made together go out together, at most maxBatch at a time (boundary -1, 0, +1)', async (t) => {
    for (const [count, expected] of [[4, [4]], [5, [5]], [6, [5, 1]]] as const) {
      const { grouped: store, batches } = grouped({ maxBatch: 5, maxInFlight: 1 })
      const results = await Promise.all(Array.from({ length: count }, () => store.append(stream(), newEvents(1))))
      t.same(results.map((r) => r.nextExpectedVersion), Array(count).fill(1n), `${count}: each lands on its own stream`)
      t.same(batches, expected, `${count} appends: batches of ${expected.join(' and ')}`)
    }
  })

  await t.test('500 concurrent writers: each gets its own answer, conflicts included, in far fewer batches', async (t) => {
    const { grouped: store, batches } = grouped()
    const ids = Array.from({ length: 100 }, () => stream())
    // Five writers per stream, each expecting the stream empty: exactly one of each five wins.
    const settled = await Promise.allSettled(ids.flatMap((id) =>
      Array.from({ length: 5 }, () => store.append(id, newEvents(1), { expectedVersion: 'no_stream' }))))
    const won = settled.filter((r): r is PromiseFulfilledResult<AppendResult> => r.status === 'fulfilled')
    const lost = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    t.equal(won.length, 100, 'one win per stream')
    t.equal(lost.length, 400)
    t.ok(lost.every((r) => (r.reason as { code?: string }).code === 'store.wrong_expected_version'), 'every other one a conflict')
    t.same(new Set(await Promise.all(ids.map((id) => inner.streamVersion(id)))), new Set([1n]), 'each stream holds one event')
    t.equal(batches.reduce((a, b) => a + b, 0), 500, 'every append was sent once')
    t.ok(batches.length < 50, `grouped into ${batches.length} batches`)
  })

  await t.test('a batch the store could not take fails each of its appends; the next batch goes out', async (t) => {
    const { grouped: store, batches, failNext } = grouped({ maxInFlight: 1 })
    failNext()
    const first = await Promise.allSettled([store.append(stream(), newEvents(1)), store.append(stream(), newEvents(1))])
    t.same(first.map((r) => r.status), ['rejected', 'rejected'])
    t.ok(first.every((r) => r.status === 'rejected' && r.reason instanceof StoreUnavailable), 'with the store\'s error')
    const id = stream()
    t.equal((await store.append(id, newEvents(3))).nextExpectedVersion, 3n, 'the engine carries on')
    t.same(batches, [2, 1])
    t.equal(await inner.streamVersion(id), 3n)
  })

  await t.test('an invalid append fails alone; its neighbours land', async (t) => {
    const { grouped: store } = grouped()
    const ok = stream()
    const results = await Promise.allSettled([
      store.append(ok, newEvents(1)),
      store.append('Not A Stream', newEvents(1)),
      store.append(stream(), [{ ...newEvents(1)[0]!, type: 'grouped.item.unknown' }])
    ])
    t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected'])
    t.same(results.slice(1).map((r) => r.status === 'rejected' && (r.reason as { code?: string }).code),
      ['store.invalid_stream_id', 'store.unknown_event_type'])
    t.equal(await inner.streamVersion(ok), 1n)
  })
})
