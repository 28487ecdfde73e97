/**
 * The Stripe fake (test/helpers/stripe-fake.ts) as the real SDK sees it: its
 * answers parse into the SDK's objects, its errors into the SDK's error
 * classes, idempotency keys replay, conflict and are refused while in use,
 * and lists page as Stripe's do. What the billing tests rely on, checked
 * apart from them.
 */
import Stripe from 'stripe'
import t from 'tap'
import { CARD_DECLINED, decodeForm, FAKE_KEY, FAKE_PRICES, startStripeFake, type StripeFake } from './helpers/stripe-fake.ts'

function client (fake: StripeFake, key = FAKE_KEY): Stripe {
  const { hostname, port } = new URL(fake.url)
  return new Stripe(key, { host: hostname, port, protocol: 'http', maxNetworkRetries: 0 })
}

t.test('Stripe\'s form encoding decodes to nested objects', async (t) => {
  t.same(decodeForm('customer=cus_1&items[0][price]=price_a&items[1][id]=si_1&items[1][price]=price_b&metadata[orgId]=org_1'), {
    customer: 'cus_1', items: { 0: { price: 'price_a' }, 1: { id: 'si_1', price: 'price_b' } }, metadata: { orgId: 'org_1' }
  })
  t.same(decodeForm(''), {})
})

t.test('the SDK against the fake', async (t) => {
  const fake = await startStripeFake()
  t.teardown(() => fake.close())
  const stripe = client(fake)

  await t.test('customers and subscriptions round-trip as the SDK\'s objects', async (t) => {
    const customer = await stripe.customers.create({ email: 'ada@example.com', metadata: { orgId: 'org_1' } })
    t.match(customer, { object: 'customer', id: /^cus_/, email: 'ada@example.com', metadata: { orgId: 'org_1' }, livemode: false })
    t.same((await stripe.customers.retrieve(customer.id)).id, customer.id)
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: FAKE_PRICES.pro }] })
    t.match(subscription, { object: 'subscription', status: 'active', customer: customer.id })
    const [item] = subscription.items.data
    t.equal(item?.price.id, FAKE_PRICES.pro)
    t.ok(item!.current_period_end > item!.current_period_start, 'a period on the item, as the SDK\'s API version has it')
    const updated = await stripe.subscriptions.update(subscription.id, { items: [{ id: item!.id, price: FAKE_PRICES.enterprise }] })
    t.equal(updated.items.data[0]?.price.id, FAKE_PRICES.enterprise)
    t.equal(updated.items.data[0]?.id, item!.id, 'the same item, its price changed')
    t.same((await stripe.subscriptions.list({ customer: customer.id })).data.map((s) => s.id), [subscription.id])
    t.equal((await stripe.subscriptions.cancel(subscription.id)).status, 'canceled')
    t.same((await stripe.subscriptions.list({ customer: customer.id })).data, [], 'a canceled one is not listed by default')
    t.equal((await stripe.subscriptions.list({ customer: customer.id, status: 'all' })).data.length, 1, 'but is with status all')
  })

  await t.test('errors are Stripe\'s, as the SDK classes them', async (t) => {
    await t.rejects(stripe.customers.retrieve('cus_Nope'),
      { type: 'StripeInvalidRequestError', statusCode: 404, code: 'resource_missing', param: 'id' })
    await t.rejects(stripe.subscriptions.create({ customer: 'cus_Nope', items: [{ price: FAKE_PRICES.pro }] }),
      { statusCode: 404, code: 'resource_missing', param: 'customer' })
    const customer = await stripe.customers.create({})
    await t.rejects(stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_Unknown' }] }),
      { statusCode: 404, code: 'resource_missing', param: 'items[0][price]' })
    await t.rejects(stripe.subscriptions.create({ customer: customer.id }), { statusCode: 400, code: 'parameter_missing', param: 'items' })
    await t.rejects(stripe.customers.create({ phone: '+1' }), { statusCode: 400, code: 'parameter_unknown', param: 'phone' })
    await t.rejects(stripe.invoices.list({ limit: 101 }), { statusCode: 400, code: 'parameter_invalid_integer', param: 'limit' })
    await t.rejects(client(fake, 'sk_live_notthefake').customers.create({}), { type: 'StripeAuthenticationError', statusCode: 401, message: /Invalid API Key/ })
    fake.failNext('POST /v1/subscriptions', CARD_DECLINED)
    await t.rejects(stripe.subscriptions.create({ customer: customer.id, items: [{ price: FAKE_PRICES.pro }] }),
      { type: 'StripeCardError', statusCode: 402, code: 'card_declined', decline_code: 'generic_decline' })
    t.equal((await stripe.subscriptions.list({ customer: customer.id })).data.length, 0, 'a failure changes nothing')
  })

  await t.test('an idempotency key replays, refuses other parameters, and is refused while its first request runs', async (t) => {
    const first = await stripe.customers.create({ email: 'key@example.com' }, { idempotencyKey: 'key-1' })
    const again = await stripe.customers.create({ email: 'key@example.com' }, { idempotencyKey: 'key-1' })
    t.equal(again.id, first.id, 'the first answer, again')
    t.equal(again.lastResponse.headers['idempotent-replayed'], 'true')
    await t.rejects(stripe.customers.create({ email: 'other@example.com' }, { idempotencyKey: 'key-1' }),
      { type: 'StripeIdempotencyError', statusCode: 400, message: /same parameters/ })
    const held = fake.hold('POST /v1/customers')
    const running = stripe.customers.create({}, { idempotencyKey: 'key-2' })
    await held.arrived
    await t.rejects(stripe.customers.create({}, { idempotencyKey: 'key-2' }), { statusCode: 409, code: 'idempotency_key_in_use' })
    held.release()
    const made = await running
    t.equal((await stripe.customers.create({}, { idempotencyKey: 'key-2' })).id, made.id, 'once done, replayed')
  })

  await t.test('lists page newest first with starting_after, 1 to 100 at a time', async (t) => {
    const customer = await stripe.customers.create({})
    t.same((await stripe.invoices.list({ customer: customer.id })).data, [], '0')
    const made = fake.addInvoices(customer.id, 25).reverse()
    const first = await stripe.invoices.list({ customer: customer.id, limit: 10 })
    t.same(first.data.map((i) => i.id), made.slice(0, 10).map((i) => i.id))
    t.equal(first.has_more, true)
    const last = await stripe.invoices.list({ customer: customer.id, limit: 10, starting_after: made[19]!.id })
    t.same(last.data.map((i) => i.id), made.slice(20).map((i) => i.id))
    t.equal(last.has_more, false)
    t.equal((await stripe.invoices.list({ customer: customer.id, limit: 25 })).has_more, false, 'exactly a page: no more')
    t.match(first.data[0], { object: 'invoice', status: 'paid', customer: customer.id, total: 4900 })
  })
})
