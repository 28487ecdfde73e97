/**
 * The event store conformance suite: one set of cases, run against every
 * adapter available here — the PostgreSQL store on PGlite always, on a
 * PostgreSQL server when DATABASE_URL is set, and KurrentDB when
 * KURRENTDB_URL is set. What is not available is reported as skipped, with why.
 */
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import { z } from 'zod'
import { metadataFor, systemCommand } from '../domain/envelope.ts'
import { EventRegistry, defineEvent } from '../domain/registry.ts'
import { openTestDatabase, drivers } from '../../test/helpers/databases.ts'
import { comparePositions } from './position.ts'
import { createPostgresEventStore, type PostgresEventStore } from './postgres.ts'
import {
  START, type AppendResult, type EventStore, type ExpectedVersion, type LogPosition, type NewEvent, type RecordedEvent
} from './types.ts'
import type { SqlClient } from '../sql/client.ts'
import { untilVisible } from '../../test/helpers/assertions.ts'

const registry = new EventRegistry([
  defineEvent({ type: 'conformance.item.added', schema: z.object({ n: z.number().int(), text: z.string().optional() }).strict() }),
  defineEvent({ type: 'conformance.item.removed', schema: z.object({ n: z.number().int() }).strict() })
])

interface Harness {
  store: EventStore
  /** A category unique to this case, so cases never see each other's streams. */
  category(): string
  /** Only for the PostgreSQL store: the SQL client under it. */
  sql?: SqlClient
}

function newEvents (count: number, type = 'conformance.item.added', start = 0): NewEvent[] {
  const command = systemCommand('conformance')
  return Array.from({ length: count }, (_, index) => {
    const metadata = metadataFor(command, index)
    return { id: metadata.eventId, type, data: { n: start + index }, metadata }
  })
}

/** Every matching event, page by page: a page may hold none and still not be the end. */
async function readEverything (store: EventStore, streamPrefix: string, limit = 1000, types?: string[]): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = []
  let position: LogPosition = START
  for (;;) {
    const page = await store.readAll(position, { streamPrefix, limit, ...(types === undefined ? {} : { types }) })
    events.push(...page.events)
    position = page.position
    if (page.isEnd) return events
  }
}

async function collect (
  subscription: AsyncIterable<{ events: RecordedEvent[], position: LogPosition }>,
  until: (seen: RecordedEvent[]) => boolean,
  timeoutMs = 15_000
): Promise<{ events: RecordedEvent[], position: LogPosition }> {
  const seen: RecordedEvent[] = []
  let position: LogPosition = START
  const deadline = Date.now() + timeoutMs
  for await (const batch of subscription) {
    seen.push(...batch.events)
    position = batch.position
    if (until(seen) || Date.now() > deadline) break
  }
  return { events: seen, position }
}

function codeOf (error: unknown): string | undefined {
  return (error as { code?: string }).code
}

