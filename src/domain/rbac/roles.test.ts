/**
 * Custom roles in the organization aggregate: examples, and the property
 * that no command sequence, by any mix of members, lets anyone grant or
 * assign an action they did not hold at that moment, nor a role that
 * allows any check (action, resource, context) they could not pass.
 */
import fc from 'fast-check'
import t from 'tap'
import type { DecisionContext } from '../decider.ts'
import type { OrgEvent } from '../identity/events.ts'
import { organizationDecider, type OrgCommand, type OrgState } from '../identity/organization.ts'
import { spec } from '../testing.ts'
import type { GrantData, RbacEvent } from './events.ts'
import type { Condition } from './conditions.ts'
import { Policy, type Resource } from './policy.ts'
import { BLOCKED_ACTIONS } from '../impersonation/blocked.ts'
import { LEDGERLINE_CATALOGUE } from './permissions.ts'
import { actionsHeld, grantsOf, resourceCovers } from './roles.ts'

const org = spec(organizationDecider)
const as = (id: string): DecisionContext => ({ now: new Date('2026-01-01T00:00:00Z'), actor: { type: 'user', id } })
const base: OrgEvent[] = [
  { type: 'org.organization.created', data: { orgId: 'acme', name: 'Acme', plan: 'free', ownerId: 'ann' } },
  { type: 'org.member.added', data: { userId: 'ann', roles: ['owner'] } },
  { type: 'org.member.added', data: { userId: 'ada', roles: ['admin'] } },
  { type: 'org.member.added', data: { userId: 'mel', roles: ['member'] } }
]
const invoices: GrantData[] = [{ actions: ['member:read', 'member:invite'], resource: '*', effect: 'allow' }]
const created: RbacEvent = { type: 'rbac.role.created', data: { roleId: 'role_recruiter', name: 'Recruiter', description: '',
  grants: invoices } }

t.test('create, rename, describe, set grants, assign, unassign, delete', async (t) => {
  org.given(base).when({ type: 'CreateRole', data: { roleId: 'role_recruiter', name: 'Recruiter', grants: invoices } }, as('ada')).then(t,
    [created])
  org.given([...base, created]).when({ type: 'CreateRole', data: { roleId: 'role_recruiter', name: 'Again', grants: [] } },
    as('ann')).thenThrows(t, 'rbac.role_exists')
  org.given([...base, created]).when({ type: 'RenameRole', data: { roleId: 'role_recruiter', name: 'Talent' } }, as('ann'))
    .then(t, [{ type: 'rbac.role.renamed', data: { roleId: 'role_recruiter', name: 'Talent' } }])
  org.given([...base, created]).when({ type: 'RenameRole', data: { roleId: 'role_recruiter', name: 'Recruiter' } }, as('ann')).then(t, [],
    'same name: nothing')
  org.given([...base, created]).when({ type: 'DescribeRole', data: { roleId: 'role_nope', description: 'x' } }, as('ann')).thenThrows(t,
    'rbac.role_not_found')
  const assigned: RbacEvent = { type: 'rbac.role.assigned', data: { roleId: 'role_recruiter', userId: 'mel' } }
  org.given([...base, created]).when({ type: 'AssignCustomRole', data: { roleId: 'role_recruiter', userId: 'mel' } }, as('ada')).then(t,
    [assigned])
  org.given([...base, created, assigned]).when({ type: 'DeleteRole', data: { roleId: 'role_recruiter' } }, as('ann')).thenThrows(t,
    'rbac.role_in_use')
  org.given([...base, created, assigned]).when({ type: 'UnassignCustomRole', data: { roleId: 'role_recruiter', userId: 'mel' } }, as('ann'))
    .then(t, [{ type: 'rbac.role.unassigned', data: { roleId: 'role_recruiter', userId: 'mel' } }])
  org.given([...base, created]).when({ type: 'DeleteRole', data: { roleId: 'role_recruiter' } }, as('ann')).then(t,
    [{ type: 'rbac.role.deleted', data: { roleId: 'role_recruiter' } }])
  org.given([...base, created]).when({ type: 'AssignCustomRole', data: { roleId: 'role_recruiter', userId: 'nobody' } },
    as('ann')).thenThrows(t, 'org.member_not_found')
})

t.test('deleting a role in use names its holders', async (t) => {
  const state = [...base, created, { type: 'rbac.role.assigned', data: { roleId: 'role_recruiter', userId: 'mel' } },
    { type: 'rbac.role.assigned', data: { roleId: 'role_recruiter', userId: 'ada' } }] as Array<OrgEvent | RbacEvent>
  try {
    organizationDecider.decide({ type: 'DeleteRole', data: { roleId: 'role_recruiter' } },
      state.reduce(organizationDecider.evolve, organizationDecider.initialState()), as('ann'))
    t.fail('refused')
  } catch (error) {
    t.match(error, { code: 'rbac.role_in_use', details: { holders: ['ada', 'mel'] } })
  }
})

