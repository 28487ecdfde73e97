/**
 * The organization aggregate (`org-<orgId>`): name, plan, settings, members
 * and their built-in roles. Invariant: once created it has at least one owner,
 * and every member holds at least one role.
 */
import type { Decider } from '../decider.ts'
import { LastOwner, MemberAlreadyExists, MemberNeedsRole, MemberNotFound, OrgAlreadyExists, OrgNotFound } from './errors.ts'
import type { BuiltInRole, OrgEvent, Plan } from './events.ts'

export type OrgState =
  | { status: 'none' }
  | {
    status: 'active'
    orgId: string
    name: string
    plan: Plan
    settings: Record<string, string | number | boolean | null>
    /** userId → roles, kept sorted so equal states compare equal. */
    members: Record<string, BuiltInRole[]>
    invites: Record<string, { email: string, roles: BuiltInRole[] }>
  }

type Active = Extract<OrgState, { status: 'active' }>

export type OrgCommand =
  | { type: 'CreateOrganization', data: { orgId: string, name: string, plan?: Plan, ownerId: string } }
  | { type: 'RenameOrganization', data: { name: string } }
  | { type: 'ChangePlan', data: { plan: Plan } }
  | { type: 'ChangeSettings', data: { settings: Record<string, string | number | boolean | null> } }
  | { type: 'InviteMember', data: { inviteId: string, email: string, roles: BuiltInRole[] } }
  | { type: 'AddMember', data: { userId: string, roles: BuiltInRole[] } }
  | { type: 'RemoveMember', data: { userId: string } }
  | { type: 'AssignRole', data: { userId: string, role: BuiltInRole } }
  | { type: 'UnassignRole', data: { userId: string, role: BuiltInRole } }

export function orgStreamId (orgId: string): string {
  return `org-${orgId}`
}

function owners (state: Active): string[] {
  return Object.keys(state.members).filter((userId) => state.members[userId]!.includes('owner'))
}

function isLastOwner (state: Active, userId: string): boolean {
  const current = owners(state)
  return current.length === 1 && current[0] === userId
}

function member (state: Active, userId: string): BuiltInRole[] {
  const roles = state.members[userId]
  if (roles === undefined) throw new MemberNotFound(undefined, { userId })
  return roles
}

function decideOnActive (command: OrgCommand, state: Active): OrgEvent[] {
  switch (command.type) {
    case 'CreateOrganization':
      throw new OrgAlreadyExists(undefined, { orgId: state.orgId })
    case 'RenameOrganization':
      return command.data.name === state.name ? [] : [{ type: 'org.organization.renamed', data: { name: command.data.name } }]
    case 'ChangePlan':
      return command.data.plan === state.plan ? [] : [{ type: 'org.organization.plan_changed', data: { plan: command.data.plan } }]
    case 'ChangeSettings':
      return [{ type: 'org.organization.settings_changed', data: { settings: command.data.settings } }]
    case 'InviteMember':
      return [{ type: 'org.member.invited', data: { ...command.data, roles: uniqueSorted(command.data.roles) } }]
    case 'AddMember':
      if (state.members[command.data.userId] !== undefined) throw new MemberAlreadyExists(undefined, { userId: command.data.userId })
      return [{ type: 'org.member.added', data: { userId: command.data.userId, roles: uniqueSorted(command.data.roles) } }]
    case 'RemoveMember':
      member(state, command.data.userId)
      if (isLastOwner(state, command.data.userId)) throw new LastOwner()
      return [{ type: 'org.member.removed', data: { userId: command.data.userId } }]
    case 'AssignRole':
      return member(state, command.data.userId).includes(command.data.role) ? [] : [{ type: 'org.member.role_assigned', data: command.data }]
    case 'UnassignRole': {
      const roles = member(state, command.data.userId)
      if (!roles.includes(command.data.role)) return []
      if (command.data.role === 'owner' && isLastOwner(state, command.data.userId)) throw new LastOwner()
      if (roles.length === 1) throw new MemberNeedsRole(undefined, { userId: command.data.userId })
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

export const organizationDecider: Decider<OrgCommand, OrgEvent, OrgState> = {
  initialState: () => ({ status: 'none' }),

  decide (command, state) {
    if (state.status === 'active') return decideOnActive(command, state)
    if (command.type !== 'CreateOrganization') throw new OrgNotFound()
    const { orgId, name, plan = 'free', ownerId } = command.data
    return [
      { type: 'org.organization.created', data: { orgId, name, plan, ownerId } },
      { type: 'org.member.added', data: { userId: ownerId, roles: ['owner'] } }
    ]
  },

  evolve (state, event) {
    if (event.type === 'org.organization.created') {
      return { status: 'active', orgId: event.data.orgId, name: event.data.name, plan: event.data.plan, settings: {}, members: {}, invites: {} }
    }
    if (state.status !== 'active') return state
    switch (event.type) {
      case 'org.organization.renamed': return { ...state, name: event.data.name }
      case 'org.organization.plan_changed': return { ...state, plan: event.data.plan }
      case 'org.organization.settings_changed': return { ...state, settings: { ...state.settings, ...event.data.settings } }
      case 'org.member.invited': return { ...state, invites: { ...state.invites, [event.data.inviteId]: { email: event.data.email, roles: event.data.roles } } }
      case 'org.member.added': return { ...state, members: { ...state.members, [event.data.userId]: uniqueSorted(event.data.roles) } }
      case 'org.member.removed': {
        const { [event.data.userId]: _removed, ...members } = state.members
        return { ...state, members }
      }
      case 'org.member.role_assigned':
        return { ...state, members: { ...state.members, [event.data.userId]: uniqueSorted([...(state.members[event.data.userId] ?? []), event.data.role]) } }
      case 'org.member.role_unassigned':
        return { ...state, members: { ...state.members, [event.data.userId]: (state.members[event.data.userId] ?? []).filter((r) => r !== event.data.role) } }
    }
    return state
  }
}
