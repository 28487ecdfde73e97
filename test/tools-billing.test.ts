/**
 * Billing through the real Stripe SDK, pointed at the Stripe fake
 * (test/helpers/stripe-fake.ts): a plan change waits for approval, then
 * subscribes the organization's customer (linked on first need) and records
 * the plan, caused by the call; a retried attempt repeats its Stripe writes
 * under the same idempotency key and creates nothing twice; the plan route
 * shares the function; reads of the subscription and of invoices, a page at a
 * time; Stripe's refusals as billing's errors; and without a key, the billing
 * tools' stable error while the rest works.
 */
import { inspect } from 'node:util'
import t, { type Test } from 'tap'
import { linkCustomer } from '../src/application/billing/plan.ts'
import { createOrganization } from '../src/application/identity/commands.ts'
import type { ToolCallOutcome } from '../src/application/tools/outcome.ts'
import type { ToolPipeline } from '../src/application/tools/pipeline.ts'
import { loadConfig } from '../src/config.ts'
import { orgStreamId } from '../src/domain/identity/organization.ts'
import { buildApp } from '../src/http/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { CARD_DECLINED, FAKE_KEY, FAKE_PRICES, startStripeFake, type FakeRequest, type StripeFake } from './helpers/stripe-fake.ts'
import { eventTypes, openToolWorld, type ToolWorld } from './helpers/tools.ts'

const stripeEnv = (fake: StripeFake): Record<string, string> => ({
  STRIPE_SECRET_KEY: FAKE_KEY, STRIPE_PRICE_PRO: FAKE_PRICES.pro, STRIPE_PRICE_ENTERPRISE: FAKE_PRICES.enterprise, STRIPE_API_BASE: fake.url
})

t.test('the Stripe key is never printed, logged or serialized with the configuration', async (t) => {
  const config = loadConfig({ NODE_ENV: 'test', ...stripeEnv({ url: 'http://127.0.0.1:9' } as StripeFake) })
  t.equal(config.stripe?.secretKey.reveal(), FAKE_KEY, 'the client gets it')
  t.notMatch(JSON.stringify(config), FAKE_KEY)
  t.notMatch(inspect(config, { depth: 10 }), FAKE_KEY)
  t.notMatch(`${String(config.stripe?.secretKey)}`, FAKE_KEY)
  t.same(config.stripe?.apiBase, { protocol: 'http', host: '127.0.0.1', port: 9 })
  t.throws(() => loadConfig({ STRIPE_SECRET_KEY: FAKE_KEY }), /STRIPE_SECRET_KEY: needs STRIPE_PRICE_PRO and STRIPE_PRICE_ENTERPRISE/)
  t.throws(() => loadConfig({ ...stripeEnv({ url: 'http://127.0.0.1:9' } as StripeFake), NODE_ENV: 'production' }),
    /STRIPE_API_BASE: is for tests/)
  t.throws(() => loadConfig({ STRIPE_SECRET_KEY: 'pk_test_abc' }), /must be a Stripe secret or restricted key/)
  t.equal(loadConfig({}).stripe, undefined, 'no key: billing is not configured')
})

t.test('billing through the Stripe SDK against the fake', async (t) => {
  const fake = await startStripeFake()
  t.teardown(() => fake.close())
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openToolWorld(t, sql, stripeEnv(fake))
    const tools = world.runtime.tools
    await t.test('a plan change waits for approval, goes through Stripe, and is recorded as caused by the call',
      (t) => planChange(t, world, fake, tools))
    await t.test('a retried attempt repeats its Stripe write under the same idempotency key: one subscription',
      (t) => retried(t, world, fake))
    await t.test('Stripe\'s refusals are billing\'s errors, and change nothing', (t) => refusals(t, world, fake, tools))
    await t.test('the plan route calls the same function, through Stripe', (t) => route(t, world, fake))
    await t.test('invoices, a page at a time', (t) => invoices(t, world, fake, tools))
  })
})