t.test('no escalation: members grant only what they hold, only owners grant owner-only actions', async (t) => {
  const audit: GrantData[] = [{ actions: ['audit:export'], resource: '*', effect: 'allow' }]
  org.given(base).when({ type: 'CreateRole', data: { roleId: 'role_x', name: 'X', grants: audit } }, as('mel')).thenThrows(t,
    'rbac.escalation')
  org.given(base).when({ type: 'CreateRole', data: { roleId: 'role_x', name: 'X',
    grants: [{ actions: ['billing:update'], resource: '*', effect: 'allow' }] } }, as('ada')).thenThrows(t, 'rbac.escalation')
  org.given(base).when({ type: 'CreateRole', data: { roleId: 'role_x', name: 'X',
    grants: [{ actions: ['*'], resource: '*', effect: 'allow' }] } }, as('ann'))
    .then(t, [{ type: 'rbac.role.created', data: { roleId: 'role_x', name: 'X', description: '',
      grants: [{ actions: ['*'], resource: '*', effect: 'allow' }] } }], 'an owner may grant everything')
  org.given(base).when({ type: 'CreateRole', data: { roleId: 'role_x', name: 'X',
    grants: [{ actions: ['audit:*'], resource: '*', effect: 'deny' }] } }, as('mel'))
    .then(t, [{ type: 'rbac.role.created', data: { roleId: 'role_x', name: 'X', description: '',
      grants: [{ actions: ['audit:*'], resource: '*', effect: 'deny' }] } }], 'a deny takes nothing from anyone who lacks it')
  const big: RbacEvent = { type: 'rbac.role.created', data: { roleId: 'role_big', name: 'Big', description: '',
    grants: [{ actions: ['billing:update'], resource: '*', effect: 'allow' }] } }
  org.given([...base, big]).when({ type: 'AssignCustomRole', data: { roleId: 'role_big', userId: 'mel' } }, as('ada')).thenThrows(t,
    'rbac.escalation')
  org.given([...base, big]).when({ type: 'SetRoleGrants', data: { roleId: 'role_big', grants: audit } }, as('mel')).thenThrows(t,
    'rbac.escalation')
})

// ── property ────────────────────────────────────────────────────────────────

const people = ['ann', 'ada', 'mel', 'vic']
const roleIds = ['role_a', 'role_b', 'role_c']
const grants: fc.Arbitrary<GrantData[]> = fc.array(fc.record({
  actions: fc.uniqueArray(fc.constantFrom('member:read', 'member:invite', 'audit:export', 'billing:update', 'role:*', '*', 'audit:*'),
    { minLength: 1, maxLength: 2 }),
  resource: fc.constant('*'),
  effect: fc.constantFrom('allow' as const, 'deny' as const)
}), { maxLength: 3 })
const command: fc.Arbitrary<OrgCommand> = fc.oneof(
  fc.record({ type: fc.constant('CreateRole' as const), data: fc.record({ roleId: fc.constantFrom(...roleIds), name: fc.constant('R'),
    grants }) }),
  fc.record({ type: fc.constant('SetRoleGrants' as const), data: fc.record({ roleId: fc.constantFrom(...roleIds), grants }) }),
  fc.record({ type: fc.constant('AssignCustomRole' as const), data: fc.record({ roleId: fc.constantFrom(...roleIds),
    userId: fc.constantFrom(...people) }) }),
  fc.record({ type: fc.constant('UnassignCustomRole' as const), data: fc.record({ roleId: fc.constantFrom(...roleIds),
    userId: fc.constantFrom(...people) }) }),
  fc.record({ type: fc.constant('DeleteRole' as const), data: fc.record({ roleId: fc.constantFrom(...roleIds) }) }),
  fc.record({ type: fc.constant('AddMember' as const), data: fc.record({ userId: fc.constant('vic'),
    roles: fc.constant(['viewer' as const]) }) })
) as fc.Arbitrary<OrgCommand>

type Active = Extract<OrgState, { status: 'active' }>

/**
 * Plays a random command sequence from `start`: commands the decider refuses
 * are skipped; for each accepted one whose actor is a member, `holds` judges
 * its events against the state before them and the actor's roles there.
 */
function everyAcceptedHolds (
  start: OrgState, steps: ReadonlyArray<[OrgCommand, string]>, holds: (state: Active, actorRoles: readonly string[],
    events: ReadonlyArray<OrgEvent | RbacEvent>) => boolean
): boolean {
  let state = start
  for (const [c, actor] of steps) {
    let events: Array<OrgEvent | RbacEvent>
    try {
      events = organizationDecider.decide(c, state, as(actor))
    } catch {
      continue
    }
    if (state.status !== 'active') return false
    const actorRoles = Object.hasOwn(state.members, actor) ? state.members[actor]! : undefined
    if (actorRoles !== undefined && !holds(state, actorRoles, events)) return false
    state = events.reduce(organizationDecider.evolve, state)
  }
  return true
}