async function conformance (t: Test, harness: Harness): Promise<void> {
  const { store } = harness

  await t.test('appends and reads back a stream in order, with versions and positions', async (t) => {
    const stream = `${harness.category()}-a1`
    const result = await store.append(stream, newEvents(3), { expectedVersion: 'no_stream' })
    t.equal(result.nextExpectedVersion, 3n)
    const events = await store.readStream(stream)
    t.same(events.map((e) => e.streamVersion), [1n, 2n, 3n])
    t.same(events.map((e) => e.data), [{ n: 0 }, { n: 1 }, { n: 2 }])
    t.equal(events[0]!.type, 'conformance.item.added')
    t.equal(events[0]!.metadata.actor.id, 'conformance')
    t.equal(events[0]!.metadata.eventId, events[0]!.id)
    t.ok(events[0]!.recordedAt instanceof Date && !Number.isNaN(events[0]!.recordedAt.getTime()))
    t.ok(comparePositions(events[0]!.position, events[1]!.position) < 0, 'positions increase')
    t.same(events[2]!.position, result.position, 'the result carries the last position')
    t.equal(await store.streamVersion(stream), 3n)
    t.same((await store.readStream(stream, { fromVersion: 1n, limit: 1 })).map((e) => e.streamVersion), [2n])
    t.same(await store.readStream(`${harness.category()}-none`), [], 'a missing stream reads empty')
    t.equal(await store.streamVersion(`${harness.category()}-none`), 0n)
  })

  await t.test('the committed head is where the last answered append landed, and the visible head reaches it', async (t) => {
    const first = await store.append(`${harness.category()}-h1`, newEvents(1))
    t.same(await store.committedHeadPosition(), first.position, 'one event')
    const second = await store.append(`${harness.category()}-h2`, newEvents(250))
    t.same(await store.committedHeadPosition(), second.position, 'a batch: its last event')
    let visible = await store.headPosition()
    for (let tries = 0; comparePositions(visible, second.position) < 0 && tries < 100; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      visible = await store.headPosition()
    }
    t.same(visible, second.position, 'no later than the other sessions\' transactions end')
  })

  await t.test('enforces every form of expected version', async (t) => {
    const category = harness.category()
    await store.append(`${category}-x`, newEvents(2), { expectedVersion: 0n })
    const cases: Array<[string, unknown, bigint]> = [
      ['no_stream on an existing stream', 'no_stream', 2n],
      ['a stale version', 1n, 2n],
      ['a version ahead', 5n, 2n]
    ]
    for (const [label, expectedVersion, actual] of cases) {
      const error = await store.append(`${category}-x`, newEvents(1), { expectedVersion: expectedVersion as bigint })
        .catch((e: unknown) => e)
      t.equal(codeOf(error), 'store.wrong_expected_version', label)
      t.equal((error as { actual: bigint }).actual, actual, `${label}: reports the actual version`)
    }
    const missing = await store.append(`${category}-y`, newEvents(1), { expectedVersion: 'stream_exists' }).catch((e: unknown) => e)
    t.equal(codeOf(missing), 'store.wrong_expected_version', 'stream_exists on a missing stream')
    t.equal(await store.streamVersion(`${category}-y`), 0n, 'the failed append left no stream behind')
    t.equal((await store.append(`${category}-x`, newEvents(1), { expectedVersion: 'stream_exists' })).nextExpectedVersion, 3n)
    t.equal((await store.append(`${category}-x`, newEvents(1), { expectedVersion: 3n })).nextExpectedVersion, 4n)
    t.equal((await store.append(`${category}-x`, newEvents(1), { expectedVersion: 'any' })).nextExpectedVersion, 5n)
    t.equal((await store.append(`${category}-z`, newEvents(1))).nextExpectedVersion, 1n, 'any is the default')
  })

  await t.test('20 concurrent writers racing on one stream: each version is won exactly once', async (t) => {
    const stream = `${harness.category()}-race`
    const writers = 20
    const perWriter = 3
    let conflicts = 0
    let wrongActual = 0
    async function writer (id: number): Promise<void> {
      for (let written = 0; written < perWriter;) {
        const version = await store.streamVersion(stream)
        try {
          await store.append(stream, newEvents(1, 'conformance.item.added', id * 100 + written), { expectedVersion: version })
          written++
        } catch (error) {
          if (codeOf(error) !== 'store.wrong_expected_version') throw error
          conflicts++
          if ((error as { actual: bigint }).actual <= version) wrongActual++
        }
      }
    }
    await Promise.all(Array.from({ length: writers }, (_, id) => writer(id)))
    const events = await store.readStream(stream)
    t.equal(events.length, writers * perWriter, 'every write landed once')
    t.same(events.map((e) => e.streamVersion), events.map((_, i) => BigInt(i + 1)), 'versions 1..N, no gap, no repeat')
    const perId = new Map<number, number>()
    for (const event of events) {
      const writerId = Math.floor((event.data as { n: number }).n / 100)
      perId.set(writerId, (perId.get(writerId) ?? 0) + 1)
    }
    t.same([...perId.values()], Array(writers).fill(perWriter), 'each writer won exactly its share')
    t.ok(conflicts >= writers - 1, `losers got WrongExpectedVersion (${conflicts} conflicts)`)
    t.equal(wrongActual, 0, 'every conflict reported an actual version beyond the expected one')
  })

  await t.test('concurrent appends that set no exact version never conflict', async (t) => {
    const category = harness.category()
    const anyResults = await Promise.all(Array.from({ length: 12 },
      (_, i) => store.append(`${category}-any`, newEvents(1, 'conformance.item.added', i))))
    t.same(anyResults.map((r) => r.nextExpectedVersion).sort((a, b) => Number(a - b)), Array.from({ length: 12 }, (_, i) => BigInt(i + 1)),
      "12 concurrent 'any' appends: each lands, versions 1..12")
    const existsResults = await Promise.all(Array.from({ length: 8 },
      (_, i) => store.append(`${category}-any`, newEvents(1, 'conformance.item.added', 100 + i), { expectedVersion: 'stream_exists' })))
    t.equal(existsResults.length, 8, "8 concurrent 'stream_exists' appends on an existing stream: each lands")
    t.equal(await store.streamVersion(`${category}-any`), 20n)
  })

  await t.test('re-appending the same event ids returns the first result and adds nothing', async (t) => {
    const stream = `${harness.category()}-idem`
    const events = newEvents(3)
    const first = await store.append(stream, events, { expectedVersion: 'no_stream' })
    const again = await store.append(stream, events, { expectedVersion: 'no_stream' })
    t.same(again, { ...first, replayed: true }, 'same result, marked a replay, even with an expected version that no longer holds')
    t.not(first.replayed, true, 'the first append is no replay')
    const anyAgain = await store.append(stream, events, { expectedVersion: 'any' })
    t.same(anyAgain, { ...first, replayed: true })
    const twinIds = [crypto.randomUUID(), crypto.randomUUID()]
    const twins = await Promise.all(Array.from({ length: 5 }, () => store.append(stream,
      newEvents(2, 'conformance.item.removed')
        .map((e, i) => ({ ...e, id: twinIds[i]!, metadata: { ...e.metadata, eventId: twinIds[i]! } })))))
    t.same(new Set(twins.map((r) => r.nextExpectedVersion)).size, 1, 'concurrent twins all get the one result')
    t.equal(twins.filter((r) => r.replayed !== true).length, 1, 'exactly one of them wrote; the others are marked replays')
    t.equal(await store.streamVersion(stream), 5n, 'nothing was added twice')
    const partial = await store.append(stream, [...events.slice(0, 1), ...newEvents(1)]).catch((e: unknown) => e)
    t.equal(codeOf(partial), 'store.duplicate_event_id', 'some old ids with new ones are refused')
    t.equal(await store.streamVersion(stream), 5n)
  })

  await t.test('rejects bad appends whole, with typed errors', async (t) => {
    const category = harness.category()
    const good = newEvents(2)
    const cases: Array<[string, string, NewEvent[], string]> = [
      ['an invalid stream id', 'Not A Stream', good, 'store.invalid_stream_id'],
      ['a stream id without category', 'nocategory', good, 'store.invalid_stream_id'],
      ['an unknown event type', `${category}-s`, [good[0]!, { ...good[1]!, type: 'conformance.item.unknown' }], 'store.unknown_event_type'],
      ['invalid data in the last event', `${category}-s`, [good[0]!, { ...good[1]!, data: { n: 'one' } }], 'store.invalid_event_data'],
      ['an unknown field', `${category}-s`, [{ ...good[0]!, data: { n: 1, extra: true } }], 'store.invalid_event_data'],
      ['invalid metadata', `${category}-s`, [{ ...good[0]!, metadata: { ...good[0]!.metadata, traceId: 'nope' } }],
        'store.invalid_event_data'],
      ['an event over 1 MiB', `${category}-s`, [good[0]!, { ...good[1]!, data: { n: 1, text: 'x'.repeat(1024 * 1024) } }],
        'store.event_too_large'],
      ['text with U+0000', `${category}-s`, [{ ...good[0]!, data: { n: 1, text: 'a\u0000b' } }], 'store.invalid_event_data'],
      ['no events', `${category}-s`, [], 'store.invalid_event_data']
    ]
    for (const [label, stream, events, code] of cases) {
      const error = await store.append(stream, events).catch((e: unknown) => e)
      t.equal(codeOf(error), code, label)
    }
    t.equal(await store.streamVersion(`${category}-s`), 0n, 'nothing was written')
    t.same(await readEverything(store, `${category}-`), [], 'nothing reached the log')
    const ok = await store.append(`${category}-s`, [{ ...good[0]!, data: { n: 1, text: 'a\\u0000b' } }])
    t.equal(ok.nextExpectedVersion, 1n, 'a literal backslash-u0000 in text is fine')
  })

  await t.test('large batches: 5,000 events in one append, read back in pages', async (t) => {
    const category = harness.category()
    const events = newEvents(5000)
    const result = await store.append(`${category}-big`, events, { expectedVersion: 'no_stream' })
    t.equal(result.nextExpectedVersion, 5000n)
    await untilVisible(store, result.position)
    const read = await readEverything(store, `${category}-`, 1000)
    t.equal(read.length, 5000)
    t.same(read.map((e) => (e.data as { n: number }).n), events.map((_, i) => i), 'in order')
    t.same((await store.readStream(`${category}-big`)).length, 5000)
  })

  await t.test('filters: by type and by stream prefix, and filtered readers move past the rest', async (t) => {
    const category = harness.category()
    await store.append(`${category}-f1`, newEvents(3))
    await store.append(`${category}-f2`, newEvents(2, 'conformance.item.removed'))
    await untilVisible(store, (await store.append(`${category}x-f3`, newEvents(1, 'conformance.item.removed'))).position)
    const removed = await readEverything(store, `${category}-`, 1000, ['conformance.item.removed'])
    t.same(removed.map((e) => e.streamId), [`${category}-f2`, `${category}-f2`], 'type and prefix together')
    const byPrefix = await readEverything(store, `${category}-f1`)
    t.same(byPrefix.map((e) => e.streamVersion), [1n, 2n, 3n])
    const last = (await readEverything(store, `${category}x-`)).at(-1)!
    let position: LogPosition = START
    for (let pages = 0; pages < 100; pages++) {
      const nothing = await store.readAll(position, { streamPrefix: `${category}-`, types: ['conformance.never'] })
      t.same(nothing.events, [], 'a filter that matches nothing reads nothing')
      position = nothing.position
      if (nothing.isEnd) break
    }
    t.ok(comparePositions(position, last.position) >= 0, 'and still moves past every event it did not ask for, to the end')
  })

  await t.test('a filtered reader paging with a small limit finds sparse matches, in order, and reaches the end', async (t) => {
    const category = harness.category()
    for (let round = 0; round < 3; round++) {
      await store.append(`${category}-sparse`, newEvents(60, 'conformance.item.added', round * 100))
      await untilVisible(store, (await store.append(`${category}-sparse`, newEvents(1, 'conformance.item.removed', round))).position)
    }
    const found: RecordedEvent[] = []
    let position: LogPosition = START
    let pages = 0
    for (;;) {
      const page = await store.readAll(position, { streamPrefix: `${category}-`, types: ['conformance.item.removed'], limit: 1 })
      found.push(...page.events)
      t.ok(comparePositions(page.position, position) >= 0, 'the position never goes back')
      position = page.position
      if (page.isEnd || ++pages > 500) break
    }
    t.same(found.map((e) => (e.data as { n: number }).n), [0, 1, 2], 'every match, once, in order')
    t.ok(pages <= 500, `ended (${pages} pages)`)
  })

  await t.test('a subscriber stopped and restarted from its checkpoint sees every event exactly once', async (t) => {
    const category = harness.category()
    for (let i = 0; i < 10; i++) await store.append(`${category}-s${i % 3}`, newEvents(5, 'conformance.item.added', i * 5))
    const first = store.subscribe(START, { streamPrefix: `${category}-`, batchSize: 7 })
    const part1 = await collect(first, (seen) => seen.length >= 20)
    await first.close()
    t.ok(part1.events.length >= 20 && part1.events.length < 50, `stopped part-way (${part1.events.length} seen)`)
    for (let i = 10; i < 16; i++) await store.append(`${category}-s${i % 3}`, newEvents(5, 'conformance.item.added', i * 5))
    const second = store.subscribe(part1.position, { streamPrefix: `${category}-`, batchSize: 7 })
    const part2 = await collect(second, (seen) => part1.events.length + seen.length >= 80)
    await second.close()
    const all = [...part1.events, ...part2.events]
    t.equal(all.length, 80, 'no event lost, none repeated')
    t.equal(new Set(all.map((e) => e.id)).size, 80)
    t.same(all.map((e) => e.position), [...all.map((e) => e.position)].sort(comparePositions), 'in log order')
  })

  await t.test('a live subscriber is woken by new appends', async (t) => {
    const category = harness.category()
    const subscription = store.subscribe(await store.headPosition(), { streamPrefix: `${category}-` })
    const received = collect(subscription, (seen) => seen.length >= 3)
    await new Promise((resolve) => setTimeout(resolve, 100))
    await store.append(`${category}-live`, newEvents(3))
    const { events } = await received
    await subscription.close()
    t.same(events.map((e) => e.streamVersion), [1n, 2n, 3n])
  })

  await appendManyConformance(t, harness)

  if (harness.sql === undefined) return
  const sql = harness.sql
  const pgStore = store as PostgresEventStore

  if (sql.kind === 'pg') {
    await t.test('an append inside an older transaction, after a newer one appended to the stream, must retry', async (t) => {
      const stream = `${harness.category()}-order`
      await store.append(stream, newEvents(1))
      const error = await sql.transaction(async (tx) => {
        await tx.query('SELECT pg_current_xact_id()') // this transaction's id is now older than the next append's
        await store.append(stream, newEvents(1))
        return await pgStore.appendWithin(tx, stream, newEvents(1)).catch((e: unknown) => e)
      })
      t.equal(codeOf(error), 'store.append_order_conflict', 'its events would sort before their predecessors in the log')
      t.equal(await store.streamVersion(stream), 2n, 'nothing of it was written')
    })
  }

  await t.test('a transaction held open while later ones commit is still delivered, in order, to a live subscriber', async (t) => {
    const category = harness.category()
    const subscription = store.subscribe(await store.headPosition(), { streamPrefix: `${category}-` })
    const received = collect(subscription, (seen) => seen.length >= 3)
    let later: Promise<unknown> | undefined
    await sql.transaction(async (tx) => {
      await pgStore.appendWithin(tx, `${category}-held`, newEvents(1))
      later = Promise.all([store.append(`${category}-l1`, newEvents(1)), store.append(`${category}-l2`, newEvents(1))])
      if (sql.kind === 'pg') {
        await later // committed on other connections while this transaction stays open
        const visible = await store.readAll(START, { streamPrefix: `${category}-` })
        t.same(visible.events, [], 'while it is open, nothing committed after it is visible to readers')
        const [committed, head] = [await store.committedHeadPosition(), await store.headPosition()]
        t.ok(comparePositions(committed, head) > 0, 'the committed head is past the visible one: what to wait for')
      } else {
        // PGlite has one connection: the later appends queue behind this transaction.
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    })
    pgStore.notifyAppended()
    await later
    const { events } = await received
    await subscription.close()
    t.equal(events.length, 3, 'the held event and both later ones, each once')
    t.equal(events[0]?.streamId, `${category}-held`, 'the held transaction comes first: it began first')
    t.same(events.map((e) => e.position), [...events.map((e) => e.position)].sort(comparePositions), 'in log order')
    const held = events[0]!
    const later1 = events.find((e) => e.streamId === `${category}-l1`)!
    t.ok(held.position.minor < later1.position.minor,
      'it took its global position before the others committed: a reader ordered by global position alone, ' +
      'checkpointed past them, would have skipped it')
  })
}

/** The outcome of each append of a batch, as a code a model can predict: the version reached, or the error's code. */
function outcomes (results: ReadonlyArray<PromiseSettledResult<AppendResult>>): string[] {
  return results.map((r) => r.status === 'rejected'
    ? String(codeOf(r.reason))
    : `v${r.value.nextExpectedVersion}${r.value.replayed === true ? ' replay' : ''}`)
}

async function appendManyConformance (t: Test, harness: Harness): Promise<void> {
  const { store } = harness

  await t.test('appendMany: batches of 0, 1, 2 and 500 appends each land on their own stream', async (t) => {
    t.same(await store.appendMany([]), [], 'an empty batch answers nothing')
    for (const size of [1, 2, 500]) {
      const category = harness.category()
      const appends = Array.from({ length: size }, (_, i) => ({
        streamId: `${category}-m${i}`,
        events: newEvents(1 + (i % 3), 'conformance.item.added', i * 10),
        options: { expectedVersion: 'no_stream' as const }
      }))
      const results = await store.appendMany(appends)
      t.same(outcomes(results), appends.map((a) => `v${a.events.length}`), `${size}: each stream at its own length, in the batch's order`)
      const last = results.at(-1)!
      if (last.status !== 'fulfilled') continue
      const positions = results.map((r) => (r as PromiseFulfilledResult<AppendResult>).value.position)
      await untilVisible(store, positions.sort(comparePositions).at(-1)!)
      const read = await readEverything(store, `${category}-`)
      t.equal(read.length, appends.reduce((sum, a) => sum + a.events.length, 0), `${size}: every event reached the log once`)
      const stream = await store.readStream(appends.at(-1)!.streamId)
      t.same(stream.map((e) => e.data), appends.at(-1)!.events.map((e) => e.data), `${size}: the last stream's events, in order`)
      t.same(stream.at(-1)!.position, last.value.position, `${size}: the result carries its stream's last position`)
    }
  })

  await t.test('appendMany: a conflict, an invalid append, a replay and a duplicate id fail alone; the rest land', async (t) => {
    const category = harness.category()
    const replayed = newEvents(2)
    const first = await store.append(`${category}-replay`, replayed)
    await store.append(`${category}-taken`, newEvents(1))
    const dup = newEvents(1)
    await store.append(`${category}-dup`, dup)
    const results = await store.appendMany([
      { streamId: `${category}-ok1`, events: newEvents(1) },
      { streamId: `${category}-taken`, events: newEvents(1), options: { expectedVersion: 'no_stream' } },
      { streamId: `${category}-bad`, events: [{ ...newEvents(1)[0]!, type: 'conformance.item.unknown' }] },
      { streamId: `${category}-replay`, events: replayed },
      { streamId: `${category}-dup`, events: [...dup, ...newEvents(1)] },
      { streamId: 'Not A Stream', events: newEvents(1) },
      { streamId: `${category}-ok2`, events: newEvents(2), options: { expectedVersion: 0n } }
    ])
    t.same(outcomes(results), [
      'v1', 'store.wrong_expected_version', 'store.unknown_event_type', 'v2 replay',
      'store.duplicate_event_id', 'store.invalid_stream_id', 'v2'
    ])
    const conflict = results[1] as PromiseRejectedResult
    t.equal((conflict.reason as { actual: bigint }).actual, 1n, 'the conflict reports the actual version')
    t.same((results[3] as PromiseFulfilledResult<AppendResult>).value, { ...first, replayed: true }, 'the replay answers the first result')
    for (const [stream, version] of [['taken', 1n], ['bad', 0n], ['replay', 2n], ['dup', 1n], ['ok1', 1n], ['ok2', 2n]] as const) {
      t.equal(await store.streamVersion(`${category}-${stream}`), version, `${stream} holds ${version} events`)
    }
  })

  await t.test('appendMany: appends to one stream in one batch are judged in the batch\'s order', async (t) => {
    const category = harness.category()
    const results = await store.appendMany([
      { streamId: `${category}-s`, events: newEvents(2, 'conformance.item.added', 0), options: { expectedVersion: 'no_stream' } },
      { streamId: `${category}-s`, events: newEvents(1, 'conformance.item.added', 2), options: { expectedVersion: 'no_stream' } },
      { streamId: `${category}-s`, events: newEvents(1, 'conformance.item.added', 3), options: { expectedVersion: 2n } },
      { streamId: `${category}-s`, events: newEvents(1, 'conformance.item.added', 4) }
    ])
    t.same(outcomes(results), ['v2', 'store.wrong_expected_version', 'v3', 'v4'])
    t.same((await store.readStream(`${category}-s`)).map((e) => (e.data as { n: number }).n), [0, 1, 3, 4])
  })

  await t.test('appendMany: concurrent batches over the same 40 streams in opposite orders all land', async (t) => {
    const category = harness.category()
    const streams = Array.from({ length: 40 }, (_, i) => `${category}-x${i}`)
    const batch = (order: string[], n: number): Promise<Array<PromiseSettledResult<AppendResult>>> =>
      store.appendMany(order.map((streamId) => ({ streamId, events: newEvents(1, 'conformance.item.added', n) })))
    const reversed = [...streams].reverse()
    const all = await Promise.all([batch(streams, 1), batch(reversed, 2), batch(streams, 3), batch(reversed, 4)])
    t.equal(all.flat().filter((r) => r.status === 'rejected').length, 0, 'none refused: appends with no expected version never conflict')
    const versions = await Promise.all(streams.map((s) => store.streamVersion(s)))
    t.same(new Set(versions), new Set([4n]), 'each stream got each batch\'s event once')
  })

  await t.test('appendMany: any batch ends as the same appends made one by one (property)', async (t) => {
    const expected = fc.constantFrom<ExpectedVersion>('any', 'no_stream', 'stream_exists', 0n, 1n, 2n, 3n)
    const entry = fc.record({ stream: fc.integer({ min: 0, max: 4 }), count: fc.integer({ min: 1, max: 3 }), expected })
    await fc.assert(fc.asyncProperty(fc.array(entry, { maxLength: 12 }), fc.integer({ min: 0, max: 3 }), async (entries, seeded) => {
      const category = harness.category()
      const model = new Map<number, bigint>()
      for (let i = 0; i < seeded; i++) {
        await store.append(`${category}-p${i}`, newEvents(1))
        model.set(i, 1n)
      }
      const predicted = entries.map(({ stream, count, expected }) => {
        const version = model.get(stream) ?? 0n
        const holds = expected === 'any' || (expected === 'no_stream' && version === 0n) ||
          (expected === 'stream_exists' && version > 0n) || expected === version
        if (!holds) return 'store.wrong_expected_version'
        model.set(stream, version + BigInt(count))
        return `v${version + BigInt(count)}`
      })
      const results = await store.appendMany(entries.map(({ stream, count, expected }) => ({
        streamId: `${category}-p${stream}`, events: newEvents(count), options: { expectedVersion: expected }
      })))
      t.same(outcomes(results), predicted)
      for (const [stream, version] of model) t.equal(await store.streamVersion(`${category}-p${stream}`), version)
    }), { numRuns: 30 })
  })
}

interface AdapterCase {
  name: string
  skip?: string
  open(): Promise<{ harness: Harness, dispose(): Promise<void> }>
}

function postgresCase (driver: 'pglite' | 'postgres'): AdapterCase {
  return {
    name: `postgres store on ${driver === 'pglite' ? 'PGlite' : 'a PostgreSQL server'}`,
    async open () {
      const db = await openTestDatabase(driver)
      const store = createPostgresEventStore(db.sql, registry)
      return {
        harness: withCategories({ store, sql: db.sql }),
        async dispose () { await store.close(); await db.dispose() }
      }
    }
  }
}

function withCategories (harness: Omit<Harness, 'category'>): Harness {
  const run = randomBytes(4).toString('hex')
  let counter = 0
  return { ...harness, category: () => `c${run}n${counter++}` }
}

const KURRENTDB_URL = process.env.KURRENTDB_URL
const adapters: AdapterCase[] = [
  ...drivers().map(postgresCase),
  ...(drivers().includes('postgres') ? [] : [{
    name: 'postgres store on a PostgreSQL server',
    skip: 'DATABASE_URL is not set',
    open: () => { throw new Error('skipped') }
  }]),
  KURRENTDB_URL === undefined || KURRENTDB_URL === ''
    ? {
        name: 'kurrentdb store',
        skip: 'KURRENTDB_URL is not set: no KurrentDB server to run against (start one with `docker compose up -d kurrentdb`)',
        open: () => { throw new Error('skipped') }
      }
    : {
        name: 'kurrentdb store',
        async open () {
          const { createKurrentDbEventStore } = await import('./kurrentdb.ts')
          const store = createKurrentDbEventStore({ connectionString: KURRENTDB_URL, registry })
          return { harness: withCategories({ store }), dispose: () => store.close() }
        }
      }
]

for (const adapter of adapters) {
  if (adapter.skip !== undefined) {
    t.test(adapter.name, { skip: adapter.skip }, async () => {})
    continue
  }
  t.test(adapter.name, async (t) => {
    const { harness, dispose } = await adapter.open()
    t.teardown(dispose)
    await conformance(t, harness)
  })
}
