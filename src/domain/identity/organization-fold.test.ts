/**
 * Folding an organization's stream is linear and never changes a state it was
 * given: `evolveAll` copies the state and each map it touches once (a Draft),
 * then changes its copies in place. The properties check it against `evolve`
 * one event at a time, from any intermediate state (as a cached state is), and
 * that the intermediate state is left exactly as it was.
 */
import fc from 'fast-check'
import t from 'tap'
import { Draft, evolveMany, fold, setOwn } from '../decider.ts'
import type { RbacEvent } from '../rbac/events.ts'
import type { OrgEvent } from './events.ts'
import { organizationDecider, type OrgState } from './organization.ts'

type Event = OrgEvent | RbacEvent

const created: Event = { type: 'org.organization.created', data: { orgId: 'acme', name: 'Acme', plan: 'free', ownerId: 'ann' } }
// `__proto__` and `constructor` as ids: set as own properties, never the prototype.
const id = fc.constantFrom('ann', 'bob', 'cy', '__proto__', 'constructor', '1')
const role = fc.constantFrom('owner' as const, 'admin' as const, 'member' as const, 'viewer' as const)
const event: fc.Arbitrary<Event> = fc.oneof(
  fc.record({ type: fc.constant('org.organization.renamed' as const), data: fc.record({ name: fc.constantFrom('Acme', 'Beta') }) }),
  fc.record({
    type: fc.constant('org.organization.plan_changed' as const),
    data: fc.record({ plan: fc.constantFrom('free' as const, 'pro' as const) })
  }),
  fc.record({
    type: fc.constant('org.organization.audit_retention_set' as const),
    data: fc.record({ days: fc.constantFrom(null, 30, 90) })
  }),
  fc.record({ type: fc.constant('org.organization.support_access_set' as const), data: fc.record({ enabled: fc.boolean() }) }),
  fc.record({
    type: fc.constant('org.organization.billing_linked' as const),
    data: fc.record({ customerId: fc.constantFrom('cus_A1', 'cus_B2') })
  }),
  fc.record({
    type: fc.constant('org.organization.settings_changed' as const),
    data: fc.record({ settings: fc.dictionary(id, fc.oneof(fc.integer(), fc.constant(null))) })
  }),
  fc.record({
    type: fc.constant('org.member.invited' as const),
    data: fc.record({
      inviteId: id, email: fc.constantFrom('a@x.io', 'b@x.io'), roles: fc.uniqueArray(role, { minLength: 1, maxLength: 2 })
    })
  }),
  fc.record({
    type: fc.constant('org.invitation.created' as const),
    data: fc.record({
      inviteId: id, email: fc.constantFrom('a@x.io', 'b@x.io'), roles: fc.constant(['member' as const]),
      invitedBy: fc.constant({ type: 'user' as const, id: 'ann' }), tokenHash: fc.constant('a'.repeat(64)),
      expiresAt: fc.constant('2030-01-01T00:00:00.000Z')
    })
  }),
  fc.record({ type: fc.constant('org.invitation.accepted' as const), data: fc.record({ inviteId: id, userId: id }) }),
  fc.record({ type: fc.constant('org.invitation.revoked' as const), data: fc.record({ inviteId: id }) }),
  fc.record({
    type: fc.constant('org.member.added' as const),
    data: fc.record({ userId: id, roles: fc.uniqueArray(role, { minLength: 1, maxLength: 2 }) })
  }),
  fc.record({ type: fc.constant('org.member.removed' as const), data: fc.record({ userId: id }) }),
  fc.record({ type: fc.constant('org.member.role_assigned' as const), data: fc.record({ userId: id, role }) }),
  fc.record({ type: fc.constant('org.member.role_unassigned' as const), data: fc.record({ userId: id, role }) }),
  fc.record({
    type: fc.constant('rbac.role.created' as const),
    data: fc.record({ roleId: id, name: fc.constantFrom('Ops', 'Dev'), description: fc.constant(''), grants: fc.constant([]) })
  }),
  fc.record({ type: fc.constant('rbac.role.renamed' as const), data: fc.record({ roleId: id, name: fc.constantFrom('Ops2', 'Dev2') }) }),
  fc.record({ type: fc.constant('rbac.role.described' as const), data: fc.record({ roleId: id, description: fc.constantFrom('a', 'b') }) }),
  fc.record({ type: fc.constant('rbac.role.deleted' as const), data: fc.record({ roleId: id }) }),
  fc.record({ type: fc.constant('rbac.role.assigned' as const), data: fc.record({ roleId: id, userId: id }) }),
  fc.record({ type: fc.constant('rbac.role.unassigned' as const), data: fc.record({ roleId: id, userId: id }) })
) as fc.Arbitrary<Event>

const stepByStep = (state: OrgState, events: Event[]): OrgState => events.reduce((s, e) => organizationDecider.evolve(s, e), state)