t.test('without STRIPE_SECRET_KEY the billing tools answer billing.not_configured, and the rest works', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openToolWorld(t, sql)
    t.equal(world.runtime.billing, undefined)
    const tools = world.runtime.tools
    const calls: Array<[string, unknown]> = [
      ['billing.subscription.get', {}], ['billing.invoices.list', {}], ['billing.plan.change', { plan: 'pro' }]
    ]
    for (const [tool, input] of calls) {
      const outcome = await callApproved(world, tools, tool, input)
      t.match(outcome, { status: 'failed', error: { code: 'billing.not_configured', status: 503 } }, tool)
    }
    const read = await callApproved(world, tools, 'org.get', {})
    t.match(read, { status: 'succeeded', output: { plan: 'free' }, error: undefined }, 'org.get works')
    const app = await buildApp(world.runtime)
    t.teardown(() => app.close())
    const response = await app.inject({
      method: 'PUT', url: `/v1/orgs/${world.orgId}/plan`, headers: { authorization: `Bearer ${world.owner.token}` },
      payload: { plan: 'pro' }
    })
    t.equal(response.statusCode, 200, 'the plan route records the plan alone, as before billing')
    await world.caughtUp(response.json().position)
    t.match(await callApproved(world, tools, 'org.get', {}), { status: 'succeeded', output: { plan: 'pro' } })
  })
})

/** Calls as the owner (or `userId`) in `orgId`; a call waiting for approval is approved by its caller. */
async function callApproved (
  world: ToolWorld, tools: ToolPipeline, tool: string, input: unknown, orgId = world.orgId
): Promise<ToolCallOutcome> {
  const caller = world.caller(world.owner.userId)
  const outcome = await tools.call({ orgId, tool, input, caller, metadata: world.metadata(world.owner.userId) })
  if (outcome.status !== 'approval_required') return outcome
  return tools.approve({ orgId, callId: outcome.callId, caller, metadata: world.metadata(world.owner.userId) })
}

function output (outcome: ToolCallOutcome): Record<string, unknown> {
  if (outcome.status !== 'succeeded') throw new Error(`expected a success, got ${JSON.stringify(outcome)}`)
  return outcome.output
}

/** A new organization owned by the world's owner, for a test that needs a customer of its own. */
async function newOrg (world: ToolWorld, name: string): Promise<string> {
  const { orgId } = await createOrganization(world.runtime.identity, world.metadata(world.owner.userId), world.owner.userId, { name })
  return orgId
}

async function orgEvents (world: ToolWorld, orgId: string) {
  return world.runtime.store.readStream(orgStreamId(orgId))
}

async function linkedCustomer (world: ToolWorld, orgId: string): Promise<string> {
  const linked = (await orgEvents(world, orgId)).find((e) => e.type === 'org.organization.billing_linked')
  return (linked?.data as { customerId: string }).customerId
}

const live = (fake: StripeFake, customer: string) =>
  [...fake.subscriptions.values()].filter((s) => s.customer === customer && s.status !== 'canceled')

