/**
 * Deliveries on an injected clock (the runtime's `now`, which jobs and
 * attempts decide by), on PGlite and PostgreSQL: Svix's whole schedule
 * followed within its jitter and the message exhausted after the eighth
 * attempt (no ninth), Retry-After honoured, a receiver answering 500 then
 * 200, a 410 disabling the endpoint, an endpoint failing for five days
 * disabled, its messages held, then probed, enabled and sent its backlog in
 * order, without a human, and a recovery's order kept against a message
 * whose delivery job had not run yet.
 */
import t from 'tap'
import { deliveryJobId } from '../src/application/webhooks/outbound/fan-out.ts'
import { DELIVERY_DELAYS_MS, DELIVERY_JITTER, PROBE_DELAYS_MS } from '../src/application/webhooks/outbound/jobs.ts'
import { jobView } from '../src/projections/jobs/queries.ts'
import type { RecordedEvent } from '../src/eventstore/types.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { openReceiver, openWebhookWorld, type Received, type Receiver, type WebhookWorld } from './helpers/webhook-receiver.ts'

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

/** The `n` of each test event the receiver got, in the order they arrived. */
function numbers (received: readonly Received[]): number[] {
  return received.map((r) => (JSON.parse(r.body) as { data: { fields: { n: number } } }).data.fields.n)
}

async function statuses (world: WebhookWorld, endpointId: string): Promise<string[]> {
  const { rows } = await world.runtime.sql.query<{ status: string }>(
    'SELECT status FROM outbound_messages WHERE endpoint_id = $1 ORDER BY pos_major, pos_minor', [endpointId])
  return rows.map((row) => row.status)
}

