/**
 * webhook-delivery and webhook-latency, against a Ledgerline server running
 * its reactors and job runners (its own process) and the receiver of
 * webhook-receiver.ts (this process). The bench appends events to the log
 * itself, as a command would: each a copy of a real tool call's
 * `ai.tool.call.requested` on a stream of its own (so the tool_calls
 * projection takes it as a new call), in the owner's organization. From
 * there everything is the server's: the `webhook_fan_out` reactor writes a
 * message per subscribed endpoint and schedules its `webhook.deliver` job, a
 * runner claims it, signs and POSTs it, and records the attempt.
 *
 * - delivery: `events` appended at once, from `writers` writers; deliveries/s
 *   from the first append until the receiver has every message and the log
 *   every attempt (`webhook.attempt.recorded`). The peer: a plain loop of
 *   signed fetches (the standardwebhooks package, the same body size) to the
 *   same receiver, from as many callers as there are endpoints.
 * - latency: one endpoint left; events appended open-loop at `rate` per
 *   second; each event's latency runs from when its append was due to its
 *   message's arrival at the receiver.
 */
import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import type { Runtime } from '../../src/runtime.ts'
import { metadataFor, systemCommand } from '../../src/domain/envelope.ts'
import { toolCallStreamId } from '../../src/domain/tools/call.ts'
import { log } from './log.ts'
import { openLoop } from './open-loop.ts'
import { measure, percentile, type Measurement } from './results.ts'
import type { Receiver } from './webhook-receiver.ts'

export const SUBSCRIBED_TYPE = 'ai.tool.call.requested'

export interface Endpoint {
  readonly endpointId: string
  readonly secret: string
  readonly path: string
}

export interface DeliveryFixture {
  readonly runtime: Runtime
  readonly serverUrl: string
  readonly orgId: string
  readonly userId: string
  readonly token: string
  readonly receiver: Receiver
  readonly endpoints: readonly Endpoint[]
  /** The data of a real call's `ai.tool.call.requested`, appended again and again. */
  readonly model: Readonly<Record<string, unknown>>
}

async function api<T> (fixture: Pick<DeliveryFixture, 'serverUrl' | 'token'>, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${fixture.serverUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${fixture.token}`, ...body === undefined ? {} : { 'content-type': 'application/json' } },
    ...body === undefined ? {} : { body: JSON.stringify(body) }
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`)
  return JSON.parse(text) as T
}

/** One real tool call (`org.get`) whose `ai.tool.call.requested` is the model, and `count` endpoints subscribed to that type. */
export async function subscribe (
  base: Omit<DeliveryFixture, 'endpoints' | 'model'>, count: number
): Promise<DeliveryFixture> {
  const call = await api<{ callId: string }>(base, 'POST', `/v1/orgs/${base.orgId}/tools/org.get/calls`, { input: {} })
  const requested = (await base.runtime.store.readStream(toolCallStreamId(call.callId))).find((e) => e.type === SUBSCRIBED_TYPE)
  if (requested === undefined) throw new Error(`call ${call.callId} has no ${SUBSCRIBED_TYPE}`)
  const endpoints: Endpoint[] = []
  for (let i = 0; i < count; i++) {
    const path = `/endpoint-${i + 1}`
    const created = await api<{ endpointId: string, secret: string }>(base, 'POST', `/v1/orgs/${base.orgId}/webhooks/endpoints`,
      { url: `${base.receiver.url}${path}`, description: `bench receiver ${i + 1}`, eventTypes: [SUBSCRIBED_TYPE] })
    endpoints.push({ endpointId: created.endpointId, secret: created.secret, path })
  }
  return { ...base, endpoints, model: requested.data as Record<string, unknown> }
}

/** Deletes every endpoint but the first. */
export async function keepOneEndpoint (fixture: DeliveryFixture): Promise<DeliveryFixture> {
  for (const endpoint of fixture.endpoints.slice(1)) {
    await api(fixture, 'DELETE', `/v1/orgs/${fixture.orgId}/webhooks/endpoints/${endpoint.endpointId}`)
  }
  return { ...fixture, endpoints: fixture.endpoints.slice(0, 1) }
}

/** Appends one copy of the model on a new stream; answers the event's id (the payload's `data.eventId`). */
async function appendOne (fixture: DeliveryFixture): Promise<string> {
  const command = { ...systemCommand('bench-webhooks'), actor: { type: 'user' as const, id: fixture.userId }, orgId: fixture.orgId }
  const metadata = metadataFor(command, 0)
  await fixture.runtime.store.append(toolCallStreamId(crypto.randomUUID()),
    [{ id: metadata.eventId, type: SUBSCRIBED_TYPE, data: fixture.model, metadata }], { expectedVersion: 'no_stream' })
  return metadata.eventId
}

