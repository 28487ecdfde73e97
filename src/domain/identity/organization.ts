/**
 * The organization aggregate (`org-<orgId>`): name, plan, settings, members
 * and their built-in roles. Invariant: once created it has at least one owner,
 * and every member holds at least one role.
 */
import { Draft, setOwn, type Decider } from '../decider.ts'
import type { Actor } from '../envelope.ts'
import { Forbidden, InvitationAlreadyExists, LastOwner, MemberAlreadyExists, MemberNeedsRole, MemberNotFound, OrgAlreadyExists, OrgNotFound } from './errors.ts'
import { requireRetentionAllowed } from '../audit/retention.ts'
import type { RbacEvent } from '../rbac/events.ts'
import { actingMember, decideRole, evolveRoles, requireBuiltInRolesHeld, requireMemberRolesChange, type CustomRole, type RoleCommand } from '../rbac/roles.ts'
import type { BuiltInRole, OrgEvent, Plan } from './events.ts'
import { decideInvitation, evolveInvitation, invitationCreated, type Invitation, type InvitationCommand } from './invitation.ts'

export type OrgState =
  | { status: 'none' }
  | {
    status: 'active'
    orgId: string
    name: string
    plan: Plan
    settings: Record<string, string | number | boolean | null>
    /** userId → role ids (built-in names and custom role ids), kept sorted so equal states compare equal. */
    members: Record<string, string[]>
    /** Custom roles by id. */
    roles: Record<string, CustomRole>
    /** Invitations by id, whatever their status (src/domain/identity/invitation.ts). */
    invitations: Record<string, Invitation>
    /** Days of audit log kept, when the organization set it; null: its plan's default (src/domain/audit/retention.ts). */
    auditRetentionDays: number | null
    /** Platform support may impersonate members (on unless an owner turned it off). */
    supportAccess: boolean
  }

type Active = Extract<OrgState, { status: 'active' }>

export type OrgCommand =
  | { type: 'CreateOrganization', data: { orgId: string, name: string, plan?: Plan, ownerId: string } }
  | { type: 'RenameOrganization', data: { name: string } }
  | { type: 'ChangePlan', data: { plan: Plan } }
  | { type: 'ChangeSettings', data: { settings: Record<string, string | number | boolean | null> } }
  | { type: 'SetAuditRetention', data: { days: number | null } }
  | { type: 'SetSupportAccess', data: { enabled: boolean } }
  | InvitationCommand
  | { type: 'AddMember', data: { userId: string, roles: BuiltInRole[] } }
  | { type: 'RemoveMember', data: { userId: string } }
  | { type: 'AssignRole', data: { userId: string, role: BuiltInRole } }
  | { type: 'UnassignRole', data: { userId: string, role: BuiltInRole } }
  | RoleCommand

export function orgStreamId (orgId: string): string {
  return `org-${orgId}`
}

function owners (state: Active): string[] {
  return Object.entries(state.members).filter(([, roles]) => roles.includes('owner')).map(([userId]) => userId)
}

function isLastOwner (state: Active, userId: string): boolean {
  const current = owners(state)
  return current.length === 1 && current[0] === userId
}

/** A member's roles, or undefined; own properties only, so an id like `__proto__` is just an unknown member. */
function rolesOf (state: Active, userId: string): string[] | undefined {
  return Object.hasOwn(state.members, userId) ? state.members[userId] : undefined
}

function member (state: Active, userId: string): string[] {
  const roles = rolesOf(state, userId)
  if (roles === undefined) throw new MemberNotFound(undefined, { userId })
  return roles
}

/**
 * Only owners grant, revoke or remove the owner role. Checked here, against
 * the state the append's expected version protects, so a race with a role
 * change cannot let an admin through. Actors who are not users (the CLI,
 * system work) are the application's to authorize; a user who is not a
 * member is refused (actingMember).
 */
function requireOwnerActor (state: Active, actor: Actor): void {
  const roles = actingMember(state, actor)
  if (roles !== undefined && !roles.includes('owner')) throw new Forbidden('only an owner can grant, revoke or remove the owner role', { requiredRoles: ['owner'] })
}