async function planChange (t: Test, world: ToolWorld, fake: StripeFake, tools: ToolPipeline): Promise<void> {
  const orgId = await newOrg(world, 'Plan Org')
  const caller = world.caller(world.owner.userId)
  const before = fake.requests.length
  const pending = await tools.call({
    orgId, tool: 'billing.plan.change', input: { plan: 'pro' }, caller, metadata: world.metadata(caller.userId)
  })
  t.equal(pending.status, 'approval_required', 'approval: always')
  t.equal(fake.requests.length, before, 'nothing reached Stripe before the approval')
  const done = await tools.approve({ orgId, callId: pending.callId, caller, metadata: world.metadata(caller.userId) })
  const { subscriptionId } = output(done) as { subscriptionId: string }
  t.match(output(done), { plan: 'pro', subscriptionId: /^sub_/ })
  const subscription = fake.subscriptions.get(subscriptionId)!
  t.equal(subscription.items.data[0]!.price.id, FAKE_PRICES.pro, 'the fake\'s subscription has the plan\'s price')
  const customer = fake.customers.get(subscription.customer as string)!
  t.same(customer.metadata, { orgId }, 'a customer made for the organization')
  const events = await orgEvents(world, orgId)
  const linked = events.find((e) => e.type === 'org.organization.billing_linked')
  const changed = events.find((e) => e.type === 'org.organization.plan_changed')
  t.same(linked?.data, { customerId: customer.id })
  t.same(changed?.data, { plan: 'pro' })
  t.match(changed?.metadata,
    { causationId: pending.callId, correlationId: pending.callId, actor: { type: 'user', id: world.owner.userId } },
    'recorded as caused by the call, as its caller')
  t.same(eventTypes(await world.events(pending.callId)).slice(-3), ['approved', 'started', 'succeeded'])

  t.match(output(await callApproved(world, tools, 'billing.subscription.get', {}, orgId)), {
    plan: 'pro', customerId: customer.id,
    subscription: { subscriptionId, status: 'active', plan: 'pro', priceId: FAKE_PRICES.pro, cancelAtPeriodEnd: false }
  })
  t.match(output(await callApproved(world, tools, 'billing.plan.change', { plan: 'enterprise' }, orgId)),
    { plan: 'enterprise', subscriptionId }, 'an upgrade changes the same subscription\'s price')
  t.equal(fake.subscriptions.get(subscriptionId)!.items.data[0]!.price.id, FAKE_PRICES.enterprise)
  t.equal(live(fake, customer.id).length, 1, 'still one subscription')
  t.equal(fake.customers.size >= 1 && [...fake.customers.values()].filter((c) => c.metadata.orgId === orgId).length, 1,
    'and one customer: the link is reused')
  t.match(output(await callApproved(world, tools, 'billing.plan.change', { plan: 'free' }, orgId)), { plan: 'free', subscriptionId: null })
  t.equal(fake.subscriptions.get(subscriptionId)!.status, 'canceled', 'the free plan cancels the subscription')
  t.match(output(await callApproved(world, tools, 'billing.subscription.get', {}, orgId)),
    { plan: 'free', customerId: customer.id, subscription: null })
  const plans = (await orgEvents(world, orgId)).filter((e) => e.type === 'org.organization.plan_changed').map((e) => e.data)
  t.same(plans, [{ plan: 'pro' }, { plan: 'enterprise' }, { plan: 'free' }])
}

async function retried (t: Test, world: ToolWorld, fake: StripeFake): Promise<void> {
  const orgId = await newOrg(world, 'Retry Org')
  const real = world.runtime.tools.deps.registry.get('billing.plan.change')!.tool
  // The real body and contract, with a time limit the held request outlasts and no wait between attempts.
  const pipeline = world.pipeline([{ ...real, timeoutMs: 1500, backoff: { baseMs: 1, capMs: 5 } }])
  const held = fake.hold('POST /v1/subscriptions')
  const creates: FakeRequest[] = []
  const onRequest = (request: FakeRequest): void => {
    if (request.method !== 'POST' || request.path !== '/v1/subscriptions') return
    creates.push(request)
    // The second attempt found the first one's key in use: let the first finish, then the SDK's retry gets its answer.
    if (request.status === 409) held.release()
  }
  fake.events.on('request', onRequest)
  t.teardown(() => { fake.events.off('request', onRequest) })
  const outcome = await callThroughPipeline(world, pipeline, orgId, { plan: 'pro' })
  t.match(output(outcome), { plan: 'pro', subscriptionId: /^sub_/ })
  const events = await world.events(outcome.callId)
  t.same(eventTypes(events).slice(-4), ['started', 'timed_out', 'started', 'succeeded'], 'the first attempt timed out, the second ran')
  t.same(events.filter((e) => e.type === 'ai.tool.call.started').map((e) => e.data.attempt), [1, 2], 'two attempts')
  t.equal(events.filter((e) => e.type === 'ai.tool.call.timed_out').length, 1, 'the first timed out')
  const customer = await linkedCustomer(world, orgId)
  t.equal(live(fake, customer).length, 1, 'one subscription, whatever the attempts')
  t.equal(output(outcome).subscriptionId, live(fake, customer)[0]!.id)
  const keys = new Set(creates.map((request) => request.idempotencyKey))
  t.equal(keys.size, 1, 'every create carried the one key derived from the call')
  t.ok(creates.some((request) => request.status === 409), 'the second attempt met the first one\'s key in use')
  t.ok(creates.some((request) => request.replayed), 'and was answered the first one\'s subscription')
  const plans = (await orgEvents(world, orgId)).filter((e) => e.type === 'org.organization.plan_changed')
  t.equal(plans.length, 1, 'the plan is recorded once')
}