t.test('evolveAll from any state equals evolve one event at a time, and leaves the state it was given as it was', async (t) => {
  fc.assert(fc.property(fc.array(event, { maxLength: 40 }), fc.array(event, { maxLength: 40 }), (before, after) => {
    const cached = fold(organizationDecider, [created, ...before])
    const snapshot = JSON.stringify(cached)
    const [all, one] = [evolveMany(organizationDecider, cached, after), stepByStep(cached, after)]
    t.equal(JSON.stringify(all), JSON.stringify(one), 'the same state, keys in the same order')
    t.equal(JSON.stringify(cached), snapshot, 'the state given is unchanged')
    t.strictSame(Object.getPrototypeOf(cached.status === 'active' ? cached.members : {}), Object.prototype)
    return true
  }), { numRuns: 300 })
  t.same(stepByStep(organizationDecider.initialState(), [{ type: 'org.member.added', data: { userId: 'ann', roles: ['owner'] } }]),
    { status: 'none' }, 'events before creation change nothing')
})

t.test('evolve never changes the state it is given, even one evolveAll made', async (t) => {
  fc.assert(fc.property(fc.array(event, { maxLength: 30 }), event, (events, next) => {
    const state = fold(organizationDecider, [created, ...events])
    const snapshot = JSON.stringify(state)
    organizationDecider.evolve(state, next)
    t.equal(JSON.stringify(state), snapshot)
    return true
  }), { numRuns: 300 })
})

t.test('an id named __proto__ is an own member, not the prototype', async (t) => {
  const state = fold(organizationDecider, [created, { type: 'org.member.added', data: { userId: '__proto__', roles: ['viewer'] } }])
  t.equal(state.status, 'active')
  if (state.status !== 'active') return
  t.ok(Object.hasOwn(state.members, '__proto__'))
  t.same(Object.keys(state.members), ['__proto__'])
  t.equal(Object.getPrototypeOf(state.members), Object.prototype)
  const removed = organizationDecider.evolve(state, { type: 'org.member.removed', data: { userId: '__proto__' } })
  t.same(removed.status === 'active' && Object.keys(removed.members), [])
})

t.test('a Draft copies each object once and writes only to its copies', async (t) => {
  const draft = new Draft()
  const given = { a: 1 }
  const copy = draft.own(given)
  t.not(copy, given)
  t.equal(draft.own(given), copy, 'the same copy the second time')
  t.equal(draft.own(copy), copy, 'its own copy is not copied again')
  setOwn(copy, 'b', 2)
  t.same(given, { a: 1 })
  t.same(copy, { a: 1, b: 2 })
  t.not(new Draft().own(given), copy, 'another draft copies again')
  t.same(draft.own([1, 2]), [1, 2])
})

t.test('an organization of 1,000 roles, 10,000 members and 10,000 invitations folds to the right state', async (t) => {
  const events: Event[] = [created, { type: 'org.member.added', data: { userId: 'ann', roles: ['owner'] } }]
  for (let i = 0; i < 1000; i++) {
    events.push({ type: 'rbac.role.created', data: { roleId: `r${i}`, name: `Role ${i}`, description: '', grants: [] } })
  }
  for (let i = 0; i < 10_000; i++) events.push({ type: 'org.member.added', data: { userId: `u${i}`, roles: ['viewer'] } })
  for (let i = 0; i < 10_000; i++) {
    events.push({ type: 'org.member.invited', data: { inviteId: `i${i}`, email: `p${i}@x.io`, roles: ['member'] } })
  }
  for (let i = 0; i < 1000; i++) events.push({ type: 'rbac.role.assigned', data: { roleId: `r${i}`, userId: `u${i}` } })
  for (let i = 0; i < 500; i++) events.push({ type: 'org.member.removed', data: { userId: `u${9999 - i}` } })
  for (let i = 0; i < 100; i++) events.push({ type: 'rbac.role.deleted', data: { roleId: `r${999 - i}` } })
  const state = fold(organizationDecider, events)
  if (state.status !== 'active') return t.fail('not active')
  t.equal(Object.keys(state.roles).length, 900)
  t.equal(Object.keys(state.members).length, 1 + 10_000 - 500)
  t.equal(Object.keys(state.invitations).length, 10_000)
  t.same(state.members.u5, ['r5', 'viewer'])
  t.same(state.members.u5000, ['viewer'])
  t.notOk(Object.hasOwn(state.members, 'u9999'))
  t.same(state.roles.r0, { name: 'Role 0', description: '', grants: [] })
  // The same events one at a time from the state before the last 2,000 (as a command on a cached state would).
  const cached = fold(organizationDecider, events.slice(0, -2000))
  t.same(evolveMany(organizationDecider, cached, events.slice(-2000)), state)
  t.equal(Object.keys(cached.status === 'active' ? cached.members : {}).length, 10_001, 'the cached state still has every member')
})
