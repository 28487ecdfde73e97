import { createHash } from 'node:crypto'
import fc from 'fast-check'
import t from 'tap'
import type { Actor } from '../envelope.ts'
import { EventRegistry } from '../registry.ts'
import { spec } from '../testing.ts'
import type { RbacEvent } from '../rbac/events.ts'
import { identityEvents, type BuiltInRole, type OrgEvent } from './events.ts'
import { organizationDecider, type OrgCommand, type OrgState } from './organization.ts'

const org = spec(organizationDecider)
const hash = (token: string): string => createHash('sha256').update(token).digest('hex')
const NOW = new Date('2026-01-01T00:00:00.000Z')
const WEEK = 7 * 86_400_000
const at = (ms: number): Date => new Date(NOW.getTime() + ms)
const as = (id: string, now = NOW): { now: Date, actor: Actor } => ({ now, actor: { type: 'user', id } })

const base: OrgEvent[] = [
  { type: 'org.organization.created', data: { orgId: 'acme', name: 'Acme', plan: 'free', ownerId: 'ann' } },
  { type: 'org.member.added', data: { userId: 'ann', roles: ['owner'] } },
  { type: 'org.member.added', data: { userId: 'ada', roles: ['admin'] } }
]
const invited = (inviteId: string, email: string, roles: BuiltInRole[], by = 'ada'): OrgEvent => ({
  type: 'org.invitation.created',
  data: { inviteId, email, roles, invitedBy: { type: 'user', id: by }, tokenHash: hash(inviteId), expiresAt: at(WEEK).toISOString() }
})
const accept = (inviteId: string, userId: string, email: string, token = inviteId): OrgCommand =>
  ({ type: 'AcceptInvitation', data: { inviteId, tokenHash: hash(token), userId, email } })

t.test('inviting records the token\'s hash and the inviter, never the token', async (t) => {
  org.given(base).when({ type: 'InviteMember', data: {
    inviteId: 'inv1', email: 'zoe@example.com', roles: ['viewer', 'member', 'viewer'],
    tokenHash: hash('inv1'), expiresAt: at(WEEK).toISOString()
  } }, as('ada'))
    .then(t, [invited('inv1', 'zoe@example.com', ['member', 'viewer'])], 'roles de-duplicated and sorted')
  org.given(base).when({ type: 'InviteMember', data: {
    inviteId: 'inv1', email: 'zoe@example.com', roles: ['owner'], tokenHash: hash('inv1'), expiresAt: at(WEEK).toISOString()
  } }, as('ada'))
    .thenThrows(t, 'auth.forbidden', 'only owners invite owners')
})

t.test('accepting adds the member with the invited roles, once, and only for the invited address and the right token', async (t) => {
  const given = [...base, invited('inv1', 'zoe@example.com', ['member'])]
  org.given(given).when(accept('inv1', 'zoe', 'zoe@example.com'), as('zoe')).then(t, [
    { type: 'org.invitation.accepted', data: { inviteId: 'inv1', userId: 'zoe' } },
    { type: 'org.member.added', data: { userId: 'zoe', roles: ['member'] } }
  ])
  org.given(given).when(accept('inv1', 'zoe', 'zoe@example.com', 'forged'), as('zoe'))
    .thenThrows(t, 'invitation.not_found', 'a wrong token is an unknown invitation')
  org.given(given).when(accept('inv2', 'zoe', 'zoe@example.com'), as('zoe')).thenThrows(t, 'invitation.not_found')
  org.given(given).when(accept('__proto__', 'zoe', 'zoe@example.com'), as('zoe')).thenThrows(t, 'invitation.not_found')
  org.given(given).when(accept('inv1', 'bob', 'bob@example.com'), as('bob')).thenThrows(t, 'invitation.wrong_address')
  org.given(given).when(accept('inv1', 'ada', 'zoe@example.com'), as('ada')).thenThrows(t, 'org.member_exists')
  const accepted: OrgEvent[] = [
    ...given,
    { type: 'org.invitation.accepted', data: { inviteId: 'inv1', userId: 'zoe' } },
    { type: 'org.member.added', data: { userId: 'zoe', roles: ['member'] } }
  ]
  org.given(accepted).when(accept('inv1', 'zoe', 'zoe@example.com'), as('zoe')).thenThrows(t, 'invitation.already_accepted')
  org.given(accepted).when({ type: 'RevokeInvitation', data: { inviteId: 'inv1' } }, as('ann')).thenThrows(t, 'invitation.already_accepted')
})