async function callThroughPipeline (world: ToolWorld, pipeline: ToolPipeline, orgId: string, input: unknown): Promise<ToolCallOutcome> {
  const caller = world.caller(world.owner.userId)
  const pending = await pipeline.call({ orgId, tool: 'billing.plan.change', input, caller, metadata: world.metadata(caller.userId) })
  return pipeline.approve({ orgId, callId: pending.callId, caller, metadata: world.metadata(caller.userId) })
}

async function refusals (t: Test, world: ToolWorld, fake: StripeFake, tools: ToolPipeline): Promise<void> {
  const orgId = await newOrg(world, 'Declined Org')
  fake.failNext('POST /v1/subscriptions', CARD_DECLINED)
  const declined = await callApproved(world, tools, 'billing.plan.change', { plan: 'pro' }, orgId)
  t.match(declined, {
    status: 'failed',
    error: { code: 'billing.card_declined', status: 402, details: { declineCode: 'generic_decline', stripeCode: 'card_declined' } }
  })
  const events = await world.events(declined.callId)
  t.equal(events.filter((e) => e.type === 'ai.tool.call.started').length, 1, 'a refusal is not retried')
  t.match(events.at(-1), { type: 'ai.tool.call.failed', data: { code: 'billing.card_declined', retryAt: null } })
  t.notOk((await orgEvents(world, orgId)).some((e) => e.type === 'org.organization.plan_changed'), 'the plan is unchanged')
  t.match(output(await callApproved(world, tools, 'billing.subscription.get', {}, orgId)), { plan: 'free', subscription: null })

  const other = await newOrg(world, 'Given Customer Org')
  const billing = world.runtime.billing!
  await t.rejects(linkCustomer(world.runtime.identity, billing, world.metadata(world.owner.userId), other, 'cus_Missing1'),
    { code: 'billing.not_found', status: 404, details: { stripeCode: 'resource_missing', param: 'id' } }, 'an unknown customer is 404')
  const given = await billing.stripe.customers.create({ description: 'made at Stripe' })
  const linked = await linkCustomer(world.runtime.identity, billing, world.metadata(world.owner.userId), other, given.id)
  t.equal(linked.customerId, given.id, 'a customer that exists is linked as given')
  await t.rejects(linkCustomer(world.runtime.identity, billing, world.metadata(world.owner.userId), other, 'cus_Another1'),
    { code: 'billing.already_linked', status: 409 }, 'another customer afterwards is refused')
  t.match(output(await callApproved(world, tools, 'billing.plan.change', { plan: 'pro' }, other)), { plan: 'pro' })
  t.equal(live(fake, given.id).length, 1, 'the plan change used the given customer')
}