t.test('no command sequence lets a member grant or assign an action they did not hold', async (t) => {
  const start = base.reduce(organizationDecider.evolve, organizationDecider.initialState())
  fc.assert(fc.property(fc.array(fc.tuple(command, fc.constantFrom(...people)), { maxLength: 30 }), (steps) =>
    everyAcceptedHolds(start, steps, (state, actorRoles, events) => {
    const held = actionsHeld(LEDGERLINE_CATALOGUE, state, actorRoles)
    const grantedNow = (e: OrgEvent | RbacEvent): string[] => {
      if (e.type === 'rbac.role.created' || e.type === 'rbac.role.grants_set') {
        const alone = { members: {}, roles: { r: { name: '', description: '', grants: e.data.grants } } }
        return [...actionsHeld(LEDGERLINE_CATALOGUE, alone, ['r'])]
      }
      if (e.type === 'rbac.role.assigned') return [...actionsHeld(LEDGERLINE_CATALOGUE, state, [e.data.roleId])]
      return []
    }
    return events.every((event) => grantedNow(event).every((action) => held.has(action)))
  })), { numRuns: 1000 })
  t.pass('1,000 random sequences of up to 30 role commands by random members: nobody granted more than they held')
})

t.test('giving a built-in role is giving its actions: add, invite, assign', async (t) => {
  const assigner: RbacEvent = { type: 'rbac.role.created', data: { roleId: 'role_assigner', name: 'Assigner', description: '',
    grants: [{ actions: ['role:assign', 'member:add', 'member:invite'], resource: '*', effect: 'allow' }] } }
  const given = [...base, assigner, { type: 'rbac.role.assigned', data: { roleId: 'role_assigner', userId: 'mel' } } as RbacEvent]
  org.given(given).when({ type: 'AssignRole', data: { userId: 'mel', role: 'admin' } }, as('mel')).thenThrows(t, 'rbac.escalation',
    'not admin to oneself')
  org.given(given).when({ type: 'AddMember', data: { userId: 'zoe', roles: ['admin'] } }, as('mel')).thenThrows(t, 'rbac.escalation')
  org.given(given).when({ type: 'InviteMember', data: { inviteId: 'inv1', email: 'zoe@example.com', roles: ['admin'],
    tokenHash: 'a'.repeat(64), expiresAt: '2026-01-08T00:00:00.000Z' } }, as('mel')).thenThrows(t, 'rbac.escalation')
  org.given(given).when({ type: 'AddMember', data: { userId: 'zoe', roles: ['viewer'] } }, as('mel'))
    .then(t, [{ type: 'org.member.added', data: { userId: 'zoe', roles: ['viewer'] } }], 'a member holds what a viewer holds')
  org.given(given).when({ type: 'AssignRole', data: { userId: 'mel', role: 'admin' } }, as('ada'))
    .then(t, [{ type: 'org.member.role_assigned', data: { userId: 'mel', role: 'admin' } }], 'an admin gives admin')
})

t.test('a conditional holder delegates the condition, not more; denies travel with what they take away', async (t) => {
  const office: Condition = { ipInCidr: [{ ref: 'context.ip' }, '10.0.0.0/8'] }
  const mfa: Condition = { eq: [{ ref: 'context.mfa' }, true] }
  const limited: RbacEvent = { type: 'rbac.role.created', data: { roleId: 'role_office', name: 'Office', description: '', grants: [
    { actions: ['member:invite', 'role:create'], resource: '*', effect: 'allow', when: office },
    { actions: ['role:create'], resource: '*', effect: 'allow' },
    { actions: ['member:read'], resource: 'organization', effect: 'allow' },
    { actions: ['member:read'], resource: 'organization/secret', effect: 'deny' }
  ] } }
  const given = [...base, { type: 'org.member.added', data: { userId: 'oli', roles: ['viewer'] } } as OrgEvent, limited,
    { type: 'rbac.role.assigned', data: { roleId: 'role_office', userId: 'oli' } } as RbacEvent]
  const create = (grants: GrantData[]) => org.given(given).when({ type: 'CreateRole', data: { roleId: 'role_new', name: 'New', grants } },
    as('oli'))
  const state = given.reduce(organizationDecider.evolve, organizationDecider.initialState())
  const accepted = (grants: GrantData[]): number => organizationDecider.decide({ type: 'CreateRole',
    data: { roleId: 'role_new', name: 'New', grants } }, state, as('oli')).length
  create([{ actions: ['member:invite'], resource: '*', effect: 'allow' }]).thenThrows(t, 'rbac.escalation',
    'the condition cannot be dropped')
  create([{ actions: ['member:invite'], resource: '*', effect: 'allow', when: mfa }]).thenThrows(t, 'rbac.escalation',
    'nor swapped for another')
  t.equal(accepted([{ actions: ['member:invite'], resource: 'organization', effect: 'allow', when: office }]), 1,
    'the same condition on a narrower resource')
  t.equal(accepted([{ actions: ['member:invite'], resource: '*', effect: 'allow', when: { and: [mfa, office] } }]), 1, 'or a stricter one')
  create([{ actions: ['member:read'], resource: '*', effect: 'allow' }]).thenThrows(t, 'rbac.escalation', 'a wider resource than held')
  create([{ actions: ['member:read'], resource: 'organization', effect: 'allow' }]).thenThrows(t, 'rbac.escalation',
    'a deny the actor is under must come along')
  t.equal(accepted([{ actions: ['member:read'], resource: 'organization', effect: 'allow' },
    { actions: ['member:read'], resource: 'organization/secret', effect: 'deny' }]), 1, 'and then it may')
  t.ok(resourceCovers('invoice/a*', 'invoice/ab') && resourceCovers('invoice/a*', 'invoice/ab*') &&
    !resourceCovers('invoice/a*', 'invoice') && !resourceCovers('invoice', '*') && resourceCovers('invoice', 'invoice/x'))
})