t.test('an invitation works until the instant it expires; after, its first use records the expiry', async (t) => {
  const given = [...base, invited('inv1', 'zoe@example.com', ['member'])]
  org.given(given).when(accept('inv1', 'zoe', 'zoe@example.com'), as('zoe', at(WEEK - 1))).then(t, [
    { type: 'org.invitation.accepted', data: { inviteId: 'inv1', userId: 'zoe' } },
    { type: 'org.member.added', data: { userId: 'zoe', roles: ['member'] } }
  ], '1 ms before: accepted')
  org.given(given).when(accept('inv1', 'zoe', 'zoe@example.com'), as('zoe', at(WEEK)))
    .thenThrows(t, 'invitation.expired', 'at the instant: expired')
  org.given(given).when(accept('inv1', 'zoe', 'zoe@example.com'), as('zoe', at(WEEK + 1)))
    .thenThrows(t, 'invitation.expired', '7 days + 1 ms: expired')
  org.given(given).when({ type: 'ExpireInvitation', data: { inviteId: 'inv1' } }, as('zoe', at(WEEK - 1)))
    .then(t, [], 'not yet: nothing to record')
  org.given(given).when({ type: 'ExpireInvitation', data: { inviteId: 'inv1' } }, as('zoe', at(WEEK + 1)))
    .then(t, [{ type: 'org.invitation.expired', data: { inviteId: 'inv1' } }])
  const expired: OrgEvent[] = [...given, { type: 'org.invitation.expired', data: { inviteId: 'inv1' } }]
  org.given(expired).when({ type: 'ExpireInvitation', data: { inviteId: 'inv1' } }, as('zoe', at(WEEK + 1))).then(t, [], 'recorded once')
  org.given(expired).when(accept('inv1', 'zoe', 'zoe@example.com'), as('zoe', at(0)))
    .thenThrows(t, 'invitation.expired', 'recorded, it stays expired whatever the clock says')
  org.given(given).when({ type: 'RevokeInvitation', data: { inviteId: 'inv1' } }, as('ann', at(WEEK + 1)))
    .thenThrows(t, 'invitation.expired')
})

t.test('a revoked invitation cannot be accepted; revoking twice changes nothing', async (t) => {
  const given = [...base, invited('inv1', 'zoe@example.com', ['member'])]
  org.given(given).when({ type: 'RevokeInvitation', data: { inviteId: 'inv1', reason: 'typo' } }, as('ann'))
    .then(t, [{ type: 'org.invitation.revoked', data: { inviteId: 'inv1', reason: 'typo' } }])
  const revoked: OrgEvent[] = [...given, { type: 'org.invitation.revoked', data: { inviteId: 'inv1' } }]
  org.given(revoked).when({ type: 'RevokeInvitation', data: { inviteId: 'inv1' } }, as('ann')).then(t, [])
  org.given(revoked).when(accept('inv1', 'zoe', 'zoe@example.com'), as('zoe')).thenThrows(t, 'invitation.revoked')
  org.given(base).when({ type: 'RevokeInvitation', data: { inviteId: 'inv9' } }, as('ann')).thenThrows(t, 'invitation.not_found')
})

t.test('an invitation made before tokens existed can be revoked but never accepted', async (t) => {
  const legacy: OrgEvent[] = [
    ...base, { type: 'org.member.invited', data: { inviteId: 'old', email: 'zoe@example.com', roles: ['member'] } }
  ]
  org.given(legacy).when(accept('old', 'zoe', 'zoe@example.com'), as('zoe')).thenThrows(t, 'invitation.not_found')
  org.given(legacy).when({ type: 'RevokeInvitation', data: { inviteId: 'old' } }, as('ann'))
    .then(t, [{ type: 'org.invitation.revoked', data: { inviteId: 'old' } }])
})

t.test('at acceptance, the inviter must still be able to give the roles', async (t) => {
  const byAda = [...base, invited('inv1', 'zoe@example.com', ['admin'])]
  org.given([
    ...byAda,
    { type: 'org.member.role_assigned', data: { userId: 'ada', role: 'viewer' } },
    { type: 'org.member.role_unassigned', data: { userId: 'ada', role: 'admin' } }
  ])
    .when(accept('inv1', 'zoe', 'zoe@example.com'), as('zoe')).thenThrows(t, 'rbac.escalation', 'demoted to viewer: refused')
  org.given([...byAda, { type: 'org.member.removed', data: { userId: 'ada' } }])
    .when(accept('inv1', 'zoe', 'zoe@example.com'), as('zoe')).thenThrows(t, 'rbac.escalation', 'no longer a member: refused')
  const ownerInvite = [
    ...base,
    { type: 'org.member.role_assigned', data: { userId: 'ada', role: 'owner' } } as OrgEvent,
    invited('inv2', 'zoe@example.com', ['owner'])
  ]
  org.given([...ownerInvite, { type: 'org.member.role_unassigned', data: { userId: 'ada', role: 'owner' } }])
    .when(accept('inv2', 'zoe', 'zoe@example.com', 'inv2'), as('zoe'))
    .thenThrows(t, 'rbac.escalation', 'an owner invitation by someone no longer an owner: refused')
  const narrowed: RbacEvent[] = [
    {
      type: 'rbac.role.created',
      data: {
        roleId: 'role_inviter', name: 'Inviter', description: '',
        grants: [{ actions: ['member:invite', 'member:read'], resource: '*', effect: 'allow' }]
      }
    },
    { type: 'rbac.role.assigned', data: { roleId: 'role_inviter', userId: 'ada' } }
  ]
  org.given([...byAda, ...narrowed as never[], { type: 'org.member.role_unassigned', data: { userId: 'ada', role: 'admin' } }])
    .when(accept('inv1', 'zoe', 'zoe@example.com'), as('zoe'))
    .thenThrows(t, 'rbac.escalation', 'left with a custom role that does not cover admin: refused')
  const bySystem: OrgEvent[] = [...base, {
    ...invited('inv3', 'zoe@example.com', ['owner']),
    data: { ...(invited('inv3', 'zoe@example.com', ['owner']).data as object), invitedBy: { type: 'system', id: 'cli' } }
  } as OrgEvent]
  org.given(bySystem).when(accept('inv3', 'zoe', 'zoe@example.com', 'inv3'), as('zoe')).then(t, [
    { type: 'org.invitation.accepted', data: { inviteId: 'inv3', userId: 'zoe' } },
    { type: 'org.member.added', data: { userId: 'zoe', roles: ['owner'] } }
  ], 'the CLI\'s invitations are the application\'s to authorize')
})

