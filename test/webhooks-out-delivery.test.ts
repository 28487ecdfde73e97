/**
 * Deliveries on an injected clock (the runtime's `now`, which jobs and
 * attempts decide by), on PGlite and PostgreSQL: Svix's whole schedule
 * followed within its jitter, Retry-After honoured, a receiver answering 500
 * then 200, a 410 disabling the endpoint, and an endpoint failing for five
 * days disabled, its messages held, then probed, enabled and sent its
 * backlog in order, without a human.
 */
import t from 'tap'
import { deliveryJobId } from '../src/application/webhooks/outbound/fan-out.ts'
import { DELIVERY_DELAYS_MS, DELIVERY_JITTER, PROBE_DELAYS_MS } from '../src/application/webhooks/outbound/jobs.ts'
import type { RecordedEvent } from '../src/eventstore/types.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { openReceiver, openWebhookWorld, type Receiver, type WebhookWorld } from './helpers/webhook-receiver.ts'

const DAY = 86_400_000

/** The clock the runtime reads; the test moves it. */
function testClock (): { now: () => Date, set(at: Date | number): void, advance(ms: number): void } {
  let current = Date.now()
  return { now: () => new Date(current), set: (at) => { current = new Date(at).getTime() }, advance: (ms) => { current += ms } }
}

