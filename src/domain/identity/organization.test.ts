import fc from 'fast-check'
import t from 'tap'
import { fold } from '../decider.ts'
import { EventRegistry } from '../registry.ts'
import { spec, TEST_CONTEXT } from '../testing.ts'
import { BUILT_IN_ROLES, identityEvents, type OrgEvent } from './events.ts'
import type { RbacEvent } from '../rbac/events.ts'
import { organizationDecider, type OrgCommand, type OrgState } from './organization.ts'

const org = spec(organizationDecider)
const created: OrgEvent[] = [
  { type: 'org.organization.created', data: { orgId: 'acme', name: 'Acme', plan: 'free', ownerId: 'ann' } },
  { type: 'org.member.added', data: { userId: 'ann', roles: ['owner'] } }
]
const withBob: OrgEvent[] = [...created, { type: 'org.member.added', data: { userId: 'bob', roles: ['member'] } }]

t.test('creating an organization makes its creator the owner', async (t) => {
  org.given([]).when({ type: 'CreateOrganization', data: { orgId: 'acme', name: 'Acme', ownerId: 'ann' } }).then(t, created)
  org.given(created).when({ type: 'CreateOrganization', data: { orgId: 'acme', name: 'Acme', ownerId: 'ann' } })
    .thenThrows(t, 'org.already_exists')
  org.given([]).when({ type: 'RenameOrganization', data: { name: 'X' } }).thenThrows(t, 'org.not_found')
})

t.test('the last owner cannot be removed, demoted or left without a role', async (t) => {
  org.given(withBob).when({ type: 'RemoveMember', data: { userId: 'ann' } }).thenThrows(t, 'org.last_owner')
  org.given(withBob).when({ type: 'UnassignRole', data: { userId: 'ann', role: 'owner' } }).thenThrows(t, 'org.last_owner')
  org.given(withBob).when({ type: 'UnassignRole', data: { userId: 'bob', role: 'member' } }).thenThrows(t, 'org.member_needs_role')
  const twoOwners: OrgEvent[] = [...withBob, { type: 'org.member.role_assigned', data: { userId: 'bob', role: 'owner' } }]
  org.given(twoOwners).when({ type: 'UnassignRole', data: { userId: 'ann', role: 'owner' } })
    .thenThrows(t, 'org.member_needs_role', 'ann holds only the owner role: she would be left with none')
  org.given(twoOwners).when({ type: 'RemoveMember', data: { userId: 'ann' } })
    .then(t, [{ type: 'org.member.removed', data: { userId: 'ann' } }], 'with a second owner, the first may go')
})

t.test('members are added once and removed only when present', async (t) => {
  org.given(withBob).when({ type: 'AddMember', data: { userId: 'bob', roles: ['admin'] } }).thenThrows(t, 'org.member_exists')
  org.given(withBob).when({ type: 'RemoveMember', data: { userId: 'zoe' } }).thenThrows(t, 'org.member_not_found')
  org.given(withBob).when({ type: 'AddMember', data: { userId: 'zoe', roles: ['viewer', 'admin', 'viewer'] } })
    .then(t, [{ type: 'org.member.added', data: { userId: 'zoe', roles: ['admin', 'viewer'] } }], 'roles de-duplicated and sorted')
  org.given(withBob).when({ type: 'AssignRole', data: { userId: 'bob', role: 'member' } }).then(t, [], 'a role already held: nothing to do')
  org.given(withBob).when({ type: 'RenameOrganization', data: { name: 'Acme' } }).then(t, [], 'the same name: nothing to do')
  org.given(withBob).when({ type: 'ChangePlan', data: { plan: 'pro' } })
    .then(t, [{ type: 'org.organization.plan_changed', data: { plan: 'pro' } }])
})