const conditions: Condition[] = [{ eq: [{ ref: 'context.mfa' }, true] }, { lt: [{ ref: 'resource.amount' }, 1000] }]
const semanticGrants: fc.Arbitrary<GrantData[]> = fc.array(fc.record({
  actions: fc.uniqueArray(fc.constantFrom('member:read', 'member:invite', 'audit:export', 'role:*', '*', 'audit:*'),
    { minLength: 1, maxLength: 2 }),
  resource: fc.constantFrom('*', 'invoice', 'invoice/a*', 'invoice/ab', 'organization'),
  effect: fc.constantFrom('allow' as const, 'allow' as const, 'deny' as const),
  when: fc.constantFrom(undefined, conditions[0], conditions[1], { and: [conditions[0]!, conditions[1]!] })
}, { requiredKeys: ['actions', 'resource', 'effect'] }), { maxLength: 3 }).map((list) =>
  list.map(({ when, ...grant }) => (when === undefined ? grant : { ...grant, when })))
const semanticCommand: fc.Arbitrary<OrgCommand> = fc.oneof(
  fc.record({ type: fc.constant('CreateRole' as const), data: fc.record({ roleId: fc.constantFrom(...roleIds), name: fc.constant('R'),
    grants: semanticGrants }) }),
  fc.record({ type: fc.constant('SetRoleGrants' as const), data: fc.record({ roleId: fc.constantFrom(...roleIds),
    grants: semanticGrants }) }),
  fc.record({ type: fc.constant('AssignCustomRole' as const), data: fc.record({ roleId: fc.constantFrom(...roleIds),
    userId: fc.constantFrom(...people) }) }),
  fc.record({ type: fc.constant('UnassignCustomRole' as const), data: fc.record({ roleId: fc.constantFrom(...roleIds),
    userId: fc.constantFrom(...people) }) }),
  fc.record({ type: fc.constant('AddMember' as const), data: fc.record({ userId: fc.constant('vic'),
    roles: fc.constantFrom(['viewer' as const], ['admin' as const], ['member' as const]) }) }),
  fc.record({ type: fc.constant('AssignRole' as const), data: fc.record({ userId: fc.constantFrom(...people, 'cal'),
    role: fc.constantFrom('admin' as const, 'member' as const, 'viewer' as const) }) })
) as fc.Arbitrary<OrgCommand>
/** A member under conditions and a deny from the start: what they may delegate is narrow. */
const conditionalStart: Array<OrgEvent | RbacEvent> = [
  ...base,
  { type: 'org.member.added', data: { userId: 'cal', roles: ['viewer'] } },
  { type: 'rbac.role.created', data: { roleId: 'role_cond', name: 'Conditional', description: '', grants: [
    { actions: ['member:invite', 'audit:*'], resource: 'invoice', effect: 'allow', when: conditions[0]! },
    { actions: ['member:read'], resource: '*', effect: 'allow' },
    { actions: ['member:read'], resource: 'invoice/a*', effect: 'deny' }
  ] } },
  { type: 'rbac.role.assigned', data: { roleId: 'role_cond', userId: 'cal' } }
]
const checks: Array<{ action: string, resource: Resource, context: { mfa: boolean } }> = []
for (const action of ['member:read', 'member:invite', 'audit:export', 'audit:read', 'role:create']) {
  for (const resource of [{ type: 'invoice', id: 'ab', amount: 10 }, { type: 'invoice', id: 'zz', amount: 5000 }, { type: 'invoice' },
    { type: 'organization' }]) {
    for (const mfa of [true, false]) checks.push({ action, resource, context: { mfa } })
  }
}

