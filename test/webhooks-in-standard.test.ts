/**
 * Standard Webhooks sources on PGlite and PostgreSQL: an organization
 * registers a source (its whsec_ secret shown once, fingerprints after),
 * messages signed with the standardwebhooks package's Webhook.sign are stored
 * once and processed (applied), every refusal answers its code and stores
 * nothing, bodies of 1 MiB pass and one byte more does not, the rate limit
 * refuses at burst + 1, a rotated secret keeps the old one for 24 hours, and
 * a disabled source is unknown.
 */
import t from 'tap'
import { createSource, rotateSourceSecret } from '../src/application/webhooks/inbound/sources.ts'
import { messageStreamId } from '../src/application/webhooks/inbound/receive.ts'
import { webhookSecretStoreOf } from '../src/application/webhooks/secrets.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { formatPosition } from '../src/eventstore/position.ts'
import { lastWritten } from './helpers/assertions.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { forEachDatabase, scaleDriver } from './helpers/databases.ts'
import { counter, lastOutcome, processed, sendStandard, standardHeaders } from './helpers/webhooks-in.ts'

const MiB = 1024 * 1024
/** A well-formed secret no source has. */
const OTHER_SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`

async function newSource (world: TestApp, name = 'CRM'): Promise<{ sourceId: string, secret: string, position: string }> {
  const created = await world.call('POST', `/v1/orgs/${world.owner.orgId}/webhooks/sources`, { body: { name, description: 'the CRM' } })
  if (created.statusCode !== 201) throw new Error(created.body)
  const body = created.json() as { sourceId: string, secret: { secret: string }, position: string }
  return { sourceId: body.sourceId, secret: body.secret.secret, position: body.position }
}

const message = (type: string, data: unknown = {}): string => JSON.stringify({ type, timestamp: new Date().toISOString(), data })

/** A body of exactly `bytes` bytes: a small JSON object padded with spaces, so what is stored stays small. */
const padded = (bytes: number): string => {
  const core = message('crm.padded')
  return `${core.slice(0, -1)}${' '.repeat(bytes - core.length)}}`
}

t.test('a source is registered, receives messages once, and lists them with their outcome', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openTestApp(t, sql)
    const { app, runtime, owner } = world
    const { sourceId, secret, position } = await newSource(world)
    t.match(secret, /^whsec_/)
    const consistent = { headers: { 'x-consistent-with': position } }
    const shown = await world.call('GET', `/v1/orgs/${owner.orgId}/webhooks/sources/${sourceId}`, consistent)
    t.equal(shown.statusCode, 200)
    t.match(shown.json(), { sourceId, name: 'CRM', status: 'enabled', secrets: [{ fingerprint: /^sha256:[0-9a-f]{16}$/ }] })
    t.notMatch(shown.body, secret.slice(6), 'the secret is never shown again')

    const body = message('contact.created', { id: 7 })
    const first = await sendStandard(app, sourceId, body, standardHeaders(secret, 'msg_1', body))
    t.equal(first.statusCode, 200, first.body)
    t.match(first.json(), { received: true, duplicate: false, messageId: 'msg_1' })
    const stream = messageStreamId('standard', sourceId, 'msg_1')
    const events = await processed(runtime, stream)
    t.same(lastOutcome(events), { outcome: 'applied', orgId: owner.orgId })
    t.match(events[0], {
      type: 'webhook.received', metadata: { orgId: owner.orgId },
      data: { source: 'standard', sourceId, messageId: 'msg_1', eventType: 'contact.created', body: { data: { id: 7 } } }
    })

    await runtime.runner.waitFor(await lastWritten(sql), 10_000)
    const before = formatPosition(await lastWritten(sql))
    const again = await sendStandard(app, sourceId, body, standardHeaders(secret, 'msg_1', body))
    t.match(again.json(), { duplicate: true })
    t.equal(formatPosition(await lastWritten(sql)), before, 'the duplicate wrote nothing')

    const outcomeAt = { headers: { 'x-consistent-with': formatPosition(events.at(-1)!.position) } }
    const listed = await world.call('GET', `/v1/orgs/${owner.orgId}/webhooks/sources/${sourceId}/messages`, outcomeAt)
    t.match(listed.json(),
      { items: [{ streamId: stream, messageId: 'msg_1', eventType: 'contact.created', outcome: 'applied' }], nextCursor: null })
    const log = await sql.query<{ data: unknown }>('SELECT data FROM events')
    t.notOk(JSON.stringify(log.rows).includes(secret.slice(6)), 'no event holds the secret')
    t.equal(await counter(runtime, 'ledgerline_webhooks_processed_total', { source: 'standard', outcome: 'applied' }), 1)

    await runtime.runner.waitFor(await lastWritten(sql), 10_000)
    const audit = await world.call('GET', `/v1/orgs/${owner.orgId}/audit-events?action=webhook.*&sort=asc&limit=50`)
    t.equal(audit.statusCode, 200, audit.body)
    const rows = (audit.json() as { items: Array<{ action: string, targetType: string, diff: unknown }> }).items
    t.match(rows.map((row) => [row.action, row.targetType]), [['webhook.source.created', 'webhook_source'],
      ['webhook.received', 'webhook_message'], ['webhook.processed', 'webhook_message']], 'the audit log shows the source and the message')
    t.match(rows[0]!.diff, { name: { after: 'CRM' }, fingerprint: { after: /^sha256:/ } })
    t.notOk(audit.body.includes(secret.slice(6)), 'no audit row holds the secret')
    t.notOk(audit.body.includes('"id":7'), 'nor the message\'s body')
  })
})

t.test('refusals answer their code and store nothing; 1 MiB passes, one byte more is 413', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openTestApp(t, sql)
    const { app, runtime } = world
    const { sourceId, secret } = await newSource(world)
    const disabled = await newSource(world, 'old')
    t.equal((await world.call('DELETE', `/v1/orgs/${world.owner.orgId}/webhooks/sources/${disabled.sourceId}`)).statusCode, 200)
    const body = message('contact.updated')
    const signed = standardHeaders(secret, 'msg_r', body)
    const now = Date.now()
    // Each body is built once and signed as built: padded() stamps the time, so two calls a millisecond apart differ.
    const tooLarge = padded(MiB + 1)
    const cases: Array<[string, () => ReturnType<typeof sendStandard>, number, string]> = [
      ['no headers', () => sendStandard(app, sourceId, body, { 'content-type': 'application/json' }), 400, 'webhook.invalid_headers'],
      ['no webhook-id', () => sendStandard(app, sourceId, body, { ...signed, 'webhook-id': '' }), 400, 'webhook.invalid_headers'],
      ['a timestamp that is not a number', () => sendStandard(app, sourceId, body, { ...signed, 'webhook-timestamp': '12ab' }), 400,
        'webhook.invalid_headers'],
      ['a malformed signature', () => sendStandard(app, sourceId, body, { ...signed, 'webhook-signature': 'nonsense' }), 400,
        'webhook.invalid_headers'],
      ['another secret', () => sendStandard(app, sourceId, body, standardHeaders(OTHER_SECRET, 'msg_r', body)),
        401, 'webhook.invalid_signature'],
      ['a changed body', () => sendStandard(app, sourceId, `${body} `, signed), 401, 'webhook.invalid_signature'],
      ['310 s old', () => sendStandard(app, sourceId, body, standardHeaders(secret, 'msg_r', body, new Date(now - 310_000))), 401,
        'webhook.stale_timestamp'],
      ['310 s ahead', () => sendStandard(app, sourceId, body, standardHeaders(secret, 'msg_r', body, new Date(now + 310_000))), 401,
        'webhook.stale_timestamp'],
      ['an unknown source', () => sendStandard(app, 'whs_nobody', body, signed), 404, 'webhook.unknown_source'],
      ['a malformed source id', () => sendStandard(app, 'no%20such', body, signed), 404, 'webhook.unknown_source'],
      ['a disabled source', () => sendStandard(app, disabled.sourceId, body, standardHeaders(disabled.secret, 'msg_r', body)), 404,
        'webhook.unknown_source'],
      ['signed, but a JSON array', () => sendStandard(app, sourceId, '[1]', standardHeaders(secret, 'msg_r', '[1]')), 400,
        'webhook.invalid_body'],
      ['1 MiB + 1 byte', () => sendStandard(app, sourceId, tooLarge, standardHeaders(secret, 'msg_big', tooLarge)), 413,
        'webhook.too_large']
    ]
    await runtime.runner.waitFor(await lastWritten(sql), 10_000)
    const before = formatPosition(await lastWritten(sql))
    for (const [name, send, status, code] of cases) {
      const answer = await send()
      t.equal(answer.statusCode, status, `${name}: ${answer.body.slice(0, 200)}`)
      t.match(answer.json(), { status, code }, name)
      t.match(answer.headers['content-type'], /application\/problem\+json/, name)
    }
    t.equal(formatPosition(await lastWritten(sql)), before, 'no refusal stored anything')
    for (const outcome of ['invalid_headers', 'invalid_signature', 'stale_timestamp', 'unknown_source', 'invalid_body', 'too_large']) {
      t.ok(await counter(runtime, 'ledgerline_webhooks_received_total', { source: 'standard', outcome }) >= 1, `${outcome} counted`)
    }
    t.equal(await counter(runtime, 'ledgerline_webhooks_signature_failures_total', { source: 'standard' }), 2)

    const exact = padded(MiB)
    t.equal(Buffer.byteLength(exact), MiB)
    const answer = await sendStandard(app, sourceId, exact, standardHeaders(secret, 'msg_mib', exact))
    t.equal(answer.statusCode, 200, `exactly 1 MiB is taken: ${answer.body.slice(0, 200)}`)
    const under = padded(MiB - 1)
    t.equal(Buffer.byteLength(under), MiB - 1)
    const underAnswer = await sendStandard(app, sourceId, under, standardHeaders(secret, 'msg_mib-1', under))
    t.equal(underAnswer.statusCode, 200, `1 MiB - 1 byte is taken: ${underAnswer.body.slice(0, 200)}`)
  })
})

t.test('the rate limit lets a burst of twice the rate through and refuses the next with Retry-After', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openTestApp(t, sql, { WEBHOOK_INBOUND_RATE_PER_SECOND: '2' })
    const { sourceId } = await newSource(world)
    const body = message('x')
    // Wrongly signed messages are cheap, and the rate applies before the signature is checked.
    const forged = standardHeaders('whsec_' + Buffer.alloc(32, 9).toString('base64'), 'msg_x', body)
    // Sent at once: they reach the bucket within milliseconds, far from the 500 ms a token takes to come back. Sent one
    // after another on a loaded machine, the burst took longer than a token's return, and the last one was let through.
    const answers = await Promise.all(Array.from({ length: 5 }, () => sendStandard(world.app, sourceId, body, forged)))
    const statuses = answers.map((a) => a.statusCode)
    t.same(statuses.toSorted(), [401, 401, 401, 401, 429],
      `a burst of 4 passes to the signature check, the 5th is refused (${statuses.join(' ')})`)
    const refused = answers.find((a) => a.statusCode === 429)
    t.match(refused?.json(), { code: 'webhook.rate_limited' })
    t.match(refused?.headers['retry-after'], /^[1-9]\d*$/)
    t.equal(await counter(world.runtime, 'ledgerline_webhooks_received_total', { source: 'standard', outcome: 'rate_limited' }), 1)
  })
})

t.test('rotation keeps the old secret 24 hours: it works before then and not after', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openTestApp(t, sql)
    const { app, runtime, owner } = world
    const services = (now: Date) => ({ ...runtime.identity, secrets: webhookSecretStoreOf(runtime.config, sql), now: () => now })
    const real = Date.now()
    const rotate = async (at: number): Promise<{ sourceId: string, old: string, fresh: string }> => {
      const created = await createSource(services(new Date(at - 1000)), systemCommand('test'), owner.orgId, { name: `s${at}` })
      const rotated = await rotateSourceSecret(services(new Date(at)), systemCommand('test'), owner.orgId, created.sourceId)
      t.equal(rotated.previous[0]?.expiresAt, new Date(at + 24 * 3_600_000).toISOString(), 'the old one expires 24 h after the rotation')
      return { sourceId: created.sourceId, old: created.secret.secret, fresh: rotated.secret.secret }
    }
    const body = message('r')
    const send = (sourceId: string, secret: string, id: string) => sendStandard(app, sourceId, body, standardHeaders(secret, id, body))

    const recent = await rotate(real - 24 * 3_600_000 + 60_000)
    t.equal((await send(recent.sourceId, recent.old, 'm1')).statusCode, 200, 'a minute before the 24 h are over, the old secret works')
    t.equal((await send(recent.sourceId, recent.fresh, 'm2')).statusCode, 200, 'and so does the new one')

    const past = await rotate(real - 24 * 3_600_000 - 1000)
    t.equal((await send(past.sourceId, past.old, 'm3')).statusCode, 401, 'a second after, the old secret is refused')
    t.equal((await send(past.sourceId, past.fresh, 'm4')).statusCode, 200, 'the new one works')

    const shown = await world.call('GET', `/v1/orgs/${owner.orgId}/webhooks/sources/${recent.sourceId}`)
    t.equal((shown.json() as { secrets: unknown[] }).secrets.length, 2, 'both accepted secrets are listed, by fingerprint')
    const rotatedOverHttp = await world.call('POST', `/v1/orgs/${owner.orgId}/webhooks/sources/${recent.sourceId}/secrets`)
    t.equal(rotatedOverHttp.statusCode, 201)
    t.match(rotatedOverHttp.json(), { secret: { secret: /^whsec_/ }, previous: [{ fingerprint: /^sha256:/ }, { fingerprint: /^sha256:/ }] })
  })
})

t.test('pages of sources and of messages at 0, 1, page size ± 1 and a few hundred', async (t) => {
  await forEachDatabase(t, async (t, { driver, sql }) => {
    // A few hundred once, on the server when there is one; the small sizes on every database.
    const atScale = driver === scaleDriver()
    // 205 messages arrive faster than the default rate allows one source.
    const world = await openTestApp(t, sql, { WEBHOOK_INBOUND_RATE_PER_SECOND: '10000' })
    const { runtime, owner } = world
    const services = { ...runtime.identity, secrets: webhookSecretStoreOf(runtime.config, sql), now: () => new Date() }
    const orgWith = async (n: number): Promise<{ token: string, orgId: string }> => {
      const other = await world.newOwner(`pages-${n}@a.example`)
      for (let i = 0; i < n; i++) await createSource(services, systemCommand('test'), other.orgId, { name: `s${i}` })
      return other
    }
    const walk = async (url: string, token: string, limit: number): Promise<string[]> => {
      await runtime.runner.waitFor(await lastWritten(sql), 20_000)
      const seen: string[] = []
      let cursor: string | null = null
      do {
        const page = await world.call('GET', `${url}?limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`, { token })
        t.equal(page.statusCode, 200, page.body)
        const body = page.json() as { items: Array<{ sourceId?: string, streamId?: string }>, nextCursor: string | null }
        t.ok(body.items.length <= limit)
        seen.push(...body.items.map((item) => item.sourceId ?? item.streamId!))
        cursor = body.nextCursor
      } while (cursor !== null)
      return seen
    }
    for (const n of atScale ? [0, 1, 6, 7, 8, 210] : [0, 1, 6, 7, 8]) {
      const { token, orgId } = await orgWith(n)
      const seen = await walk(`/v1/orgs/${orgId}/webhooks/sources`, token, n === 210 ? 50 : 7)
      t.equal(seen.length, n, `${n} sources`)
      t.equal(new Set(seen).size, n, `${n} sources, each once`)
    }
    const { sourceId, secret } = await newSource(world)
    const ids = Array.from({ length: atScale ? 205 : 8 }, (_, i) => `m${i}`)
    for (let i = 0; i < ids.length; i += 15) {
      const batch = ids.slice(i, i + 15)
      const answers = await Promise.all(batch.map((id) => {
        const body = message('p')
        return sendStandard(world.app, sourceId, body, standardHeaders(secret, id, body))
      }))
      for (const answer of answers) if (answer.statusCode !== 200) t.fail(`${answer.statusCode} ${answer.body}`)
    }
    const seen = await walk(`/v1/orgs/${owner.orgId}/webhooks/sources/${sourceId}/messages`, owner.token, atScale ? 50 : 7)
    t.equal(seen.length, ids.length, `${ids.length} messages`)
    t.equal(new Set(seen).size, ids.length, `${ids.length} messages, each once`)
    const bad = await world.call('GET', `/v1/orgs/${owner.orgId}/webhooks/sources/${sourceId}/messages?cursor=garbage`)
    t.match(bad.json(), { code: 'http.invalid_cursor' })
  })
})
