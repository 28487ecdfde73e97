/**
 * Outbound webhook endpoints over HTTP, on PGlite and PostgreSQL: created
 * with a whsec_ secret shown once (fingerprints everywhere after, never the
 * secret in an event), URLs and filters checked at write time, changed,
 * disabled and deleted, another organization's endpoint not found, and the
 * pages of endpoints and of attempts at their boundaries.
 */
import t, { type Test } from 'tap'
import type { SqlClient } from '../src/sql/client.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { until } from './helpers/jobs-harness.ts'
import { problem } from './helpers/http.ts'
import { Webhook } from 'standardwebhooks'
import { openReceiver, openWebhookWorld, type Received, type WebhookWorld } from './helpers/webhook-receiver.ts'

/** Every item of a list, page by page with `limit`; checks each page's size and that the cursor ends. */
async function walk (t: Test, world: WebhookWorld, path: string, limit: number): Promise<Array<Record<string, unknown>>> {
  const items: Array<Record<string, unknown>> = []
  let cursor: string | null = null
  for (let pages = 0; pages < 1000; pages++) {
    const response = await world.call('GET', `${path}?limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`)
    t.equal(response.statusCode, 200, response.body)
    const page = response.json<{ items: Array<Record<string, unknown>>, nextCursor: string | null }>()
    t.ok(page.items.length <= limit)
    items.push(...page.items)
    cursor = page.nextCursor
    if (cursor === null) return items
    t.equal(page.items.length, limit, 'a page with a next cursor is full')
  }
  throw new Error('the pages never ended')
}