t.test('no command sequence lets a member create or assign a role that passes a check they could not pass', async (t) => {
  const start = conditionalStart.reduce(organizationDecider.evolve, organizationDecider.initialState())
  let roleChanges = 0
  fc.assert(fc.property(fc.array(fc.tuple(semanticCommand, fc.constantFrom(...people, 'cal', 'cal')), { maxLength: 25 }), (steps) =>
    everyAcceptedHolds(start, steps, (state, actorRoles, events) => {
    const theirs = new Policy(actorRoles.map((roleId) => ({ roleId, grants: grantsOf(LEDGERLINE_CATALOGUE, state, [roleId]) })))
    for (const event of events) {
      const given = event.type === 'rbac.role.created' || event.type === 'rbac.role.grants_set'
        ? event.data.grants
        : event.type === 'rbac.role.assigned'
          ? grantsOf(LEDGERLINE_CATALOGUE, state, [event.data.roleId])
          : event.type === 'org.member.role_assigned' ? grantsOf(LEDGERLINE_CATALOGUE, state, [event.data.role]) : undefined
      if (given === undefined) continue
      roleChanges++
      const role = new Policy([{ roleId: 'given', grants: given }])
      for (const check of checks) {
        if (role.can({ id: 'p', roles: ['given'] }, check.action, check.resource, check.context) &&
          !theirs.can({ id: 'p', roles: actorRoles }, check.action, check.resource, check.context)) return false
      }
    }
    return true
  })), { numRuns: 1000 })
  t.ok(roleChanges > 300,
    `${roleChanges} roles created, changed or assigned by members in 1,000 random sequences; none passes a check its author could not`)
})

// ── no change widens what anyone may do beyond its author ────────────────────

/**
 * Members under denies from the start, some of whom may edit, unassign or
 * delete the roles that carry them: uma holds the export and the role
 * commands but is denied the export (the reproduction); ada is an
 * admin denied member:remove; bob is an owner denied billing:read; ann, a
 * second owner, is under no deny.
 */
const deniedStart: Array<OrgEvent | RbacEvent> = [
  ...base,
  ...(['uma', 'bob', 'cal'] as const).map((userId): OrgEvent => ({ type: 'org.member.added',
    data: { userId, roles: userId === 'bob' ? ['owner'] : ['viewer'] } })),
  { type: 'rbac.role.created', data: { roleId: 'role_r1', name: 'R1', description: '',
    grants: [{ actions: ['audit:read', 'audit:export', 'role:read', 'role:update', 'role:unassign', 'member:read'], resource: '*',
      effect: 'allow' }] } },
  { type: 'rbac.role.created', data: { roleId: 'role_r2', name: 'R2', description: '',
    grants: [{ actions: ['audit:export'], resource: '*', effect: 'deny' }] } },
  { type: 'rbac.role.created', data: { roleId: 'role_keep', name: 'Keep', description: '',
    grants: [{ actions: ['member:remove'], resource: '*', effect: 'deny' }] } },
  { type: 'rbac.role.created', data: { roleId: 'role_nobill', name: 'No billing', description: '',
    grants: [{ actions: ['billing:*'], resource: '*', effect: 'deny', when: { eq: [{ ref: 'context.mfa' }, false] } }] } },
  ...([['role_r1', 'uma'], ['role_r2', 'uma'], ['role_keep', 'ada'], ['role_nobill', 'bob'], ['role_r2', 'cal']] as const)
    .map(([roleId, userId]): RbacEvent => ({ type: 'rbac.role.assigned', data: { roleId, userId } }))
]
const everyone = ['ann', 'ada', 'mel', 'uma', 'bob', 'cal', 'vic']
const widenRoles = ['role_r1', 'role_r2', 'role_keep', 'role_nobill', 'role_a']
const onRoles: Condition = { contains: [{ ref: 'principal.roles' }, 'viewer'] }
const widenGrants: fc.Arbitrary<GrantData[]> = fc.array(fc.record({
  actions: fc.uniqueArray(fc.constantFrom('member:read', 'member:remove', 'audit:export', 'audit:read', 'billing:read', 'role:*', '*'),
    { minLength: 1, maxLength: 2 }),
  resource: fc.constantFrom('*', 'invoice', 'invoice/a*', 'organization'),
  effect: fc.constantFrom('allow' as const, 'deny' as const),
  when: fc.constantFrom(undefined, undefined, conditions[0], onRoles, { eq: [{ ref: 'principal.id' }, 'uma'] })
}, { requiredKeys: ['actions', 'resource', 'effect'] }), { maxLength: 3 }).map((list) =>
  list.map(({ when, ...grant }) => (when === undefined ? grant : { ...grant, when })))
