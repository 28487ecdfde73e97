/**
 * Custom roles in the organization aggregate: examples, and the property
 * that no command sequence, by any mix of members, lets anyone grant or
 * assign an action they did not hold at that moment.
 */
import fc from 'fast-check'
import t from 'tap'
import type { DecisionContext } from '../decider.ts'
import type { OrgEvent } from '../identity/events.ts'
import { organizationDecider, type OrgCommand, type OrgState } from '../identity/organization.ts'
import { spec } from '../testing.ts'
import type { GrantData, RbacEvent } from './events.ts'
import { actionsHeld } from './roles.ts'

const org = spec(organizationDecider)
const as = (id: string): DecisionContext => ({ now: new Date('2026-01-01T00:00:00Z'), actor: { type: 'user', id } })
const base: OrgEvent[] = [
  { type: 'org.organization.created', data: { orgId: 'acme', name: 'Acme', plan: 'free', ownerId: 'ann' } },
  { type: 'org.member.added', data: { userId: 'ann', roles: ['owner'] } },
  { type: 'org.member.added', data: { userId: 'ada', roles: ['admin'] } },
  { type: 'org.member.added', data: { userId: 'mel', roles: ['member'] } }
]
const invoices: GrantData[] = [{ actions: ['member:read', 'member:invite'], resource: '*', effect: 'allow' }]
const created: RbacEvent = { type: 'rbac.role.created', data: { roleId: 'role_recruiter', name: 'Recruiter', description: '', grants: invoices } }

t.test('create, rename, describe, set grants, assign, unassign, delete', async (t) => {
  org.given(base).when({ type: 'CreateRole', data: { roleId: 'role_recruiter', name: 'Recruiter', grants: invoices } }, as('ada')).then(t, [created])
  org.given([...base, created]).when({ type: 'CreateRole', data: { roleId: 'role_recruiter', name: 'Again', grants: [] } }, as('ann')).thenThrows(t, 'rbac.role_exists')
  org.given([...base, created]).when({ type: 'RenameRole', data: { roleId: 'role_recruiter', name: 'Talent' } }, as('ann'))
    .then(t, [{ type: 'rbac.role.renamed', data: { roleId: 'role_recruiter', name: 'Talent' } }])
  org.given([...base, created]).when({ type: 'RenameRole', data: { roleId: 'role_recruiter', name: 'Recruiter' } }, as('ann')).then(t, [], 'same name: nothing')
  org.given([...base, created]).when({ type: 'DescribeRole', data: { roleId: 'role_nope', description: 'x' } }, as('ann')).thenThrows(t, 'rbac.role_not_found')
  const assigned: RbacEvent = { type: 'rbac.role.assigned', data: { roleId: 'role_recruiter', userId: 'mel' } }
  org.given([...base, created]).when({ type: 'AssignCustomRole', data: { roleId: 'role_recruiter', userId: 'mel' } }, as('ada')).then(t, [assigned])
  org.given([...base, created, assigned]).when({ type: 'DeleteRole', data: { roleId: 'role_recruiter' } }, as('ann')).thenThrows(t, 'rbac.role_in_use')
  org.given([...base, created, assigned]).when({ type: 'UnassignCustomRole', data: { roleId: 'role_recruiter', userId: 'mel' } }, as('ann'))
    .then(t, [{ type: 'rbac.role.unassigned', data: { roleId: 'role_recruiter', userId: 'mel' } }])
  org.given([...base, created]).when({ type: 'DeleteRole', data: { roleId: 'role_recruiter' } }, as('ann')).then(t, [{ type: 'rbac.role.deleted', data: { roleId: 'role_recruiter' } }])
  org.given([...base, created]).when({ type: 'AssignCustomRole', data: { roleId: 'role_recruiter', userId: 'nobody' } }, as('ann')).thenThrows(t, 'org.member_not_found')
})

t.test('deleting a role in use names its holders', async (t) => {
  const state = [...base, created, { type: 'rbac.role.assigned', data: { roleId: 'role_recruiter', userId: 'mel' } }, { type: 'rbac.role.assigned', data: { roleId: 'role_recruiter', userId: 'ada' } }] as Array<OrgEvent | RbacEvent>
  try {
    organizationDecider.decide({ type: 'DeleteRole', data: { roleId: 'role_recruiter' } }, state.reduce(organizationDecider.evolve, organizationDecider.initialState()), as('ann'))
    t.fail('refused')
  } catch (error) {
    t.match(error, { code: 'rbac.role_in_use', details: { holders: ['ada', 'mel'] } })
  }
})