/**
 * Giving built-in roles to someone who is not a member yet (adding, inviting,
 * accepting an invitation): the rule for each role (only owners give owner;
 * nobody gives what they may not do), and no widening, so an owner under a
 * deny cannot make an owner who is not under it. `newcomer` is the member to
 * be, or a stand-in that no member has for an invitation.
 */
export function requireMayGiveRoles (state: Active, actor: Actor, newcomer: string, roles: readonly BuiltInRole[]): void {
  if (roles.includes('owner')) requireOwnerActor(state, actor)
  requireBuiltInRolesHeld(state, actor, roles)
  requireMemberRolesChange(state, actor, newcomer, uniqueSorted(roles))
}

function decideOnActive (command: OrgCommand, state: Active, actor: Actor, now: Date): Array<OrgEvent | RbacEvent> {
  switch (command.type) {
    case 'CreateOrganization':
      throw new OrgAlreadyExists(undefined, { orgId: state.orgId })
    case 'RenameOrganization':
      return command.data.name === state.name ? [] : [{ type: 'org.organization.renamed', data: { name: command.data.name } }]
    case 'ChangePlan':
      return command.data.plan === state.plan ? [] : [{ type: 'org.organization.plan_changed', data: { plan: command.data.plan } }]
    case 'SetAuditRetention':
      requireRetentionAllowed(state.plan, command.data.days)
      return command.data.days === state.auditRetentionDays ? [] : [{ type: 'org.organization.audit_retention_set', data: { days: command.data.days } }]
    case 'SetSupportAccess':
      return command.data.enabled === state.supportAccess ? [] : [{ type: 'org.organization.support_access_set', data: command.data }]
    case 'ChangeSettings':
      return [{ type: 'org.organization.settings_changed', data: { settings: command.data.settings } }]
    case 'InviteMember':
      if (Object.hasOwn(state.invitations, command.data.inviteId)) throw new InvitationAlreadyExists(undefined, { inviteId: command.data.inviteId })
      requireMayGiveRoles(state, actor, `invitation:${command.data.inviteId}`, command.data.roles)
      return [invitationCreated(command.data, actor, uniqueSorted(command.data.roles))]
    case 'AcceptInvitation':
    case 'RevokeInvitation':
    case 'ExpireInvitation':
      return decideInvitation(command, state, now)
    case 'AddMember':
      if (rolesOf(state, command.data.userId) !== undefined) throw new MemberAlreadyExists(undefined, { userId: command.data.userId })
      requireMayGiveRoles(state, actor, command.data.userId, command.data.roles)
      return [{ type: 'org.member.added', data: { userId: command.data.userId, roles: uniqueSorted(command.data.roles) } }]
    case 'RemoveMember':
      if (member(state, command.data.userId).includes('owner')) requireOwnerActor(state, actor)
      if (isLastOwner(state, command.data.userId)) throw new LastOwner()
      return [{ type: 'org.member.removed', data: { userId: command.data.userId } }]
    case 'AssignRole':
      if (command.data.role === 'owner') requireOwnerActor(state, actor)
      requireBuiltInRolesHeld(state, actor, [command.data.role])
      requireMemberRolesChange(state, actor, command.data.userId, uniqueSorted([...member(state, command.data.userId), command.data.role]))
      return member(state, command.data.userId).includes(command.data.role) ? [] : [{ type: 'org.member.role_assigned', data: command.data }]
    case 'CreateRole':
    case 'RenameRole':
    case 'DescribeRole':
    case 'SetRoleGrants':
    case 'DeleteRole':
    case 'AssignCustomRole':
    case 'UnassignCustomRole':
      return decideRole(command, state, actor)
    case 'UnassignRole': {
      if (command.data.role === 'owner') requireOwnerActor(state, actor)
      const roles = member(state, command.data.userId)
      if (!roles.includes(command.data.role)) return []
      if (command.data.role === 'owner' && isLastOwner(state, command.data.userId)) throw new LastOwner()
      if (roles.length === 1) throw new MemberNeedsRole(undefined, { userId: command.data.userId })
      requireMemberRolesChange(state, actor, command.data.userId, roles.filter((r) => r !== command.data.role))
      return [{ type: 'org.member.role_unassigned', data: command.data }]
    }
  }
  return unreachable(command)
}