await forEachDatabase(t, async (t, { sql }) => {
  const clock = testClock()
  const world = await openWebhookWorld(t, sql, { now: clock.now })
  const metric = async (w: WebhookWorld, name: string): Promise<number> => {
    const found = new RegExp(`^${name} (\\d+)$`, 'm').exec(await w.runtime.metrics.registry.metrics())
    return Number(found?.[1] ?? Number.NaN)
  }
  /** Moves the clock to `at` and wakes the job runner, which claims what is due then. */
  const runAt = (at: string): void => {
    clock.set(Date.parse(at))
    world.runtime.jobs.runner.wake()
  }

  await t.test('the whole schedule: 8 attempts after 0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h within ±10%, then exhausted',
    async (t) => {
    const exhaustedBefore = await metric(world, 'ledgerline_webhook_messages_exhausted_total')
    const receiver = await openReceiver(t)
    receiver.answer({ status: 500, body: 'down for maintenance' })
    const { endpointId } = await world.endpoint(receiver.url, ['ai.test.happened'], undefined, t)
    await world.happen(1)
    await receiver.waitFor(1)
    const job = jobOf(receiver, 0)
    const message = `whmsg-${receiver.received[0]!.id}`
    for (const [index, delay] of DELIVERY_DELAYS_MS.entries()) {
      const failures = await events(world, job, 'job.attempt.failed', index + 1)
      const failed = failures[index]!.data as { failedAt: string, retryAt: string }
      const waited = Date.parse(failed.retryAt) - Date.parse(failed.failedAt)
      t.ok(waited >= Math.floor(delay * (1 - DELIVERY_JITTER)) && waited <= Math.ceil(delay * (1 + DELIVERY_JITTER)),
        `attempt ${index + 2} after ${waited} ms, within ${delay} ms ±10%`)
      if (index === DELIVERY_DELAYS_MS.length - 1) {
        await settled(world)
        t.same(await statuses(world, endpointId), ['pending'], 'the seventh attempt failed: the message waits for its eighth')
        t.equal((await world.runtime.store.readStream(message)).filter((e) => e.type === 'webhook.message.exhausted').length, 0)
      }
      runAt(failed.retryAt)
      await receiver.waitFor(index + 2)
    }
    const [ended] = await events(world, job, 'job.attempt.succeeded', 1)
    t.match(ended!.data, { attempt: 8, result: { outcome: 'exhausted', attempts: 8, errorCode: 'http.500' } },
      'the eighth failure ends the job with the message exhausted, not dead')
    t.equal((await world.runtime.store.readStream(job)).filter((e) => e.type === 'job.attempt.failed').length, 7,
      'seven failures asked for a retry; the eighth did not')
    const [exhausted] = await events(world, message, 'webhook.message.exhausted', 1)
    t.same(exhausted!.data, { attempts: 8, errorCode: 'http.500' })
    clock.advance(2 * DELIVERY_DELAYS_MS.at(-1)!)
    world.runtime.jobs.runner.wake()
    await new Promise((resolve) => setTimeout(resolve, 300))
    t.equal(receiver.received.length, 8, 'no ninth attempt, a day later')
    await settled(world)
    t.equal((await jobView(sql, job.slice('job-'.length)))?.state, 'succeeded', 'nothing left waiting')
    t.equal(new Set(receiver.received.map((r) => r.id)).size, 1, 'the same webhook-id on every attempt')
    t.equal(new Set(receiver.received.map((r) => r.body)).size, 1, 'the same body on every attempt')
    const attempts = await events(world, `whmsg-${receiver.received[0]!.id}`, 'webhook.attempt.recorded', 8)
    t.same(attempts.map((e) => (e.data as { attempt: number }).attempt), [1, 2, 3, 4, 5, 6, 7, 8])
    t.ok(attempts.every((e) => (e.data as { status: number, excerpt: string }).status === 500))
    t.equal((attempts[0]!.data as { excerpt: string }).excerpt, 'down for maintenance')
    t.same(await statuses(world, endpointId), ['exhausted'])
    const path = `/v1/orgs/${world.orgId}/webhooks/endpoints/${endpointId}/attempts`
    t.match((await world.call('GET', `${path}?limit=1`)).json().items, [{ attempt: 8, outcome: 'failed', messageStatus: 'exhausted' }],
      'the attempts show where the message stands')
    t.equal(await metric(world, 'ledgerline_webhook_messages_exhausted_total'), exhaustedBefore + 1, 'counted once')
    receiver.answer({ status: 204 })
    const resent = await world.call('POST', `/v1/orgs/${world.orgId}/webhooks/messages/${receiver.received[0]!.id}/resend`)
    t.equal(resent.statusCode, 202)
    await receiver.waitFor(9)
    t.equal(receiver.received[8]!.id, receiver.received[0]!.id, 'a resend still sends it, with its webhook-id')
    await events(world, message, 'webhook.attempt.recorded', 9)
    await settled(world)
    t.same(await statuses(world, endpointId), ['delivered'])
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

  await t.test('after a recovery, a message whose delivery job had not run waits behind the older one: sent in order', async (t) => {
    const receiver = await openReceiver(t)
    receiver.answer({ status: 410 }, { status: 204 })
    const { endpointId } = await world.endpoint(receiver.url, ['ai.test.happened'], undefined, t)
    await world.happen(1, 200)
    await receiver.waitFor(1)
    await events(world, `whep-${endpointId}`, 'webhook.endpoint.disabled', 1)
    await events(world, jobOf(receiver, 0), 'job.dead', 1)
    await settled(world)
    const { runner } = world.runtime.jobs
    await runner.stop()
    const recovered = clock.now()
    // Messages are stamped by the wall clock or the test's, which is days ahead: since a day before the earlier of them.
    const since = new Date(Math.min(Date.now(), recovered.getTime()) - DAY).toISOString()
    t.equal((await world.call('POST', `/v1/orgs/${world.orgId}/webhooks/endpoints/${endpointId}/recover`, { body: { since } })).statusCode,
      202)
    await settled(world)
    // The next event is fanned out to the active endpoint (a delivery job) and its job is due before the recovery's backlog,
    // as when the fan-out lags behind the recovery: the job runs first.
    clock.set(recovered.getTime() - 60_000)
    await world.fannedOut(await world.happen(1, 201))
    await settled(world)
    const [, later] = (await sql.query<{ message_id: string }>(
      'SELECT message_id FROM outbound_messages WHERE endpoint_id = $1 ORDER BY pos_major, pos_minor', [endpointId])).rows
    await runner.start()
    runner.wake()
    const [held] = await events(world, `job-${deliveryJobId(later!.message_id)}`, 'job.attempt.succeeded', 1)
    t.match(held!.data, { result: { outcome: 'held', reason: 'behind_older' } })
    t.equal(receiver.received.length, 1, 'nothing sent before the older message')
    await settled(world)
    t.same(await statuses(world, endpointId), ['gone', 'held'])
    runAt(recovered.toISOString())
    await receiver.waitFor(3)
    t.same(numbers(receiver.received.slice(1)), [200, 201], 'the refused message first, then the one held behind it')
    await events(world, `whmsg-${later!.message_id}`, 'webhook.attempt.recorded', 1)
    await settled(world)
    t.same(await statuses(world, endpointId), ['delivered', 'delivered'])
    await new Promise((resolve) => setTimeout(resolve, 300))
    t.equal(receiver.received.length, 3, 'each sent once')
  })

  await t.test('an endpoint turned off by hand and on again sends what was held meanwhile, in order', async (t) => {
    const receiver = await openReceiver(t)
    const { endpointId } = await world.endpoint(receiver.url, ['ai.test.happened'], undefined, t)
    const path = `/v1/orgs/${world.orgId}/webhooks/endpoints/${endpointId}`
    const { runner } = world.runtime.jobs
    await runner.stop()
    await world.fannedOut(await world.happen(2, 300))
    t.equal((await world.call('PATCH', path, { body: { enabled: false } })).statusCode, 200)
    await settled(world)
    await runner.start()
    runner.wake()
    for (const { message_id: id } of (await sql.query<{ message_id: string }>(
      'SELECT message_id FROM outbound_messages WHERE endpoint_id = $1', [endpointId])).rows) {
      await events(world, `job-${deliveryJobId(id)}`, 'job.attempt.succeeded', 1)
    }
    await settled(world)
    t.same(await statuses(world, endpointId), ['held', 'held'], 'off: held, nothing sent')
    t.equal(receiver.received.length, 0)
    t.equal((await world.call('PATCH', path, { body: { enabled: true } })).statusCode, 200)
    await receiver.waitFor(2)
    t.same(numbers(receiver.received), [300, 301])
  })
})
