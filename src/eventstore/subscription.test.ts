/**
 * Live pacing: with `liveIntervalMs`, a subscriber under a stream of appends
 * reads at most once per interval, in bigger pages, and still gets every
 * event in order.
 */
import t from 'tap'
import { z } from 'zod'
import { metadataFor, systemCommand } from '../domain/envelope.ts'
import { EventRegistry, defineEvent } from '../domain/registry.ts'
import { forEachDatabase } from '../../test/helpers/databases.ts'
import { createPostgresEventStore } from './postgres.ts'

const registry = new EventRegistry([defineEvent({ type: 'test.tick', schema: z.object({ n: z.number() }) })])

t.test('a paced live subscriber reads in fewer, bigger batches and misses nothing', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const store = createPostgresEventStore(sql, registry)
    t.teardown(() => store.close())
    const abort = new AbortController()
    const batches: number[] = []
    const seen: number[] = []
    let caughtUp!: () => void
    const live = new Promise<void>((resolve) => { caughtUp = resolve })
    const consumer = (async () => {
      for await (const batch of store.subscribe(await store.headPosition(), { liveIntervalMs: 300, signal: abort.signal })) {
        if (batch.caughtUp && batch.events.length === 0) caughtUp()
        if (batch.events.length > 0) batches.push(batch.events.length)
        seen.push(...batch.events.map((event) => (event.data as { n: number }).n))
        if (seen.length >= 20) return
      }
    })()
    await live
    const started = Date.now()
    for (let n = 0; n < 20; n++) {
      const command = systemCommand('test')
      const metadata = metadataFor(command, 0)
      await store.append(`tick-${n}`, [{ id: metadata.eventId, type: 'test.tick', data: { n }, metadata }])
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await consumer
    const elapsed = Date.now() - started
    abort.abort()
    t.same(seen, Array.from({ length: 20 }, (_, n) => n), 'every event, in order')
    // One read per 300 ms at most (plus the one an append wakes at once); without pacing it would be one per append.
    const allowed = Math.ceil(elapsed / 300) + 1
    t.ok(batches.length <= allowed && batches.length < 20,
      `20 appends over ${elapsed} ms came in ${batches.length} batches (${batches.join(', ')}); at most ${allowed} allowed`)
  })
})
