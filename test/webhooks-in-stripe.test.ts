/**
 * Stripe's webhooks through POST /v1/webhooks/stripe, signed with the SDK's
 * own generateTestHeaderString, on PGlite and PostgreSQL: each event stored
 * once (a duplicate answers 200 {duplicate: true} and the log does not move),
 * processed as a job, applied in Stripe's order per subscription whatever
 * order it arrives in (an older update after a newer one is skipped with its
 * reason), the organization's plan reconciled by the system with the Stripe
 * message as its cause, invoices fed to billing.invoices.list, and every
 * refusal answered, counted and not stored.
 */
import Stripe from 'stripe'
import t from 'tap'
import { invoicesPage } from '../src/application/billing/reads.ts'
import { organizationState } from '../src/application/identity/commands.ts'
import { formatPosition } from '../src/eventstore/position.ts'
import { orgStreamId } from '../src/domain/identity/organization.ts'
import { lastWritten } from './helpers/assertions.ts'
import { openTestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import {
  counter, invoice, lastOutcome, linkCustomer, PRICES, processed, sendStripe, stripeEnv, stripeEventBody, stripeStream, subscription
} from './helpers/webhooks-in.ts'

const JSON_TYPE = { 'content-type': 'application/json' }

const updated = (id: string, created: number, price: string, customer = 'cus_a'): string =>
  stripeEventBody({ id, type: 'customer.subscription.updated', created, object: subscription('sub_a', customer, price) })

t.test('Stripe events sent twice and out of order are processed once and leave the newest plan', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { app, runtime, owner } = await openTestApp(t, sql, stripeEnv)
    await linkCustomer(runtime, owner.orgId, 'cus_a')

    const created = stripeEventBody({
      id: 'evt_1', type: 'customer.subscription.created', created: 1000, object: subscription('sub_a', 'cus_a', PRICES.pro)
    })
    const first = await sendStripe(app, created)
    t.equal(first.statusCode, 200, first.body)
    t.match(first.json(), { received: true, duplicate: false, messageId: 'evt_1' })
    t.match(lastOutcome(await processed(runtime, stripeStream('evt_1'))), { outcome: 'applied', orgId: owner.orgId })
    t.equal((await organizationState(runtime.identity, owner.orgId) as { plan: string }).plan, 'pro')

    // The newest update first, then an older one Stripe retried late.
    t.equal((await sendStripe(app, updated('evt_3', 3000, PRICES.enterprise))).statusCode, 200)
    await processed(runtime, stripeStream('evt_3'))
    t.equal((await sendStripe(app, updated('evt_2', 2000, PRICES.pro))).statusCode, 200)
    t.same(lastOutcome(await processed(runtime, stripeStream('evt_2'))),
      { outcome: 'skipped', reason: 'older_than_applied', orgId: owner.orgId }, 'the older update is skipped, with why')
    t.equal((await organizationState(runtime.identity, owner.orgId) as { plan: string }).plan, 'enterprise', 'the newest plan stays')

    // Duplicates of every one of them: 200, duplicate, nothing written.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const before = formatPosition(await lastWritten(sql))
    for (const body of [created, updated('evt_3', 3000, PRICES.enterprise), updated('evt_2', 2000, PRICES.pro)]) {
      const again = await sendStripe(app, body)
      t.equal(again.statusCode, 200)
      t.match(again.json(), { received: true, duplicate: true, position: null })
    }
    t.equal(formatPosition(await lastWritten(sql)), before, 'duplicates wrote nothing')
    t.equal(await counter(runtime, 'ledgerline_webhooks_received_total', { source: 'stripe', outcome: 'duplicate' }), 3)
    t.equal(await counter(runtime, 'ledgerline_webhooks_received_total', { source: 'stripe', outcome: 'accepted' }), 3)

    // Each stream holds its one receipt and one outcome; the plan changes name the system and their Stripe message.
    for (const id of ['evt_1', 'evt_2', 'evt_3']) {
      t.same((await runtime.store.readStream(stripeStream(id))).map((event) => event.type), ['webhook.received', 'webhook.processed'], id)
    }
    const planChanges = (await runtime.store.readStream(orgStreamId(owner.orgId))).filter((e) => e.type === 'org.organization.plan_changed')
    t.same(planChanges.map((e) => e.data), [{ plan: 'pro' }, { plan: 'enterprise' }],
      'one plan change per applied event, none for the skipped')
    const received = await runtime.store.readStream(stripeStream('evt_3'))
    t.equal(planChanges[1]!.metadata.causationId, received[0]!.id, 'caused by the Stripe message')
    t.same(planChanges[1]!.metadata.actor, { type: 'system', id: 'webhooks-in' })
    t.equal(await counter(runtime, 'ledgerline_webhooks_processed_total', { source: 'stripe', outcome: 'applied' }), 2)
    t.equal(await counter(runtime, 'ledgerline_webhooks_processed_total', { source: 'stripe', outcome: 'skipped' }), 1)
  })
})

