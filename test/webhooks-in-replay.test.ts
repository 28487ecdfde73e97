/**
 * Replaying stored messages with `ledgerline webhooks replay` (run in the
 * test's runtime, as a server runs a CLI call), on PGlite and PostgreSQL:
 * `--dry-run` writes nothing and says what would change; a replay after the
 * customer was linked applies what was skipped as unknown, in the order the
 * messages were received; a second replay changes nothing (the log does not
 * move); and a message stored by a node that died before scheduling its
 * processing is processed all the same, scheduled by the reactor.
 */
import { pino } from 'pino'
import t from 'tap'
import { organizationState } from '../src/application/identity/commands.ts'
import { inboundMetrics } from '../src/application/webhooks/inbound/metrics.ts'
import { messageStreamId, receiveMessage } from '../src/application/webhooks/inbound/receive.ts'
import { createSource } from '../src/application/webhooks/inbound/sources.ts'
import { webhookSecretStoreOf } from '../src/application/webhooks/secrets.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { formatPosition } from '../src/eventstore/position.ts'
import { messagesInLogOrder } from '../src/projections/webhooks/inbound-queries.ts'
import { lastWritten, settled } from './helpers/assertions.ts'
import { openTestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { until } from './helpers/jobs-harness.ts'
import { ledgerline } from './helpers/ledgerline.ts'
import {
  lastOutcome, linkCustomer, PRICES, processed, sendStandard, sendStripe, standardHeaders, stripeEnv, stripeEventBody, stripeStream,
  subscription
} from './helpers/webhooks-in.ts'

const planOf = async (world: Awaited<ReturnType<typeof openTestApp>>): Promise<string> =>
  (await organizationState(world.runtime.identity, world.owner.orgId) as { plan: string }).plan

t.test('replay: a dry run writes nothing, a replay applies what the customer link now allows, a second changes nothing', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openTestApp(t, sql, stripeEnv)
    const { app, runtime } = world
    const events = [
      { id: 'evt_p1', created: 100, price: PRICES.pro },
      { id: 'evt_p3', created: 300, price: PRICES.enterprise },
      { id: 'evt_p2', created: 200, price: PRICES.pro }
    ]
    for (const e of events) {
      const body = stripeEventBody({
        id: e.id, type: 'customer.subscription.updated', created: e.created, object: subscription('sub_r', 'cus_late', e.price)
      })
      t.equal((await sendStripe(app, body)).statusCode, 200)
      t.match(lastOutcome(await processed(runtime, stripeStream(e.id))), { outcome: 'skipped', reason: 'unknown_customer' })
    }
    await linkCustomer(runtime, world.owner.orgId, 'cus_late')
    await runtime.runner.waitFor(await lastWritten(sql), 10_000)
    const head = async (): Promise<string> => formatPosition(await lastWritten(sql))

    const before = await head()
    const dry = await ledgerline(runtime, ['webhooks', 'replay', '--source', 'stripe', '--dry-run', '--json'])
    t.equal(dry.code, 0, dry.stderr)
    const drySummary = JSON.parse(dry.stdout) as { changes: Array<{ messageId: string, changes: string[] }> }
    t.match(drySummary, { dryRun: true, messages: 3, applied: 2, skipped: 1, changed: 3 })
    t.match(drySummary.changes.map((c) => c.messageId), ['evt_p1', 'evt_p3', 'evt_p2'], 'in the order received')
    t.match(drySummary.changes[1]!.changes.join(' '), /plan pro -> enterprise/)
    t.equal(await head(), before, 'the dry run wrote nothing')
    t.equal(await planOf(world), 'free')

    const replay = await ledgerline(runtime, ['webhooks', 'replay', '--source', 'stripe', '--json'])
    t.equal(replay.code, 0, replay.stderr)
    t.match(JSON.parse(replay.stdout), { dryRun: false, messages: 3, applied: 2, skipped: 1, changed: 3 })
    t.equal(await planOf(world), 'enterprise', 'the newest event\'s plan, though an older one came last')
    t.same(lastOutcome(await runtime.store.readStream(stripeStream('evt_p2'))),
      { outcome: 'skipped', reason: 'older_than_applied', orgId: world.owner.orgId })

    await runtime.runner.waitFor(await lastWritten(sql), 10_000)
    const after = await head()
    const second = await ledgerline(runtime, ['webhooks', 'replay', '--source', 'stripe', '--json'])
    t.match(JSON.parse(second.stdout), { messages: 3, changed: 0, changes: [] })
    t.equal(await head(), after, 'a second replay wrote nothing')

    const text = await ledgerline(runtime, ['webhooks', 'replay', '--source', 'stripe', '--from', '2000-01-01', '--to', '2000-01-02'])
    t.equal(text.stdout, 'replayed 0 messages of stripe: 0 applied, 0 skipped, 0 changed\n', 'an empty window')
    const bad = await ledgerline(runtime, ['webhooks', 'replay', '--source', 'stripe', '--from', 'yesterday'])
    t.equal(bad.code, 1)
    t.match(bad.stderr, /--from: must be an ISO 8601/)
  })
})