async function events (world: WebhookWorld, streamId: string, type: string, count: number): Promise<RecordedEvent[]> {
  const deadline = Date.now() + 30_000
  for (;;) {
    const found = (await world.runtime.store.readStream(streamId)).filter((e) => e.type === type)
    if (found.length >= count) return found
    if (Date.now() > deadline) throw new Error(`${streamId} has ${found.length} ${type}, not ${count}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** The delivery job of the message the receiver got as request `index`. */
function jobOf (receiver: Receiver, index: number): string {
  return `job-${deliveryJobId(receiver.received[index]!.id)}`
}

async function settled (world: WebhookWorld): Promise<void> {
  await world.runtime.runner.waitFor(await world.runtime.store.committedHeadPosition(), 10_000)
}

await forEachDatabase(t, async (t, { sql }) => {
  const clock = testClock()
  const world = await openWebhookWorld(t, sql, { now: clock.now })
  /** Moves the clock to `at` and wakes the job runner, which claims what is due then. */
  const runAt = (at: string): void => {
    clock.set(Date.parse(at))
    world.runtime.jobs.runner.wake()
  }

  await t.test('the whole schedule: 8 attempts after 0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h within ±10%, then dead', async (t) => {
    const receiver = await openReceiver(t)
    receiver.answer({ status: 500, body: 'down for maintenance' })
    await world.endpoint(receiver.url, ['ai.test.happened'], undefined, t)
    await world.happen(1)
    await receiver.waitFor(1)
    const job = jobOf(receiver, 0)
    for (const [index, delay] of DELIVERY_DELAYS_MS.entries()) {
      const failures = await events(world, job, 'job.attempt.failed', index + 1)
      const failed = failures[index]!.data as { failedAt: string, retryAt: string }
      const waited = Date.parse(failed.retryAt) - Date.parse(failed.failedAt)
      t.ok(waited >= Math.floor(delay * (1 - DELIVERY_JITTER)) && waited <= Math.ceil(delay * (1 + DELIVERY_JITTER)),
        `attempt ${index + 2} after ${waited} ms, within ${delay} ms ±10%`)
      runAt(failed.retryAt)
      await receiver.waitFor(index + 2)
    }
    const [dead] = await events(world, job, 'job.dead', 1)
    t.ok(dead)
    t.equal(receiver.received.length, 8, 'no ninth attempt')
    t.equal(new Set(receiver.received.map((r) => r.id)).size, 1, 'the same webhook-id on every attempt')
    t.equal(new Set(receiver.received.map((r) => r.body)).size, 1, 'the same body on every attempt')
    const attempts = await events(world, `whmsg-${receiver.received[0]!.id}`, 'webhook.attempt.recorded', 8)
    t.same(attempts.map((e) => (e.data as { attempt: number }).attempt), [1, 2, 3, 4, 5, 6, 7, 8])
    t.ok(attempts.every((e) => (e.data as { status: number, excerpt: string }).status === 500))
    t.equal((attempts[0]!.data as { excerpt: string }).excerpt, 'down for maintenance')
  })

  await t.test('Retry-After longer than the schedule is waited for; a shorter one leaves the schedule', async (t) => {
    const receiver = await openReceiver(t)
    receiver.answer({ status: 503, headers: { 'retry-after': '7200' } }, { status: 429, headers: { 'retry-after': '1' } }, { status: 200 })
    await world.endpoint(receiver.url, ['ai.test.happened'], undefined, t)
    await world.happen(1)
    await receiver.waitFor(1)
    const job = jobOf(receiver, 0)
    const [first] = await events(world, job, 'job.attempt.failed', 1)
    const one = first!.data as { failedAt: string, retryAt: string, retryAfterMs?: number }
    t.equal(Date.parse(one.retryAt) - Date.parse(one.failedAt), 7_200_000, 'two hours, not five seconds')
    t.equal(one.retryAfterMs, 7_200_000)
    runAt(one.retryAt)
    await receiver.waitFor(2)
    const two = (await events(world, job, 'job.attempt.failed', 2))[1]!.data as { failedAt: string, retryAt: string }
    const waited = Date.parse(two.retryAt) - Date.parse(two.failedAt)
    t.ok(waited >= 270_000 && waited <= 330_000, `the schedule's 5 min ±10% (${waited} ms), not 1 s`)
    runAt(two.retryAt)
    await receiver.waitFor(3)
    await events(world, job, 'job.attempt.succeeded', 1)
  })

  await t.test('a receiver answering 500 then 200 gets the message once it recovers; its health follows', async (t) => {
    const receiver = await openReceiver(t)
    receiver.answer({ status: 500 }, { status: 200, body: 'ok' })
    const { endpointId } = await world.endpoint(receiver.url, ['ai.test.happened'], undefined, t)
    await world.happen(1)
    await receiver.waitFor(1)
    const [failed] = await events(world, jobOf(receiver, 0), 'job.attempt.failed', 1)
    await settled(world)
    const path = `/v1/orgs/${world.orgId}/webhooks/endpoints/${endpointId}`
    const failing = (await world.call('GET', path)).json<{ failingSince: string | null }>()
    t.equal(failing.failingSince, (failed!.data as { failedAt: string }).failedAt)
    runAt((failed!.data as { retryAt: string }).retryAt)
    await receiver.waitFor(2)
    await events(world, jobOf(receiver, 0), 'job.attempt.succeeded', 1)
    await settled(world)
    const healthy = (await world.call('GET', path)).json()
    t.match(healthy, { state: 'active', failingSince: null, lastSuccessAt: String })
    const attempts = (await world.call('GET', `${path}/attempts`)).json()
    t.match(attempts.items, [
      { attempt: 2, outcome: 'delivered', status: 200, excerpt: 'ok' },
      { attempt: 1, outcome: 'failed', status: 500, errorCode: 'http.500' }
    ])
  })

  await t.test('410 Gone disables the endpoint at once; later messages are held, never probed', async (t) => {
    const receiver = await openReceiver(t)
    receiver.answer({ status: 410 })
    const { endpointId } = await world.endpoint(receiver.url, ['ai.test.happened'], undefined, t)
    await world.happen(1)
    await receiver.waitFor(1)
    await events(world, jobOf(receiver, 0), 'job.dead', 1)
    const [disabled] = await events(world, `whep-${endpointId}`, 'webhook.endpoint.disabled', 1)
    t.match(disabled!.data, { reason: 'gone', messageId: receiver.received[0]!.id })
    t.equal(disabled!.metadata.orgId, world.orgId, 'in the organization\'s audit log, as every endpoint event')
    await settled(world)
    const position = await world.happen(2, 1)
    await world.fannedOut(position)
    await settled(world)
    const { rows } = await sql.query<{ status: string }>(
      'SELECT status FROM outbound_messages WHERE endpoint_id = $1 ORDER BY pos_major, pos_minor', [endpointId])
    t.same(rows.map((r) => r.status), ['gone', 'held', 'held'])
    clock.advance(2 * 3_600_000)
    world.runtime.jobs.runner.wake()
    await new Promise((resolve) => setTimeout(resolve, 300))
    t.equal(receiver.received.length, 1, 'nothing more was sent')
    const scraped = await world.runtime.metrics.registry.metrics()
    t.match(scraped, /ledgerline_webhook_deliveries_total\{outcome="gone"\} 1\n/, 'the 410 counted as gone')
    t.match(scraped, /ledgerline_webhook_deliveries_total\{outcome="refused"\} 0\n/, 'every outcome exists from the start')
    t.match(scraped, /ledgerline_webhook_endpoints_disabled [1-9]\d*\n/, 'the disabled endpoint is counted')
    t.match(scraped, /ledgerline_webhook_attempt_duration_seconds_count [1-9]\d*\n/)
    t.match(scraped, /ledgerline_webhook_oldest_unattempted_age_seconds 0\n/, 'a message attempted, and held ones, are not counted')
  })

  await t.test('failing for five days: disabled, held, probed, enabled and its backlog sent in order without a human', async (t) => {
    const receiver = await openReceiver(t)
    receiver.answer({ status: 500 })
    const { endpointId } = await world.endpoint(receiver.url, ['ai.test.happened'], undefined, t)
    await world.happen(1, 100)
    await receiver.waitFor(1)
    const [failed] = await events(world, jobOf(receiver, 0), 'job.attempt.failed', 1)
    await settled(world)
    // Its next attempt, five days on (the receiver failed all along): the endpoint has failed for five days.
    runAt(new Date(Date.parse((failed!.data as { failedAt: string }).failedAt) + 5 * DAY).toISOString())
    await receiver.waitFor(2)
    const [disabled] = await events(world, `whep-${endpointId}`, 'webhook.endpoint.disabled', 1)
    t.match(disabled!.data, { reason: 'failing', failingSince: (failed!.data as { failedAt: string }).failedAt })
    await settled(world)
    await world.fannedOut(await world.happen(3, 101))
    await settled(world)
    const statuses = await sql.query<{ status: string }>('SELECT status FROM outbound_messages WHERE endpoint_id = $1', [endpointId])
    t.same(statuses.rows.map((r) => r.status), ['held', 'held', 'held', 'held'], 'held, no attempt spent')
    t.equal(receiver.received.length, 2)
    receiver.answer({ status: 200 })
    clock.advance(PROBE_DELAYS_MS[0]!)
    world.runtime.jobs.runner.wake()
    await receiver.waitFor(6)
    const [enabled] = await events(world, `whep-${endpointId}`, 'webhook.endpoint.enabled', 1)
    t.same(enabled!.data, { by: 'probe' })
    const order = receiver.received.slice(2).map((r) => (JSON.parse(r.body) as { data: { fields: { n: number } } }).data.fields.n)
    t.same(order, [100, 101, 102, 103], 'the probe sent the oldest, the backlog the rest, in order')
    await settled(world)
    t.match((await world.call('GET', `/v1/orgs/${world.orgId}/webhooks/endpoints/${endpointId}`)).json(),
      { state: 'active', disabledReason: null, failingSince: null })
  })
})