t.test('no escalation: members grant only what they hold, only owners grant owner-only actions', async (t) => {
  const audit: GrantData[] = [{ actions: ['audit:export'], resource: '*', effect: 'allow' }]
  org.given(base).when({ type: 'CreateRole', data: { roleId: 'role_x', name: 'X', grants: audit } }, as('mel')).thenThrows(t, 'rbac.escalation')
  org.given(base).when({ type: 'CreateRole', data: { roleId: 'role_x', name: 'X', grants: [{ actions: ['billing:update'], resource: '*', effect: 'allow' }] } }, as('ada')).thenThrows(t, 'rbac.escalation')
  org.given(base).when({ type: 'CreateRole', data: { roleId: 'role_x', name: 'X', grants: [{ actions: ['*'], resource: '*', effect: 'allow' }] } }, as('ann'))
    .then(t, [{ type: 'rbac.role.created', data: { roleId: 'role_x', name: 'X', description: '', grants: [{ actions: ['*'], resource: '*', effect: 'allow' }] } }], 'an owner may grant everything')
  org.given(base).when({ type: 'CreateRole', data: { roleId: 'role_x', name: 'X', grants: [{ actions: ['audit:*'], resource: '*', effect: 'deny' }] } }, as('mel'))
    .then(t, [{ type: 'rbac.role.created', data: { roleId: 'role_x', name: 'X', description: '', grants: [{ actions: ['audit:*'], resource: '*', effect: 'deny' }] } }], 'a deny takes nothing from anyone who lacks it')
  const big: RbacEvent = { type: 'rbac.role.created', data: { roleId: 'role_big', name: 'Big', description: '', grants: [{ actions: ['billing:update'], resource: '*', effect: 'allow' }] } }
  org.given([...base, big]).when({ type: 'AssignCustomRole', data: { roleId: 'role_big', userId: 'mel' } }, as('ada')).thenThrows(t, 'rbac.escalation')
  org.given([...base, big]).when({ type: 'SetRoleGrants', data: { roleId: 'role_big', grants: audit } }, as('mel')).thenThrows(t, 'rbac.escalation')
})

// ── property ────────────────────────────────────────────────────────────────

const people = ['ann', 'ada', 'mel', 'vic']
const roleIds = ['role_a', 'role_b', 'role_c']
const grants: fc.Arbitrary<GrantData[]> = fc.array(fc.record({
  actions: fc.uniqueArray(fc.constantFrom('member:read', 'member:invite', 'audit:export', 'billing:update', 'role:*', '*', 'audit:*'), { minLength: 1, maxLength: 2 }),
  resource: fc.constant('*'),
  effect: fc.constantFrom('allow' as const, 'deny' as const)
}), { maxLength: 3 })
const command: fc.Arbitrary<OrgCommand> = fc.oneof(
  fc.record({ type: fc.constant('CreateRole' as const), data: fc.record({ roleId: fc.constantFrom(...roleIds), name: fc.constant('R'), grants }) }),
  fc.record({ type: fc.constant('SetRoleGrants' as const), data: fc.record({ roleId: fc.constantFrom(...roleIds), grants }) }),
  fc.record({ type: fc.constant('AssignCustomRole' as const), data: fc.record({ roleId: fc.constantFrom(...roleIds), userId: fc.constantFrom(...people) }) }),
  fc.record({ type: fc.constant('UnassignCustomRole' as const), data: fc.record({ roleId: fc.constantFrom(...roleIds), userId: fc.constantFrom(...people) }) }),
  fc.record({ type: fc.constant('DeleteRole' as const), data: fc.record({ roleId: fc.constantFrom(...roleIds) }) }),
  fc.record({ type: fc.constant('AddMember' as const), data: fc.record({ userId: fc.constant('vic'), roles: fc.constant(['viewer' as const]) }) })
) as fc.Arbitrary<OrgCommand>

t.test('no command sequence lets a member grant or assign an action they did not hold', async (t) => {
  const start = base.reduce(organizationDecider.evolve, organizationDecider.initialState())
  fc.assert(fc.property(fc.array(fc.tuple(command, fc.constantFrom(...people)), { maxLength: 30 }), (steps) => {
    let state: OrgState = start
    for (const [c, actor] of steps) {
      let events: Array<OrgEvent | RbacEvent>
      try {
        events = organizationDecider.decide(c, state, as(actor))
      } catch {
        continue
      }
      if (state.status !== 'active') return false
      const actorRoles = Object.hasOwn(state.members, actor) ? state.members[actor]! : undefined
      if (actorRoles !== undefined) {
        const held = actionsHeld(state, actorRoles)
        const grantedNow = (e: OrgEvent | RbacEvent): string[] => {
          if (e.type === 'rbac.role.created' || e.type === 'rbac.role.grants_set') return [...actionsHeld({ members: {}, roles: { r: { name: '', description: '', grants: e.data.grants } } }, ['r'])]
          if (e.type === 'rbac.role.assigned') return [...actionsHeld(state as never, [e.data.roleId])]
          return []
        }
        for (const event of events) for (const action of grantedNow(event)) if (!held.has(action)) return false
      }
      state = events.reduce(organizationDecider.evolve, state)
    }
    return true
  }), { numRuns: 1000 })
  t.pass('1,000 random sequences of up to 30 role commands by random members: nobody granted more than they held')
})
