import fc from 'fast-check'
import t from 'tap'
import { fold } from '../decider.ts'
import type { ObjectAppliedData } from './inbound-events.ts'
import { compareMarks, messageDecider, objectDecider, type ObjectState } from './inbound-message.ts'

const ctx = { now: new Date(0), actor: { type: 'system' as const, id: 'test' } }
const applied = (eventId: string, created: number, plan: 'pro' | 'enterprise' = 'pro'): ObjectAppliedData => ({
  objectId: 'sub_1', objectType: 'subscription', eventId, eventType: 'customer.subscription.updated', created, orgId: 'org_1',
  messageStreamId: `whin-stripe-${eventId}`, plan
})

function apply (state: ObjectState, data: ObjectAppliedData): ObjectState {
  try {
    const events = objectDecider.decide({ type: 'ApplyObjectEvent', data }, state, ctx)
    return events.reduce(objectDecider.evolve, state)
  } catch (error) {
    if ((error as { code?: string }).code === 'webhook.older_than_applied') return state
    throw error
  }
}

t.test('an object applies newer events, refuses older ones, and recognizes one applied already', async (t) => {
  let state = objectDecider.initialState()
  state = apply(state, applied('evt_b', 20))
  const decide = (data: ObjectAppliedData, on: ObjectState = state) => objectDecider.decide({ type: 'ApplyObjectEvent', data }, on, ctx)
  const older = { code: 'webhook.older_than_applied' }
  t.throws(() => decide(applied('evt_a', 10)), older)
  t.throws(() => decide(applied('evt_a', 20)), older, 'same second: the smaller id is older')
  t.same(decide(applied('evt_c', 20)).length, 1, 'same second, larger id: newer')
  t.same(decide(applied('evt_b', 20)), [], 'applied already: nothing')
  state = apply(state, applied('evt_d', 30, 'enterprise'))
  t.same(decide(applied('evt_b', 20), state), [], 'an applied event stays applied after newer ones')
})

t.test('whatever order events come in, and however often, the latest is the newest of them', async (t) => {
  const event = fc.record({ created: fc.integer({ min: 0, max: 20 }), n: fc.integer({ min: 0, max: 30 }) })
  t.doesNotThrow(() => fc.assert(fc.property(fc.array(event, { minLength: 1, maxLength: 40 }), (events) => {
    const data = events.map((e) => applied(`evt_${String(e.n).padStart(2, '0')}`, e.created))
    // One event id has one `created` at Stripe: keep the first seen of each id.
    const unique = [...new Map(data.map((d) => [d.eventId, d])).values()]
    const delivered = [...unique, ...unique.slice(0, 3)]
    const final = delivered.reduce(apply, objectDecider.initialState())
    const newest = [...unique].sort(compareMarks).at(-1)!
    return final.latest?.eventId === newest.eventId
  })))
})

t.test('a message records an outcome once, and again only when it differs', async (t) => {
  const received = messageDecider.evolve(messageDecider.initialState(), {
    type: 'webhook.received',
    data: { source: 'stripe', sourceId: 'stripe', messageId: 'evt_1', eventType: 'x', receivedAt: new Date(0).toISOString(), body: {} }
  })
  const skipped = { outcome: 'skipped' as const, reason: 'unknown_customer' }
  const first = messageDecider.decide({ type: 'RecordOutcome', data: skipped }, received, ctx)
  t.equal(first.length, 1)
  if (received.status !== 'received') throw new Error('received')
  const after = fold(messageDecider, [{ type: 'webhook.received', data: received.received }, ...first])
  t.same(messageDecider.decide({ type: 'RecordOutcome', data: skipped }, after, ctx), [], 'the same outcome: nothing')
  t.equal(messageDecider.decide({ type: 'RecordOutcome', data: { outcome: 'applied', orgId: 'org_1' } }, after, ctx).length, 1)
  t.throws(() => messageDecider.decide({ type: 'RecordOutcome', data: skipped }, messageDecider.initialState(), ctx),
    { code: 'webhook.message_not_found' })
})