t.test('an organization is linked to one Stripe customer, once', async (t) => {
  const linked: OrgEvent[] = [...created, { type: 'org.organization.billing_linked', data: { customerId: 'cus_A1' } }]
  org.given(created).when({ type: 'LinkBilling', data: { customerId: 'cus_A1' } }).then(t, linked.slice(created.length))
  org.given(linked).when({ type: 'LinkBilling', data: { customerId: 'cus_A1' } }).then(t, [], 'the same customer again: nothing to do')
  org.given(linked).when({ type: 'LinkBilling', data: { customerId: 'cus_B2' } })
    .thenThrows(t, 'billing.already_linked', 'another customer would orphan the subscription under the first')
  org.given([]).when({ type: 'LinkBilling', data: { customerId: 'cus_A1' } }).thenThrows(t, 'org.not_found')
  const state = fold(organizationDecider, linked)
  t.equal(state.status === 'active' ? state.billingCustomerId : undefined, 'cus_A1', 'the state names the customer')
  t.equal((fold(organizationDecider, created) as { billingCustomerId?: unknown }).billingCustomerId, null, 'none before')
})

// ── properties ─────────────────────────────────────────────────────────────

const users = ['ann', 'bob', 'cy', 'dee']
const user = fc.constantFrom(...users)
const role = fc.constantFrom(...BUILT_IN_ROLES)
const command: fc.Arbitrary<OrgCommand> = fc.oneof(
  fc.record({
    type: fc.constant('CreateOrganization' as const),
    data: fc.record({ orgId: fc.constant('acme'), name: fc.constantFrom('Acme', 'Acme Ltd'), ownerId: user })
  }),
  fc.record({ type: fc.constant('RenameOrganization' as const), data: fc.record({ name: fc.constantFrom('Acme', 'Beta') }) }),
  fc.record({
    type: fc.constant('ChangePlan' as const),
    data: fc.record({ plan: fc.constantFrom('free' as const, 'pro' as const, 'enterprise' as const) })
  }),
  fc.record({
    type: fc.constant('AddMember' as const),
    data: fc.record({ userId: user, roles: fc.uniqueArray(role, { minLength: 1, maxLength: 2 }) })
  }),
  fc.record({ type: fc.constant('RemoveMember' as const), data: fc.record({ userId: user }) }),
  fc.record({ type: fc.constant('LinkBilling' as const), data: fc.record({ customerId: fc.constantFrom('cus_A1', 'cus_B2') }) }),
  fc.record({ type: fc.constant('AssignRole' as const), data: fc.record({ userId: user, role }) }),
  fc.record({ type: fc.constant('UnassignRole' as const), data: fc.record({ userId: user, role }) })
)

/** Runs commands in order, skipping the refused ones; returns every event and the states along the way. */
function run (commands: OrgCommand[]): {
  events: Array<OrgEvent | RbacEvent>, states: OrgState[], refusals: Array<{ before: OrgState, after: OrgState }>
} {
  let state = organizationDecider.initialState()
  const events: Array<OrgEvent | RbacEvent> = []
  const states: OrgState[] = [state]
  const refusals: Array<{ before: OrgState, after: OrgState }> = []
  for (const c of commands) {
    const before = structuredClone(state)
    let decided: Array<OrgEvent | RbacEvent>
    try {
      decided = organizationDecider.decide(c, state, TEST_CONTEXT)
    } catch {
      refusals.push({ before, after: state })
      continue
    }
    for (const event of decided) state = organizationDecider.evolve(state, event)
    events.push(...decided)
    states.push(state)
  }
  return { events, states, refusals }
}

t.test('no command sequence links a second customer', async (t) => {
  fc.assert(fc.property(fc.array(command, { maxLength: 40 }), (commands) => {
    const linked = run(commands).events.filter((event) => event.type === 'org.organization.billing_linked')
    return linked.length <= 1
  }), { numRuns: 300 })
  t.pass('300 random sequences of up to 40 commands linked at most one customer')
})

t.test('no command sequence leaves an organization without an owner, or a member without a role', async (t) => {
  fc.assert(fc.property(fc.array(command, { maxLength: 40 }), (commands) => {
    for (const state of run(commands).states) {
      if (state.status !== 'active') continue
      if (!Object.values(state.members).some((roles) => roles.includes('owner'))) return false
      if (Object.values(state.members).some((roles) => roles.length === 0)) return false
    }
    return true
  }), { numRuns: 500 })
  t.pass('500 random sequences of up to 40 commands kept both invariants')
})

t.test('folding all events at once equals folding them one by one', async (t) => {
  fc.assert(fc.property(fc.array(command, { maxLength: 30 }), (commands) => {
    const { events, states } = run(commands)
    t.same(fold(organizationDecider, events), states.at(-1))
    return true
  }), { numRuns: 200 })
})