t.test('a burst of one subscription\'s events in random order, each sent twice at once, ends on the newest plan', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { app, runtime, owner } = await openTestApp(t, sql, stripeEnv)
    await linkCustomer(runtime, owner.orgId, 'cus_a')
    const prices = [PRICES.pro, PRICES.enterprise]
    const events = Array.from({ length: 12 }, (_, i) =>
      ({ id: `evt_b${String(i).padStart(2, '0')}`, created: 5000 + i, price: prices[i % 2]! }))
    const shuffled = [...events].sort(() => Math.random() - 0.5)
    const answers = await Promise.all(shuffled.flatMap((e) => [0, 1].map(() => sendStripe(app, updated(e.id, e.created, e.price)))))
    t.ok(answers.every((answer) => answer.statusCode === 200), 'every delivery answered 200')
    t.equal(answers.filter((answer) => answer.json().duplicate === false).length, events.length, 'each event stored once')
    for (const e of events) await processed(runtime, stripeStream(e.id))
    const newest = events.at(-1)!
    const plan = (await organizationState(runtime.identity, owner.orgId) as { plan: string }).plan
    t.equal(plan, newest.price === PRICES.pro ? 'pro' : 'enterprise')
    t.match(lastOutcome(await runtime.store.readStream(stripeStream(newest.id))), { outcome: 'applied' })
  })
})

t.test('unknown customers, unknown prices, deletions and events Ledgerline does not handle', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { app, runtime, owner } = await openTestApp(t, sql, stripeEnv)
    await linkCustomer(runtime, owner.orgId, 'cus_a')
    const cases: Array<[string, string, unknown]> = [
      ['evt_u1', updated('evt_u1', 10, PRICES.pro, 'cus_nobody'), { outcome: 'skipped', reason: 'unknown_customer' }],
      ['evt_u2', stripeEventBody({ id: 'evt_u2', type: 'customer.subscription.created', created: 10,
        object: subscription('sub_b', 'cus_a', 'price_sold_elsewhere') }),
      { outcome: 'skipped', reason: 'unknown_price', orgId: owner.orgId }],
      ['evt_u3', stripeEventBody({ id: 'evt_u3', type: 'charge.succeeded', created: 10, object: { id: 'ch_1', customer: 'cus_a' } }),
        { outcome: 'skipped', reason: 'unhandled_type' }],
      ['evt_u4', stripeEventBody({ id: 'evt_u4', type: 'customer.subscription.created', created: 20,
        object: subscription('sub_c', 'cus_a', PRICES.enterprise) }), { outcome: 'applied', orgId: owner.orgId }],
      ['evt_u5', stripeEventBody({ id: 'evt_u5', type: 'customer.subscription.deleted', created: 30,
        object: subscription('sub_c', 'cus_a', PRICES.enterprise, 'canceled') }), { outcome: 'applied', orgId: owner.orgId }]
    ]
    for (const [id, body, outcome] of cases) {
      t.equal((await sendStripe(app, body)).statusCode, 200, id)
      t.same(lastOutcome(await processed(runtime, stripeStream(id))), outcome, id)
    }
    t.equal((await organizationState(runtime.identity, owner.orgId) as { plan: string }).plan, 'free', 'deleted: back to free')
  })
})