t.test('replaying a Standard Webhooks source\'s messages changes nothing: they were applied as they came', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openTestApp(t, sql)
    const { runtime } = world
    const services = { ...runtime.identity, secrets: webhookSecretStoreOf(runtime.config, sql), now: () => new Date() }
    const { sourceId, secret } = await createSource(services, systemCommand('test'), world.owner.orgId, { name: 'CRM' })
    for (const id of ['a', 'b', 'c']) {
      const body = JSON.stringify({ type: 'contact.updated', timestamp: new Date().toISOString(), data: { id } })
      t.equal((await sendStandard(world.app, sourceId, body, standardHeaders(secret.secret, id, body))).statusCode, 200)
      await processed(runtime, messageStreamId('standard', sourceId, id))
    }
    await runtime.runner.waitFor(await lastWritten(sql), 10_000)
    const before = formatPosition(await lastWritten(sql))
    const replay = await ledgerline(runtime, ['webhooks', 'replay', '--source', sourceId, '--json'])
    t.equal(replay.code, 0, replay.stderr)
    t.match(JSON.parse(replay.stdout), { sourceId, dryRun: false, messages: 3, applied: 3, skipped: 0, changed: 0, changes: [] })
    t.equal(formatPosition(await lastWritten(sql)), before, 'nothing written')
  })
})

t.test('a message stored by a node that died before scheduling its job is processed: the reactor schedules it', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openTestApp(t, sql, stripeEnv)
    const { runtime } = world
    await linkCustomer(runtime, world.owner.orgId, 'cus_crash')
    const body = JSON.parse(stripeEventBody({ id: 'evt_crash', type: 'customer.subscription.created', created: 10,
      object: subscription('sub_crash', 'cus_crash', PRICES.pro) })) as Record<string, unknown>
    const dying = {
      store: runtime.store, metrics: inboundMetrics(runtime.metrics.registry), logger: pino({ level: 'silent' }),
      jobs: { schedule: async () => { throw new Error('the node died here') } }
    }
    const message = { messageId: 'evt_crash', eventType: 'customer.subscription.created', body }
    const receipt = await receiveMessage(dying, { source: 'stripe', sourceId: 'stripe', message },
      { traceId: '0af7651916cd43dd8448eb211c80319c', now: new Date() })
    t.equal(receipt.duplicate, false, 'stored before the schedule failed')
    t.same(lastOutcome(await processed(runtime, stripeStream('evt_crash'))), { outcome: 'applied', orgId: world.owner.orgId })
    t.equal(await planOf(world), 'pro')
  })
})

t.test('replay reads messages in log order across a digit boundary of the positions, a page at a time', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { runtime } = await openTestApp(t, sql)
    const db = runtime.sql
    // The projection creates its tables as it starts: wait for them (and for it) before writing rows into one.
    await settled(runtime)
    await until('the webhook_messages table', async () =>
      (await db.query<{ found: string | null }>("SELECT to_regclass('webhook_messages')::text AS found")).rows[0]?.found ?? undefined)
    // Log positions whose digit counts differ: sorted as text they would come 10, 100, 1000, 9, 99.
    const positions: Array<[number, number]> = [[1000, 1], [9, 3], [100, 2], [99, 7], [10, 1], [99, 8]]
    for (const [major, minor] of positions) {
      await db.query(`INSERT INTO webhook_messages (stream_id, source, source_id, message_id, received_at, position_major, position_minor,
        outcome) VALUES ($1, 'standard', 'whs_boundary', $2, now(), $3, $4, 'pending')`, [`whin-b-${major}-${minor}`, `m${major}-${minor}`,
        major, minor])
    }
    const expected = ['whin-b-9-3', 'whin-b-10-1', 'whin-b-99-7', 'whin-b-99-8', 'whin-b-100-2', 'whin-b-1000-1']
    t.same((await messagesInLogOrder(db, 'whs_boundary', {}, 100)).map((m) => m.streamId), expected, 'numeric log order')
    for (const size of [1, 2, 5, 6, 7]) {
      const seen: string[] = []
      let after: Awaited<ReturnType<typeof messagesInLogOrder>>[number]['key'] | undefined
      for (let pages = 0; pages < 10; pages++) {
        const page = await messagesInLogOrder(db, 'whs_boundary', {}, size, after)
        seen.push(...page.map((m) => m.streamId))
        if (page.length < size) break
        after = page.at(-1)!.key
      }
      t.same(seen, expected, `pages of ${size}: each message once, in order`)
    }
  })
})