async function recordedAttempts (fixture: DeliveryFixture): Promise<{ all: number, delivered: number }> {
  const { rows } = await fixture.runtime.sql.query<{ all: number, delivered: number }>(
    `SELECT count(*)::int AS all, count(*) FILTER (WHERE data->>'outcome' = 'delivered')::int AS delivered
       FROM events WHERE type = 'webhook.attempt.recorded'`)
  return rows[0]!
}

/** Polls `done` every 50 ms until it holds; answers when it first did (performance.now() ms). */
async function until (label: string, timeoutMs: number, done: () => Promise<boolean> | boolean): Promise<number> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    if (await done()) return performance.now()
    if (performance.now() > deadline) throw new Error(`${label}: not done within ${timeoutMs / 1000} s`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export interface DeliveryRun {
  readonly events: number
  readonly deliveries: number
  readonly seconds: number
  readonly rate: number
  /** POSTs the receiver answered beyond one per message (an at-least-once repeat). */
  readonly repeats: number
  /** Attempts recorded that were not `delivered`. */
  readonly failedAttempts: number
}

/** `events` appended from `writers` writers; done when the receiver has every message and the log every attempt. */
export async function deliveryRun (fixture: DeliveryFixture, events: number, writers: number, timeoutMs: number): Promise<DeliveryRun> {
  const before = await recordedAttempts(fixture)
  fixture.receiver.reset()
  const expected = events * fixture.endpoints.length
  const started = performance.now()
  await measure({ concurrency: writers, ops: events }, () => appendOne(fixture).then(() => {}))
  await until('the receiver', timeoutMs, () => fixture.receiver.messages() >= expected)
  let after = before
  const finished = await until('the attempts recorded', timeoutMs, async () => {
    after = await recordedAttempts(fixture)
    return after.delivered - before.delivered >= expected
  })
  const seconds = (finished - started) / 1000
  const run = {
    events, deliveries: expected, seconds, rate: expected / seconds,
    repeats: fixture.receiver.posts() - fixture.receiver.messages(),
    failedAttempts: (after.all - before.all) - (after.delivered - before.delivered)
  }
  log(`    ${events} events × ${fixture.endpoints.length} endpoints: ${Math.round(run.rate).toLocaleString('en-US')} deliveries/s ` +
    `(${expected} in ${seconds.toFixed(1)} s; ${run.repeats} repeats, ${run.failedAttempts} failed attempts)`)
  return run
}

/** Checks the messages the receiver kept against their endpoints' secrets, as a receiver would (standardwebhooks). */
export function verifySamples (fixture: DeliveryFixture): number {
  const samples = fixture.receiver.samples()
  for (const sample of samples) {
    const endpoint = fixture.endpoints.find((e) => e.path === sample.path)
    if (endpoint === undefined) throw new Error(`a message reached ${sample.path}, which no endpoint names`)
    new Webhook(endpoint.secret).verify(sample.body, sample.headers)
  }
  if (samples.length === 0) throw new Error('the receiver kept no message to verify')
  return samples.length
}

/** The peer: signed fetches of a body as long as a delivered one, to the same receiver, from `callers` callers. */
export async function peerRun (fixture: DeliveryFixture, callers: number, seconds: number): Promise<Measurement> {
  const body = fixture.receiver.samples()[0]?.body ?? '{}'
  const webhook = new Webhook(`whsec_${randomBytes(32).toString('base64')}`)
  const url = `${fixture.receiver.url}/peer`
  return measure({ concurrency: callers, seconds }, async () => {
    const id = `msg_${crypto.randomUUID()}`
    const at = new Date()
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': webhook.sign(id, at, body)
      },
      body
    })
    await response.arrayBuffer()
    if (response.status !== 204) throw new Error(`the receiver answered ${response.status}`)
  })
}

export interface LatencyRun {
  readonly offered: number
  readonly events: number
  /** From each append's due time to its message's arrival, ms. */
  readonly latencies: readonly number[]
  readonly maxLagMs: number
}

/** Events appended open-loop at `rate` per second for `seconds` to the one endpoint left. */
export async function latencyRun (fixture: DeliveryFixture, rate: number, seconds: number, timeoutMs: number): Promise<LatencyRun> {
  fixture.receiver.reset()
  const ids: string[] = []
  const result = await openLoop(rate, seconds, async (i) => { ids[i] = await appendOne(fixture) })
  if (result.errors > 0) throw new Error(`${result.errors} appends failed: ${String(result.firstError)}`)
  await until('the latency run\'s messages', timeoutMs, () => ids.every((id) => fixture.receiver.firstArrival(id) !== undefined))
  const latencies = ids.map((id, i) => fixture.receiver.firstArrival(id)! - result.intended[i]!)
  const ms = (value: number): string => `${value.toFixed(1)} ms`
  log(`    ${ids.length} events at ${rate}/s: p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))}, ` +
    `max ${ms(Math.max(...latencies))} (the load's own lag at most ${ms(result.maxLagMs)})`)
  return { offered: rate, events: ids.length, latencies, maxLagMs: result.maxLagMs }
}