const builtIns = ['admin' as const, 'member' as const, 'viewer' as const]
const widenCommand: fc.Arbitrary<OrgCommand> = fc.oneof(
  fc.record({ type: fc.constant('CreateRole' as const), data: fc.record({ roleId: fc.constant('role_a'), name: fc.constant('A'),
    grants: widenGrants }) }),
  fc.record({ type: fc.constant('SetRoleGrants' as const), data: fc.record({ roleId: fc.constantFrom(...widenRoles),
    grants: fc.oneof(widenGrants, fc.constant([])) }) }),
  fc.record({ type: fc.constant('DeleteRole' as const), data: fc.record({ roleId: fc.constantFrom(...widenRoles) }) }),
  fc.record({ type: fc.constant('AssignCustomRole' as const), data: fc.record({ roleId: fc.constantFrom(...widenRoles),
    userId: fc.constantFrom(...everyone) }) }),
  fc.record({ type: fc.constant('UnassignCustomRole' as const), data: fc.record({ roleId: fc.constantFrom(...widenRoles),
    userId: fc.constantFrom(...everyone) }) }),
  fc.record({ type: fc.constant('AssignRole' as const), data: fc.record({ userId: fc.constantFrom(...everyone),
    role: fc.constantFrom(...builtIns) }) }),
  fc.record({ type: fc.constant('UnassignRole' as const), data: fc.record({ userId: fc.constantFrom(...everyone),
    role: fc.constantFrom(...builtIns) }) }),
  fc.record({ type: fc.constant('AddMember' as const), data: fc.record({ userId: fc.constant('vic'),
    roles: fc.constantFrom(['viewer' as const], ['member' as const], ['admin' as const]) }) }),
  fc.record({ type: fc.constant('RemoveMember' as const), data: fc.record({ userId: fc.constantFrom(...everyone) }) })
) as fc.Arbitrary<OrgCommand>
const widenCheck = fc.record({
  action: fc.constantFrom('member:read', 'member:remove', 'audit:export', 'audit:read', 'billing:read', 'billing:update', 'role:update',
    'role:unassign'),
  resource: fc.constantFrom<Resource>({ type: 'invoice', id: 'ab', amount: 10 }, { type: 'invoice', id: 'zz' }, { type: 'organization' },
    { type: 'member', id: 'mel' }),
  context: fc.record({ mfa: fc.boolean() })
})

/** The whole policy of the organization in a state: built-in roles and custom ones. */
function policyOf (state: Active): Policy {
  const roleIds = [...Object.keys(LEDGERLINE_CATALOGUE.builtInRoleGrants), ...Object.keys(state.roles)]
  return new Policy(roleIds.map((roleId) => ({ roleId, grants: grantsOf(LEDGERLINE_CATALOGUE, state, [roleId]) })))
}

t.test('no accepted change lets anyone pass a check its author could not pass, nor widens its author', async (t) => {
  const start = deniedStart.reduce(organizationDecider.evolve, organizationDecider.initialState())
  let changes = 0
  let widened = 0
  fc.assert(fc.property(fc.array(fc.tuple(widenCommand, fc.constantFrom(...everyone)), { maxLength: 12 }),
    fc.array(widenCheck, { minLength: 1, maxLength: 12 }), (steps, sample) => {
    let state = start
    for (const [c, actor] of steps) {
      let events: Array<OrgEvent | RbacEvent>
      try {
        events = organizationDecider.decide(c, state, as(actor))
      } catch {
        continue
      }
      const after = events.reduce(organizationDecider.evolve, state)
      const was = state
      if (was.status !== 'active' || after.status !== 'active') return false
      if (events.length > 0 && Object.hasOwn(was.members, actor)) {
        changes++
        const [before, now] = [policyOf(was), policyOf(after)]
        const rolesIn = (s: Active, id: string) => (Object.hasOwn(s.members, id) ? s.members[id]! : [])
        const actorCould = (check: typeof sample[number]) => before.can({ id: actor, roles: rolesIn(was, actor) }, check.action,
          check.resource, check.context)
        for (const member of everyone) {
          for (const check of sample) {
            const could = before.can({ id: member, roles: rolesIn(was, member) }, check.action, check.resource, check.context)
            const can = now.can({ id: member, roles: rolesIn(after, member) }, check.action, check.resource, check.context)
            if (can && !could) {
              widened++
              if (!actorCould(check)) throw new Error(`${actor}'s ${JSON.stringify(c)} let ${member} ${check.action} on ` +
                `${JSON.stringify(check.resource)} (${JSON.stringify(check.context)}), which ${actor} could not`)
            }
          }
        }
      }
      state = after
    }
    return true
  }), { numRuns: 2000 })
  t.ok(changes > 1000 && widened > 100,
    `${changes} changes by members, ${widened} of which let someone pass a check they could not; each time, the author could`)
})