t.test('invoice events feed billing.invoices.list, newest state of each invoice, without asking Stripe', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    // Stripe's API is unreachable here: an answer can only come from the webhooks.
    const { app, runtime, owner } = await openTestApp(t, sql, {
      ...stripeEnv, STRIPE_SECRET_KEY: 'sk_test_unreachable', STRIPE_API_BASE: 'http://127.0.0.1:9'
    })
    await linkCustomer(runtime, owner.orgId, 'cus_a')
    const sends = [
      stripeEventBody({ id: 'evt_i1', type: 'invoice.created', created: 100, object: invoice('in_1', 'cus_a', 100, 'open') }),
      stripeEventBody({ id: 'evt_i3', type: 'invoice.paid', created: 300, object: invoice('in_1', 'cus_a', 100, 'paid') }),
      stripeEventBody({ id: 'evt_i2', type: 'invoice.finalized', created: 200, object: invoice('in_1', 'cus_a', 100, 'open') }),
      stripeEventBody({ id: 'evt_i4', type: 'invoice.created', created: 400, object: invoice('in_2', 'cus_a', 400, 'draft') })
    ]
    for (const body of sends) {
      t.equal((await sendStripe(app, body)).statusCode, 200)
      await processed(runtime, stripeStream(JSON.parse(body).id as string))
    }
    await runtime.runner.waitFor(await lastWritten(sql), 10_000)
    const page = await invoicesPage(runtime.identity, runtime.billing!, owner.orgId, { limit: 1 })
    t.same(page.items.map((i) => [i.invoiceId, i.status]), [['in_2', 'draft']])
    t.equal(page.nextCursor, 'in_2')
    const rest = await invoicesPage(runtime.identity, runtime.billing!, owner.orgId, { limit: 10, startingAfter: 'in_2' })
    t.same(rest.items.map((i) => [i.invoiceId, i.status, i.amountPaid]), [['in_1', 'paid', 1200]],
      'the late finalized event did not undo paid')
    t.equal(rest.nextCursor, null)
    await t.rejects(invoicesPage(runtime.identity, runtime.billing!, owner.orgId, { limit: 10, startingAfter: 'in_unknown' }),
      { code: 'billing.not_found' })
  })
})

t.test('without STRIPE_WEBHOOK_SECRET the route answers 503 webhook.source_not_configured', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { app, runtime } = await openTestApp(t, sql)
    const unconfigured = await sendStripe(app, updated('evt_n1', 10, PRICES.pro))
    t.equal(unconfigured.statusCode, 503)
    t.match(unconfigured.json(), { code: 'webhook.source_not_configured' })
    t.match(unconfigured.headers['content-type'], /application\/problem\+json/)
    t.equal(await counter(runtime, 'ledgerline_webhooks_received_total', { source: 'stripe', outcome: 'not_configured' }), 1)
  })
})

t.test('refusals: headers, signature, time, body; none stored, each counted', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const body = updated('evt_r1', 10, PRICES.pro)
    const secrets = `whsec_rotatedaway123, ${stripeEnv.STRIPE_WEBHOOK_SECRET!}`
    const { app, runtime } = await openTestApp(t, sql, { ...stripeEnv, STRIPE_WEBHOOK_SECRET: secrets })
    await runtime.runner.waitFor(await lastWritten(sql), 10_000)
    const before = formatPosition(await lastWritten(sql))
    const now = Math.floor(Date.now() / 1000)
    const cases: Array<[string, Promise<Awaited<ReturnType<typeof sendStripe>>>, number, string, string]> = [
      ['no signature header', app.inject({ method: 'POST', url: '/v1/webhooks/stripe', payload: body, headers: JSON_TYPE }),
        400, 'webhook.invalid_headers', 'invalid_headers'],
      ['a malformed header', sendStripe(app, body, { header: 't=abc,v1=zz' }), 400, 'webhook.invalid_headers', 'invalid_headers'],
      ['another secret', sendStripe(app, body, { secret: 'whsec_attacker' }), 401, 'webhook.invalid_signature', 'invalid_signature'],
      ['a changed body', sendStripe(app, body.replace('evt_r1', 'evt_r9'), {
        header: Stripe.webhooks.generateTestHeaderString({ payload: body, secret: stripeEnv.STRIPE_WEBHOOK_SECRET! })
      }), 401, 'webhook.invalid_signature', 'invalid_signature'],
      ['310 s old', sendStripe(app, body, { timestamp: now - 310 }), 401, 'webhook.stale_timestamp', 'stale_timestamp'],
      ['310 s ahead', sendStripe(app, body, { timestamp: now + 310 }), 401, 'webhook.stale_timestamp', 'stale_timestamp'],
      ['signed but not an event', sendStripe(app, '{"hello":"world"}'), 400, 'webhook.invalid_body', 'invalid_body'],
      ['signed but not JSON', sendStripe(app, 'not json'), 400, 'webhook.invalid_body', 'invalid_body']
    ]
    for (const [name, sent, status, code, outcome] of cases) {
      const answer = await sent
      t.equal(answer.statusCode, status, name)
      t.match(answer.json(), { code, status }, name)
      t.ok(await counter(runtime, 'ledgerline_webhooks_received_total', { source: 'stripe', outcome }) >= 1, `${name}: counted`)
    }
    t.equal(formatPosition(await lastWritten(sql)), before, 'nothing was stored')
    t.equal(await counter(runtime, 'ledgerline_webhooks_signature_failures_total', { source: 'stripe' }), 2)
    const within = await sendStripe(app, body, { timestamp: now - 290 })
    t.equal(within.statusCode, 200, 'inside the tolerance, signed with the second of two configured secrets')
  })
})