await forEachDatabase(t, async (t, { sql }) => {
  const world = await openWebhookWorld(t, sql, { runJobs: true })
  const { orgId } = world
  const base = `/v1/orgs/${orgId}/webhooks`
  const receiver = await openReceiver(t)

  await t.test('an endpoint is created with its secret shown once; reads show fingerprints, the log never the secret', async (t) => {
    const created = await world.call('POST', `${base}/endpoints`, {
      body: { url: receiver.url, description: 'SIEM', eventTypes: ['rbac.*', 'ai.tool.call.requested'] }
    })
    t.equal(created.statusCode, 201, created.body)
    const body = created.json<{ endpointId: string, secret: string, secretFingerprint: string, position: string }>()
    t.match(body.secret, /^whsec_[A-Za-z0-9+/=]{40,}$/)
    await world.runtime.runner.waitFor(await world.runtime.store.committedHeadPosition(), 10_000)
    const shown = await world.call('GET', `${base}/endpoints/${body.endpointId}`)
    t.equal(shown.statusCode, 200, shown.body)
    t.notMatch(shown.body, body.secret.slice(6))
    t.match(shown.json(), {
      endpointId: body.endpointId, state: 'active', disabledReason: null, failingSince: null, lastSuccessAt: null,
      eventTypes: ['rbac.*', 'ai.tool.call.requested'], secrets: [{ fingerprint: body.secretFingerprint, expiresAt: null }]
    })
    const stream = await world.runtime.store.readStream(`whep-${body.endpointId}`)
    t.equal(stream.length, 1)
    t.notMatch(JSON.stringify(stream.map((e) => e.data)), body.secret.slice(6), 'the event carries the fingerprint only')
    const { rows } = await sql.query<{ n: string }>('SELECT count(*)::text AS n FROM events WHERE data::text LIKE $1',
      [`%${body.secret.slice(6, 30)}%`])
    t.equal(rows[0]!.n, '0', 'no event anywhere holds the secret')
  })

  await t.test('URLs and filters are refused at write time with stable codes, and nothing is written', async (t) => {
    const before = await world.runtime.store.committedHeadPosition()
    const refused = async (body: object, code: string): Promise<void> => {
      problem(t, await world.call('POST', `${base}/endpoints`, { body }), 400, code)
    }
    await refused({ url: 'ftp://example.com/hook', eventTypes: ['*'] }, 'webhook.url_invalid')
    await refused({ url: 'https://user:pass@example.com/hook', eventTypes: ['*'] }, 'webhook.url_invalid')
    await refused({ url: 'not a url', eventTypes: ['*'] }, 'webhook.url_invalid')
    await refused({ url: `https://example.com/${'a'.repeat(2040)}`, eventTypes: ['*'] }, 'http.validation')
    await refused({ url: 'https://example.com/hook', eventTypes: ['billing.*'] }, 'webhook.unknown_event_type')
    await refused({ url: 'https://example.com/hook', eventTypes: ['rbac.role.exploded'] }, 'webhook.unknown_event_type')
    await refused({ url: 'https://example.com/hook', eventTypes: [] }, 'http.validation')
    await refused({ url: 'https://example.com/hook', eventTypes: ['RBAC.*'] }, 'http.validation')
    t.same(await world.runtime.store.committedHeadPosition(), before, 'nothing was appended')
  })

  await t.test('an endpoint is changed, turned off and on, and deleted; then it is not found', async (t) => {
    const { endpointId } = await world.endpoint(receiver.url, ['rbac.*'])
    const path = `${base}/endpoints/${endpointId}`
    t.equal((await world.call('PATCH', path, { body: { description: 'changed', eventTypes: ['impersonation.*'] } })).statusCode, 200)
    t.equal((await world.call('PATCH', path, { body: { enabled: false } })).statusCode, 200)
    const unchanged = await world.call('PATCH', path, { body: { enabled: false } })
    t.equal(unchanged.json().position, null, 'turning off what is off writes nothing')
    const types = (await world.runtime.store.readStream(`whep-${endpointId}`)).map((e) => e.type)
    t.same(types, ['webhook.endpoint.created', 'webhook.endpoint.updated', 'webhook.endpoint.disabled'])
    await world.runtime.runner.waitFor(await world.runtime.store.committedHeadPosition(), 10_000)
    t.match((await world.call('GET', path)).json(), { state: 'disabled', disabledReason: 'manual', description: 'changed' })
    t.equal((await world.call('PATCH', path, { body: { enabled: true } })).statusCode, 200)
    t.equal((await world.call('DELETE', path)).statusCode, 200)
    await world.runtime.runner.waitFor(await world.runtime.store.committedHeadPosition(), 10_000)
    problem(t, await world.call('GET', path), 404, 'webhook.endpoint_not_found')
    problem(t, await world.call('PATCH', path, { body: { description: 'x' } }), 404, 'webhook.endpoint_not_found')
    problem(t, await world.call('DELETE', path), 404, 'webhook.endpoint_not_found')
    t.same(await world.runtime.webhooks.endpoints.secrets.active(endpointId), [], 'its secrets are gone')
  })

  await t.test('another organization\'s endpoint is not found, whatever the route', async (t) => {
    const other = await world.newOwner('other@b.example', 'Org B')
    const { endpointId } = await world.endpoint(receiver.url, ['ai.*'], other)
    const path = `${base}/endpoints/${endpointId}`
    problem(t, await world.call('GET', path), 404, 'webhook.endpoint_not_found')
    problem(t, await world.call('GET', `${path}/attempts`), 404, 'webhook.endpoint_not_found')
    problem(t, await world.call('PATCH', path, { body: { description: 'mine now' } }), 404, 'webhook.endpoint_not_found')
    problem(t, await world.call('POST', `${path}/secret/rotate`), 404, 'webhook.endpoint_not_found')
    problem(t, await world.call('POST', `${path}/recover`, { body: { since: '2026-01-01' } }), 404, 'webhook.endpoint_not_found')
    problem(t, await world.call('DELETE', path), 404, 'webhook.endpoint_not_found')
    const listed = await world.call('GET', `${base}/endpoints?limit=200`)
    t.notOk(listed.json<{ items: Array<{ endpointId: string }> }>().items.some((e) => e.endpointId === endpointId))
  })

  await t.test('the subscribable event types are listed, webhook events not among them', async (t) => {
    const types = (await world.call('GET', `${base}/event-types`)).json<{ items: string[] }>().items
    t.ok(types.includes('rbac.role.created') && types.includes('impersonation.session.started') && types.includes('ai.tool.call.requested'))
    t.notOk(types.some((type) => type.startsWith('webhook.') || type.startsWith('job.') || type.startsWith('identity.')))
  })

  await t.test('signatures verify with standardwebhooks on the receiver, with the old and the new secret during a rotation', async (t) => {
    const hook = await openReceiver(t)
    const { endpointId, secret } = await world.endpoint(hook.url, ['ai.test.happened'], undefined, t)
    await world.happen(1)
    const [first] = await hook.waitFor(1)
    const headersOf = (r: Received): Record<string, string> => ({
      'webhook-id': String(r.headers['webhook-id']), 'webhook-timestamp': String(r.headers['webhook-timestamp']),
      'webhook-signature': String(r.headers['webhook-signature'])
    })
    t.match(first!.headers['webhook-signature'], /^v1,[A-Za-z0-9+/=]+$/, 'one signature before the rotation')
    t.match(new Webhook(secret).verify(first!.body, headersOf(first!)), { type: 'ai.test.happened' })
    const rotated = await world.call('POST', `${base}/endpoints/${endpointId}/secret/rotate`)
    t.equal(rotated.statusCode, 200, rotated.body)
    const { secret: next, previousExpiresAt } = rotated.json<{ secret: string, previousExpiresAt: string }>()
    t.not(next, secret)
    t.ok(Math.abs(Date.parse(previousExpiresAt) - Date.now() - 86_400_000) < 60_000, 'the old secret signs for 24 h more')
    await world.happen(1, 1)
    const [, second] = await hook.waitFor(2)
    t.equal(String(second!.headers['webhook-signature']).split(' ').length, 2, 'two signatures during the rotation')
    t.match(new Webhook(secret).verify(second!.body, headersOf(second!)), { data: { fields: { n: 1 } } }, 'the old secret verifies')
    t.match(new Webhook(next).verify(second!.body, headersOf(second!)), { data: { fields: { n: 1 } } }, 'the new secret verifies')
    const stranger = new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`)
    t.throws(() => stranger.verify(second!.body, headersOf(second!)), 'another secret does not')
    await world.runtime.runner.waitFor(await world.runtime.store.committedHeadPosition(), 10_000)
    const shown = (await world.call('GET', `${base}/endpoints/${endpointId}`)).json<{ secrets: Array<{ expiresAt: string | null }> }>()
    t.equal(shown.secrets.length, 2)
    t.equal(shown.secrets[1]!.expiresAt, previousExpiresAt)
  })

  await t.test('recover re-enables a gone endpoint and sends what was not delivered since, in order; resend sends one again', async (t) => {
    const hook = await openReceiver(t)
    hook.answer({ status: 410 })
    const { endpointId } = await world.endpoint(hook.url, ['ai.test.happened'], undefined, t)
    const since = new Date().toISOString()
    await world.happen(1, 50)
    await hook.waitFor(1)
    const disabled = async (): Promise<boolean> =>
      (await world.runtime.store.readStream(`whep-${endpointId}`)).some((e) => e.type === 'webhook.endpoint.disabled')
    await until('the endpoint to be disabled by the 410', disabled, 30_000)
    await world.runtime.runner.waitFor(await world.runtime.store.committedHeadPosition(), 10_000)
    await world.fannedOut(await world.happen(2, 51))
    await world.runtime.runner.waitFor(await world.runtime.store.committedHeadPosition(), 10_000)
    hook.answer({ status: 200 })
    const recovered = await world.call('POST', `${base}/endpoints/${endpointId}/recover`, { body: { since } })
    t.equal(recovered.statusCode, 202, recovered.body)
    await hook.waitFor(4)
    t.same(hook.received.map((r) => (JSON.parse(r.body) as { data: { fields: { n: number } } }).data.fields.n), [50, 50, 51, 52])
    const messageId = hook.received[3]!.id
    const resent = await world.call('POST', `${base}/messages/${messageId}/resend`)
    t.equal(resent.statusCode, 202, resent.body)
    const [, , , , again] = await hook.waitFor(5)
    t.equal(again!.id, messageId, 'the same webhook-id')
    t.equal(again!.body, hook.received[3]!.body, 'the same body')
    problem(t, await world.call('POST', `${base}/messages/msg_0000/resend`), 404, 'webhook.message_not_found')
    problem(t, await world.call('POST', `${base}/messages/nope/resend`), 400, 'http.validation')
  })

  await t.test('pages of endpoints at 0, 1, page size -1, page size, +1 and 250, with pages of 7 and 200', async (t) => {
    const org = await world.newOwner('pages@c.example', 'Org C')
    const list = `/v1/orgs/${org.orgId}/webhooks/endpoints`
    const as = { token: org.token }
    let made: string[] = []
    for (const count of [0, 1, 6, 7, 8, 250]) {
      while (made.length < count) {
        const created = await world.call('POST', list, { ...as, body: { url: `${receiver.url}/${made.length}`, eventTypes: ['*'] } })
        made = [created.json<{ endpointId: string }>().endpointId, ...made]
      }
      await world.runtime.runner.waitFor(await world.runtime.store.committedHeadPosition(), 10_000)
      for (const limit of [7, 200]) {
        const items = await walkAs(t, world, list, limit, org.token)
        t.equal(items.length, count, `${count} endpoints in pages of ${limit}`)
        t.equal(new Set(items.map((e) => e.endpointId)).size, count, 'none twice')
        t.same(new Set(items.map((e) => e.endpointId)), new Set(made))
      }
    }
    problem(t, await world.call('GET', `${list}?cursor=garbage`, as), 400, 'http.invalid_cursor')
    problem(t, await world.call('GET', `${list}?limit=0`, as), 400, 'http.validation')
    problem(t, await world.call('GET', `${list}?limit=201`, as), 400, 'http.validation')
  })

  await t.test('pages of attempts at 0, 1, page size -1, page size, +1 and 120, newest first', async (t) => {
    const { endpointId } = await world.endpoint(receiver.url, ['ai.test.happened'])
    const path = `${base}/endpoints/${endpointId}/attempts`
    let sent = 0
    for (const count of [0, 1, 6, 7, 8, 120]) {
      if (count > sent) {
        const before = receiver.received.length
        await world.happen(count - sent, sent)
        await receiver.waitFor(before + count - sent, 120_000)
        sent = count
      }
      await delivered(sql, endpointId, count)
      for (const limit of [7, 200]) {
        const items = await walk(t, world, path, limit)
        t.equal(items.length, count, `${count} attempts in pages of ${limit}`)
        t.equal(new Set(items.map((a) => a.messageId)).size, count, 'one attempt per message, none twice')
        const odd = items.filter((a) => !(a.outcome === 'delivered' && a.status === 200 && a.attempt === 1 && a.errorCode === null))
        t.same(odd, [], 'each delivered at its first attempt')
        const times = items.map((a) => Date.parse(String(a.at)))
        t.same(times, [...times].sort((a, b) => b - a), 'newest first')
      }
    }
  })
})

async function walkAs (t: Test, world: WebhookWorld, path: string, limit: number, token: string) {
  return walk(t, { ...world, call: (method, url, options = {}) => world.call(method, url, { ...options, token }) }, path, limit)
}

/** Waits until the read model shows `count` delivered attempts of the endpoint; says what it shows if it never does. */
async function delivered (sql: SqlClient, endpointId: string, count: number): Promise<void> {
  const deadline = Date.now() + 60_000
  for (;;) {
    const { rows } = await sql.query<{ outcome: string, n: number }>(
      `SELECT outcome, error_code, count(*)::int AS n, max(duration_ms) AS ms FROM outbound_attempts
        WHERE endpoint_id = $1 GROUP BY 1, 2`, [endpointId])
    if (rows.length === (count === 0 ? 0 : 1) && (count === 0 || (rows[0]!.outcome === 'delivered' && rows[0]!.n === count))) return
    if (Date.now() > deadline) throw new Error(`not ${count} delivered attempts: ${JSON.stringify(rows)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