t.test('nobody lifts a deny they are under: not by editing, unassigning or taking a built-in role that the deny reads', async (t) => {
  const given = deniedStart
  const edit = (roleId: string, grants: GrantData[], actor: string) =>
    org.given(given).when({ type: 'SetRoleGrants', data: { roleId, grants } }, as(actor))
  edit('role_r2', [], 'uma').thenThrows(t, 'rbac.escalation', 'uma empties the role that denies her the export')
  edit('role_r2', [{ actions: ['audit:export'], resource: 'invoice', effect: 'deny' }], 'uma').thenThrows(t, 'rbac.escalation',
    'nor narrows it')
  edit('role_r2', [{ actions: ['audit:export'], resource: '*', effect: 'deny' },
    { actions: ['member:read'], resource: '*', effect: 'allow' }], 'uma')
    .then(t, [{ type: 'rbac.role.grants_set', data: { roleId: 'role_r2',
      grants: [{ actions: ['audit:export'], resource: '*', effect: 'deny' },
        { actions: ['member:read'], resource: '*', effect: 'allow' }] } }], 'keeping it verbatim is fine')
  edit('role_keep', [], 'ada').thenThrows(t, 'rbac.escalation', 'an admin under a deny of member:remove')
  edit('role_nobill', [], 'bob').thenThrows(t, 'rbac.escalation', 'an owner under a deny')
  edit('role_nobill', [], 'ann').then(t, [{ type: 'rbac.role.grants_set', data: { roleId: 'role_nobill', grants: [] } }],
    'another owner may lift it')
  edit('role_keep', [], 'uma').thenThrows(t, 'rbac.escalation', 'nor for others, for an action the actor cannot do')
  org.given(given).when({ type: 'UnassignCustomRole', data: { roleId: 'role_r2', userId: 'uma' } }, as('uma')).thenThrows(t,
    'rbac.escalation', 'unassigning it from oneself')
  org.given(given).when({ type: 'UnassignCustomRole', data: { roleId: 'role_keep', userId: 'ada' } }, as('ada')).thenThrows(t,
    'rbac.escalation')
  org.given(given).when({ type: 'UnassignCustomRole', data: { roleId: 'role_r2', userId: 'cal' } }, as('ada'))
    .then(t, [{ type: 'rbac.role.unassigned', data: { roleId: 'role_r2', userId: 'cal' } }],
      'a deny that opens nothing for its holder (cal holds no export) lifts nothing')
  org.given(given).when({ type: 'UnassignCustomRole', data: { roleId: 'role_r2', userId: 'uma' } }, as('ann'))
    .then(t, [{ type: 'rbac.role.unassigned', data: { roleId: 'role_r2', userId: 'uma' } }], 'an owner under no deny may')
  try {
    organizationDecider.decide({ type: 'SetRoleGrants', data: { roleId: 'role_r2', grants: [] } },
      given.reduce(organizationDecider.evolve, organizationDecider.initialState()), as('uma'))
    t.fail('refused')
  } catch (error) {
    t.match(error, { code: 'rbac.escalation', status: 403, details: { actions: ['audit:export'] } }, 'the error names the action')
  }
  const probation: Array<OrgEvent | RbacEvent> = [...base,
    { type: 'rbac.role.created', data: { roleId: 'role_p', name: 'P', description: '',
      grants: [{ actions: ['member:read'], resource: '*', effect: 'deny', when: { contains: [{ ref: 'principal.roles' }, 'viewer'] } }] } },
    { type: 'org.member.role_assigned', data: { userId: 'mel', role: 'viewer' } },
    { type: 'rbac.role.assigned', data: { roleId: 'role_p', userId: 'mel' } }]
  org.given(probation).when({ type: 'UnassignRole', data: { userId: 'mel', role: 'viewer' } }, as('mel')).thenThrows(t, 'rbac.escalation',
    'a built-in role a deny reads')
  org.given(probation).when({ type: 'UnassignRole', data: { userId: 'mel', role: 'viewer' } }, as('ada'))
    .then(t, [{ type: 'org.member.role_unassigned', data: { userId: 'mel', role: 'viewer' } }], 'an admin under no such deny may')
})

// ── role names ──────────────────────────────────────────────────────────────

const named = (roleId: string, name: string): RbacEvent => ({ type: 'rbac.role.created',
  data: { roleId, name, description: '', grants: [] } })
const nameRefusal = (given: Array<OrgEvent | RbacEvent>, command: OrgCommand): unknown => {
  try {
    organizationDecider.decide(command, given.reduce(organizationDecider.evolve, organizationDecider.initialState()), as('ann'))
  } catch (error) {
    return error
  }
  return undefined
}