async function route (t: Test, world: ToolWorld, fake: StripeFake): Promise<void> {
  const orgId = await newOrg(world, 'Route Org')
  const app = await buildApp(world.runtime)
  t.teardown(() => app.close())
  const put = (plan: string, headers: Record<string, string> = {}) => app.inject({
    method: 'PUT', url: `/v1/orgs/${orgId}/plan`, headers: { authorization: `Bearer ${world.owner.token}`, ...headers }, payload: { plan }
  })
  const response = await put('enterprise')
  t.equal(response.statusCode, 200, response.body)
  const customer = await linkedCustomer(world, orgId)
  t.equal(live(fake, customer)[0]?.items.data[0]?.price.id, FAKE_PRICES.enterprise, 'the route subscribed through Stripe')
  fake.failNext('POST /v1/subscriptions/' + live(fake, customer)[0]!.id, CARD_DECLINED)
  const declined = await put('pro')
  t.equal(declined.statusCode, 402)
  t.match(declined.json(), { code: 'billing.card_declined', declineCode: 'generic_decline' }, 'problem+json with the stable code')
  t.equal(live(fake, customer)[0]?.items.data[0]?.price.id, FAKE_PRICES.enterprise, 'nothing changed')
}

async function invoices (t: Test, world: ToolWorld, fake: StripeFake, tools: ToolPipeline): Promise<void> {
  const orgId = await newOrg(world, 'Invoices Org')
  const list = async (input: Record<string, unknown>) => output(await callApproved(world, tools, 'billing.invoices.list', input, orgId)) as
    { items: Array<{ invoiceId: string, number: string }>, nextCursor: string | null }
  t.same(await list({}), { items: [], nextCursor: null }, 'not linked: no invoices')
  const { customerId } = await linkCustomer(world.runtime.identity, world.runtime.billing!, world.metadata(world.owner.userId), orgId)
  t.same(await list({}), { items: [], nextCursor: null }, 'linked, none yet: 0')
  fake.addInvoices(customerId, 1)
  const one = await list({})
  t.equal(one.items.length, 1, '1')
  t.equal(one.nextCursor, null)
  t.match(one.items[0], { invoiceId: /^in_/, status: 'paid', currency: 'usd', total: 4900, amountPaid: 4900 })
  for (const [count, more] of [[9, false], [10, false], [11, true]] as const) {
    fake.addInvoices(customerId, count - (await list({ limit: 100 })).items.length)
    const page = await list({})
    t.equal(page.items.length, Math.min(count, 10), `${count} invoices: a page of ${Math.min(count, 10)} (the default limit is 10)`)
    t.equal(page.nextCursor !== null, more, more ? 'one more: a next page' : 'no next page')
    if (page.nextCursor !== null) t.equal((await list({ cursor: page.nextCursor })).items.length, count - 10)
  }
  fake.addInvoices(customerId, 250 - 11)
  const seen: string[] = []
  let cursor: string | null | undefined
  let pages = 0
  do {
    const page = await list({ limit: 100, ...(cursor === undefined || cursor === null ? {} : { cursor }) })
    seen.push(...page.items.map((item) => item.invoiceId))
    cursor = page.nextCursor
    pages++
  } while (cursor !== null)
  t.equal(pages, 3, '250 invoices: 100, 100, 50')
  t.equal(new Set(seen).size, 250, 'each once')
  const numbers = (await list({ limit: 3 })).items.map((item) => item.number)
  t.same(numbers, [...numbers].sort().reverse(), 'newest first')
  for (const limit of [0, 101]) {
    t.match(await callApproved(world, tools, 'billing.invoices.list', { limit }, orgId),
      { status: 'failed', error: { code: 'tool.invalid_input' } }, `limit ${limit} is refused`)
  }
  const elsewhere = fake.addInvoices('cus_SomeoneElse', 1)[0]!.id
  t.match(await callApproved(world, tools, 'billing.invoices.list', { cursor: elsewhere }, orgId),
    { status: 'failed', error: { code: 'billing.not_found', status: 404 } }, 'a cursor from another customer\'s list is not found')
}