t.test('a refused command leaves the state as it was, and every decided event fits its schema', async (t) => {
  const registry = new EventRegistry(identityEvents)
  fc.assert(fc.property(fc.array(command, { maxLength: 30 }), (commands) => {
    const { events, refusals } = run(commands)
    for (const { before, after } of refusals) if (JSON.stringify(before) !== JSON.stringify(after)) return false
    for (const event of events) registry.validate(event.type, event.data)
    return true
  }), { numRuns: 300 })
  t.pass('300 random sequences: no refusal changed the state; every event validated')
})

// ── giving roles to newcomers (found in review) ────────────────────────────

/** ann owns the organization and holds a role denying member:remove; bob is an admin. */
const annUnderDeny = [
  ...created,
  { type: 'org.member.added', data: { userId: 'bob', roles: ['admin'] } },
  {
    type: 'rbac.role.created',
    data: { roleId: 'role_keep', name: 'Keep', description: '', grants: [{ actions: ['member:remove'], resource: '*', effect: 'deny' }] }
  },
  { type: 'rbac.role.assigned', data: { roleId: 'role_keep', userId: 'ann' } }
] as Array<OrgEvent | RbacEvent>
const as = (id: string): typeof TEST_CONTEXT => ({ ...TEST_CONTEXT, actor: { type: 'user', id } })
const invite = (roles: Array<'owner' | 'admin' | 'viewer'>) => ({
  type: 'InviteMember' as const,
  data: { inviteId: 'inv_1', email: 'alt@example.com', roles, tokenHash: 'a'.repeat(64), expiresAt: '2026-01-08T00:00:00.000Z' }
})

t.test('an owner under a deny cannot add, invite or let in an owner who is not under it', async (t) => {
  org.given(annUnderDeny).when({ type: 'AddMember', data: { userId: 'alt', roles: ['owner'] } }, as('ann'))
    .thenThrows(t, 'rbac.escalation', 'adding an owner would lift her deny of member:remove for the newcomer')
  org.given(annUnderDeny).when(invite(['owner']), as('ann')).thenThrows(t, 'rbac.escalation', 'inviting one likewise')
  org.given(annUnderDeny).when({ type: 'AddMember', data: { userId: 'alt', roles: ['viewer'] } }, as('ann'))
    .then(t, [{ type: 'org.member.added', data: { userId: 'alt', roles: ['viewer'] } }], 'a role that gives nothing she is denied is fine')
  // Invited before the deny: the acceptance checks again, against the inviter as she is now.
  const invitedEarlier = [...created, ...organizationDecider.decide(invite(['owner']), fold(organizationDecider, created), as('ann'))]
  const thenDenied = [...invitedEarlier, ...annUnderDeny.slice(created.length)] as Array<OrgEvent | RbacEvent>
  const accept = {
    type: 'AcceptInvitation' as const,
    data: { inviteId: 'inv_1', tokenHash: 'a'.repeat(64), userId: 'alt', email: 'alt@example.com' }
  }
  org.given(invitedEarlier).when(accept, as('alt')).then(t, [
    { type: 'org.invitation.accepted', data: { inviteId: 'inv_1', userId: 'alt' } },
    { type: 'org.member.added', data: { userId: 'alt', roles: ['owner'] } }
  ], 'accepted while the inviter may still give it')
  org.given(thenDenied).when(accept, as('alt'))
    .thenThrows(t, 'rbac.escalation', 'refused once she is under a deny the newcomer would escape')
})

t.test('a user who is no longer a member changes nothing, whatever a lagging read model let through', async (t) => {
  const bobLeft = [...annUnderDeny, { type: 'org.member.removed', data: { userId: 'bob' } }] as Array<OrgEvent | RbacEvent>
  org.given(bobLeft).when({ type: 'AddMember', data: { userId: 'alt', roles: ['member'] } }, as('bob')).thenThrows(t, 'auth.forbidden')
  org.given(bobLeft).when({ type: 'AssignRole', data: { userId: 'ann', role: 'admin' } }, as('bob')).thenThrows(t, 'auth.forbidden')
  org.given(bobLeft).when({ type: 'SetRoleGrants', data: { roleId: 'role_keep', grants: [] } }, as('bob')).thenThrows(t, 'auth.forbidden')
})