t.test('role names are unique in the organization, trimmed and ignoring case: with none, one and many roles', async (t) => {
  const create = (roleId: string, name: string): OrgCommand => ({ type: 'CreateRole', data: { roleId, name, grants: [] } })
  org.given(base).when(create('role_a', '  Auditors ')).then(t, [named('role_a', 'Auditors')], 'no role yet: the name is stored trimmed')
  for (const name of ['Auditors', 'auditors', ' AUDITORS', 'Auditors\t']) {
    t.match(nameRefusal([...base, named('role_a', 'Auditors')], create('role_b', name)),
      { code: 'rbac.role_name_taken', status: 409, details: { roleId: 'role_a' } }, JSON.stringify(name))
  }
  org.given([...base, named('role_a', 'Auditors')]).when(create('role_b', 'Auditor')).then(t, [named('role_b', 'Auditor')],
    'another name is free')
  for (const name of ['Admin', ' viewer ', 'OWNER', 'member']) t.match(nameRefusal(base, create('role_b', name)),
    { code: 'rbac.role_name_taken' }, `built-in: ${name}`)

  const many = [...base, ...Array.from({ length: 500 }, (_, i) => named(`role_n${i}`, `Team ${i}`))]
  t.match(nameRefusal(many, create('role_x', 'team 499')), { code: 'rbac.role_name_taken', details: { roleId: 'role_n499' } },
    'among 500 roles, the last')
  t.match(nameRefusal(many, create('role_x', 'TEAM 0')), { code: 'rbac.role_name_taken', details: { roleId: 'role_n0' } }, 'and the first')
  t.equal(nameRefusal(many, create('role_x', 'Team 500')), undefined, 'a new name among 500')

  const rename = (roleId: string, name: string): OrgCommand => ({ type: 'RenameRole', data: { roleId, name } })
  const two = [...base, named('role_a', 'Auditors'), named('role_b', 'Billing')]
  t.match(nameRefusal(two, rename('role_b', 'auditors ')), { code: 'rbac.role_name_taken', details: { roleId: 'role_a' } },
    'renaming onto another role\'s name')
  t.match(nameRefusal(two, rename('role_b', 'Admin')), { code: 'rbac.role_name_taken' })
  org.given(two).when(rename('role_a', 'AUDITORS')).then(t, [{ type: 'rbac.role.renamed', data: { roleId: 'role_a', name: 'AUDITORS' } }],
    'a role may change the case of its own name')
  org.given(two).when(rename('role_a', ' Auditors ')).then(t, [], 'its own name, padded: nothing')
  t.match(nameRefusal(many, rename('role_n3', 'team 4')), { code: 'rbac.role_name_taken', details: { roleId: 'role_n4' } })
})

t.test('no sequence of creations and renames leaves two roles whose names compare equal', async (t) => {
  const names = fc.constantFrom('Audit', 'audit', ' AUDIT ', 'Billing', 'billing\t', 'Ops', 'Admin')
  const step = fc.oneof(
    fc.record({ type: fc.constant('CreateRole' as const), data: fc.record({ roleId: fc.constantFrom('role_a', 'role_b', 'role_c', 'role_d'),
      name: names, grants: fc.constant([]) }) }),
    fc.record({ type: fc.constant('RenameRole' as const), data: fc.record({ roleId: fc.constantFrom('role_a', 'role_b', 'role_c', 'role_d'),
      name: names }) })
  ) as fc.Arbitrary<OrgCommand>
  let accepted = 0
  fc.assert(fc.property(fc.array(step, { maxLength: 20 }), (steps) => {
    let state = base.reduce(organizationDecider.evolve, organizationDecider.initialState())
    for (const c of steps) {
      try {
        const events = organizationDecider.decide(c, state, as('ann'))
        accepted += events.length
        state = events.reduce(organizationDecider.evolve, state)
      } catch (error) {
        if (!['rbac.role_name_taken', 'rbac.role_exists', 'rbac.role_not_found'].includes((error as { code: string }).code)) throw error
      }
    }
    if (state.status !== 'active') return false
    const keys = Object.values(state.roles).map((r) => r.name.trim().toLowerCase())
    return new Set(keys).size === keys.length && !keys.some((key) => ['owner', 'admin', 'member', 'viewer'].includes(key))
  }), { numRuns: 500 })
  t.ok(accepted > 500, `${accepted} creations and renames accepted in 500 random sequences; names stayed unique`)
})

t.test('a refused member:add names the roles being given and the actions they hold', async (t) => {
  const given = [...base, { type: 'rbac.role.created', data: { roleId: 'role_adder', name: 'Adder', description: '',
    grants: [{ actions: ['member:add', 'member:invite'], resource: '*', effect: 'allow' }] } },
    { type: 'rbac.role.assigned', data: { roleId: 'role_adder', userId: 'mel' } }] as Array<OrgEvent | RbacEvent>
  const state = given.reduce(organizationDecider.evolve, organizationDecider.initialState())
  const refused = (command: OrgCommand): unknown => {
    try {
      organizationDecider.decide(command, state, as('mel'))
    } catch (error) {
      return error
    }
    return undefined
  }
  const admin = refused({ type: 'AddMember', data: { userId: 'zoe', roles: ['admin'] } }) as { message: string,
    details: { actions: string[] } }
  t.match(admin, { code: 'rbac.escalation',
    message: /^you cannot give the role admin: it allows what you may not do yourself \((\S+, ){4}\S+ and \d+ more\)$/,
    details: { roles: ['admin'] } })
  t.ok(admin.details.actions.includes('member:remove') && !admin.details.actions.includes('member:add'), 'the actions are those mel lacks')
  t.match(refused({ type: 'InviteMember', data: { inviteId: 'inv_1', email: 'zoe@example.com', roles: ['admin', 'viewer'],
    tokenHash: 'a'.repeat(64), expiresAt: '2026-01-08T00:00:00.000Z' } }),
      { message: /^you cannot give the roles admin, viewer: they allow/, details: { roles: ['admin', 'viewer'] } })
  t.equal(BLOCKED_ACTIONS.get('member:add'), 'adding members', 'while impersonating, the refusal says what was refused')
})