function unreachable (value: never): never {
  throw new Error(`unhandled command ${JSON.stringify(value)}`)
}

function uniqueSorted<T extends string> (values: readonly T[]): T[] {
  return [...new Set(values)].sort()
}

export const organizationDecider: Decider<OrgCommand, OrgEvent | RbacEvent, OrgState> = {
  initialState: () => ({ status: 'none' }),

  decide (command, state, { actor, now }) {
    if (state.status === 'active') return decideOnActive(command, state, actor, now)
    if (command.type !== 'CreateOrganization') throw new OrgNotFound()
    const { orgId, name, plan = 'free', ownerId } = command.data
    return [
      { type: 'org.organization.created', data: { orgId, name, plan, ownerId } },
      { type: 'org.member.added', data: { userId: ownerId, roles: ['owner'] } }
    ]
  },

  evolve (state, event) {
    return evolveOrganization(new Draft(), state, event)
  },

  evolveAll (state, events) {
    const draft = new Draft()
    for (const event of events) state = evolveOrganization(draft, state, event)
    return state
  }
}

/**
 * One event on the organization's state, copy-on-write through `draft`: the
 * state and each map it changes are copied once per draft, then changed in
 * place, so folding a long stream stays linear. Values in the maps (a
 * member's role list, a role, an invitation) are replaced, never changed.
 */
function evolveOrganization (draft: Draft, state: OrgState, event: OrgEvent | RbacEvent): OrgState {
  if (event.type === 'org.organization.created') {
    return { status: 'active', orgId: event.data.orgId, name: event.data.name, plan: event.data.plan, settings: {}, members: {}, invitations: {}, roles: {}, auditRetentionDays: null, supportAccess: true }
  }
  if (state.status !== 'active') return state
  if (event.type.startsWith('rbac.role.')) return evolveRoles(state, event as RbacEvent, draft)
  const next = (): Active => draft.own(state)
  const members = (): Active['members'] => {
    const writable = next()
    writable.members = draft.own(writable.members)
    return writable.members
  }
  switch (event.type) {
    case 'org.organization.renamed': next().name = event.data.name; break
    case 'org.organization.plan_changed': next().plan = event.data.plan; break
    case 'org.organization.audit_retention_set': next().auditRetentionDays = event.data.days; break
    case 'org.organization.support_access_set': next().supportAccess = event.data.enabled; break
    case 'org.organization.settings_changed': {
      const writable = next()
      writable.settings = draft.own(writable.settings)
      for (const [key, value] of Object.entries(event.data.settings)) setOwn(writable.settings, key, value)
      break
    }
    case 'org.member.invited':
    case 'org.invitation.created':
    case 'org.invitation.accepted':
    case 'org.invitation.revoked':
    case 'org.invitation.expired': {
      const invitation = evolveInvitation(Object.hasOwn(state.invitations, event.data.inviteId) ? state.invitations[event.data.inviteId] : undefined, event)
      if (invitation === undefined) return state
      const writable = next()
      writable.invitations = draft.own(writable.invitations)
      setOwn(writable.invitations, event.data.inviteId, invitation)
      break
    }
    case 'org.member.added': setOwn(members(), event.data.userId, uniqueSorted(event.data.roles)); break
    case 'org.member.removed': delete members()[event.data.userId]; break
    case 'org.member.role_assigned':
      setOwn(members(), event.data.userId, uniqueSorted([...(rolesOf(state, event.data.userId) ?? []), event.data.role]))
      break
    case 'org.member.role_unassigned':
      setOwn(members(), event.data.userId, (rolesOf(state, event.data.userId) ?? []).filter((r) => r !== event.data.role))
      break
    default: return state
  }
  return draft.own(state)
}