// ── properties ─────────────────────────────────────────────────────────────

const invites = ['i1', 'i2']
const people = [{ userId: 'zoe', email: 'zoe@example.com' }, { userId: 'yan', email: 'yan@example.com' }]
const invite = fc.constantFrom(...invites)
const person = fc.constantFrom(...people)
// Weighted towards accepts and removals: a second acceptance needs an accept, a removal and an accept again.
const command: fc.Arbitrary<[OrgCommand, number]> = fc.tuple(fc.oneof(
  { weight: 2, arbitrary: fc.record({ type: fc.constant('InviteMember' as const), data: fc.record({
    inviteId: invite, email: person.map((p) => p.email), roles: fc.constantFrom<BuiltInRole[]>(['member'], ['viewer'], ['admin']),
    tokenHash: invite.map(hash), expiresAt: fc.constant(at(WEEK).toISOString())
  }) }) },
  // The application passes the accepting user's own address; the token is mostly the invitation's own, sometimes forged.
  { weight: 4, arbitrary: fc.record({ type: fc.constant('AcceptInvitation' as const),
    data: fc.tuple(invite, fc.integer({ min: 0, max: 4 }), person)
      .map(([inviteId, dice, p]) => ({ inviteId, tokenHash: hash(dice === 0 ? 'forged' : inviteId), ...p })) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('RevokeInvitation' as const), data: fc.record({ inviteId: invite }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('ExpireInvitation' as const), data: fc.record({ inviteId: invite }) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('RemoveMember' as const),
    data: fc.record({ userId: person.map((p) => p.userId) }) }) }
), fc.integer({ min: 0, max: WEEK / 8 }))

type Created = Extract<OrgEvent, { type: 'org.invitation.created' }>
const createdOf = (all: readonly OrgEvent[], inviteId: string): Created | undefined =>
  all.findLast((e): e is Created => e.type === 'org.invitation.created' && e.data.inviteId === inviteId)

/** An acceptance is of an invitation made, accepted once, by the invited address, before it expired. */
function acceptedAsInvited (event: OrgEvent | RbacEvent, all: readonly OrgEvent[], acceptedOnce: Set<string>, ms: number): boolean {
  if (event.type !== 'org.invitation.accepted') return true
  const made = createdOf(all, event.data.inviteId)
  if (made?.type !== 'org.invitation.created' || acceptedOnce.has(event.data.inviteId)) return false
  if (people.find((p) => p.userId === event.data.userId)?.email !== made.data.email || ms >= WEEK) return false
  acceptedOnce.add(event.data.inviteId)
  return true
}

/** The member an acceptance adds holds the invitation's roles. */
function addedAsInvited (event: OrgEvent | RbacEvent, c: OrgCommand, all: readonly OrgEvent[]): boolean {
  if (event.type !== 'org.member.added' || c.type !== 'AcceptInvitation') return true
  const made = createdOf(all, c.data.inviteId)
  return made?.type === 'org.invitation.created' && JSON.stringify(made.data.roles) === JSON.stringify(event.data.roles)
}

t.test('random sequences: an invitation is accepted at most once, for its address, with its roles, before it expired', async (t) => {
  const registry = new EventRegistry(identityEvents)
  fc.assert(fc.property(fc.array(command, { minLength: 10, maxLength: 40, size: 'max' }), (steps) => {
    let state: OrgState = base.reduce((s, e) => organizationDecider.evolve(s, e), organizationDecider.initialState())
    const all: OrgEvent[] = [...base]
    const acceptedOnce = new Set<string>()
    // Time moves forward by a random step: invitations expire part of the way through most sequences.
    let ms = 0
    for (const [c, step] of steps) {
      ms += step
      let events: Array<OrgEvent | RbacEvent>
      try {
        events = organizationDecider.decide(c, state, as('ann', at(ms)))
      } catch {
        continue
      }
      for (const event of events) {
        registry.validate(event.type, event.data)
        if (!acceptedAsInvited(event, all, acceptedOnce, ms) || !addedAsInvited(event, c, all)) return false
        state = organizationDecider.evolve(state, event)
        all.push(event as OrgEvent)
      }
    }
    return true
  }), { numRuns: 500 })
  t.pass('500 random sequences of invites, accepts, revocations, expiries and removals as time passes')
})
