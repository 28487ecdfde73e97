/**
 * The organization aggregate (`org-<orgId>`): name, plan, settings, members
 * and their built-in roles. Invariant: once created it has at least one owner,
 * and every member holds at least one role.
 */
import { Draft, setOwn, type Decider, type DecisionContext } from '../decider.ts'
import { handlerOf } from '../dispatch.ts'
import type { Actor } from '../envelope.ts'
import { BillingAlreadyLinked, Forbidden, InvitationAlreadyExists, LastOwner, MemberAlreadyExists, MemberNeedsRole, MemberNotFound,
  OrgAlreadyExists, OrgNotFound } from './errors.ts'
import { requireRetentionAllowed } from '../audit/retention.ts'
import type { RbacEvent } from '../rbac/events.ts'
import { LEDGERLINE_CATALOGUE, type Catalogue } from '../rbac/permissions.ts'
import { actingMember, decideRole, evolveRoles, requireBuiltInRolesHeld, requireMemberRolesChange, type CustomRole,
  type RoleCommand } from '../rbac/roles.ts'
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
    /** The Stripe customer billed for the plan (`cus_…`), once linked (src/application/billing/); null before. */
    billingCustomerId: string | null
  }

type Active = Extract<OrgState, { status: 'active' }>

export type OrgCommand =
  | { type: 'CreateOrganization', data: { orgId: string, name: string, plan?: Plan, ownerId: string } }
  | { type: 'RenameOrganization', data: { name: string } }
  | { type: 'ChangePlan', data: { plan: Plan } }
  | { type: 'ChangeSettings', data: { settings: Record<string, string | number | boolean | null> } }
  | { type: 'SetAuditRetention', data: { days: number | null } }
  | { type: 'SetSupportAccess', data: { enabled: boolean } }
  | { type: 'LinkBilling', data: { customerId: string } }
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
  if (roles !== undefined && !roles.includes('owner')) throw new Forbidden('only an owner can grant, revoke or remove the owner role',
    { requiredRoles: ['owner'] })
}

/**
 * Giving built-in roles to someone who is not a member yet (adding, inviting,
 * accepting an invitation): the rule for each role (only owners give owner;
 * nobody gives what they may not do), and no widening, so an owner under a
 * deny cannot make an owner who is not under it. `newcomer` is the member to
 * be, or a stand-in that no member has for an invitation.
 */
export function requireMayGiveRoles (
  catalogue: Catalogue, state: Active, actor: Actor, newcomer: string, roles: readonly BuiltInRole[]
): void {
  if (roles.includes('owner')) requireOwnerActor(state, actor)
  requireBuiltInRolesHeld(catalogue, state, actor, roles)
  requireMemberRolesChange(catalogue, state, actor, newcomer, uniqueSorted(roles))
}

/** What the organization decides from besides the command and the state: the clock, the caller and the permission catalogue. */
export interface OrgDecisionContext extends DecisionContext {
  readonly catalogue: Catalogue
}

/** What a command on an active organization decides from. */
interface OnActive { readonly state: Active, readonly actor: Actor, readonly now: Date, readonly catalogue: Catalogue }

type Decided = Array<OrgEvent | RbacEvent>
type CommandOf<T extends OrgCommand['type']> = Extract<OrgCommand, { type: T }>

/** A change that is none when the state already has it. */
const unlessSame = <E>(same: boolean, event: E): E[] => (same ? [] : [event])

function decideAddMember ({ data }: CommandOf<'AddMember'>, { state, actor, catalogue }: OnActive): Decided {
  if (rolesOf(state, data.userId) !== undefined) throw new MemberAlreadyExists(undefined, { userId: data.userId })
  requireMayGiveRoles(catalogue, state, actor, data.userId, data.roles)
  return [{ type: 'org.member.added', data: { userId: data.userId, roles: uniqueSorted(data.roles) } }]
}

function decideRemoveMember ({ data }: CommandOf<'RemoveMember'>, { state, actor }: OnActive): Decided {
  if (member(state, data.userId).includes('owner')) requireOwnerActor(state, actor)
  if (isLastOwner(state, data.userId)) throw new LastOwner()
  return [{ type: 'org.member.removed', data: { userId: data.userId } }]
}

function decideAssignRole ({ data }: CommandOf<'AssignRole'>, { state, actor, catalogue }: OnActive): Decided {
  if (data.role === 'owner') requireOwnerActor(state, actor)
  requireBuiltInRolesHeld(catalogue, state, actor, [data.role])
  requireMemberRolesChange(catalogue, state, actor, data.userId, uniqueSorted([...member(state, data.userId), data.role]))
  return unlessSame(member(state, data.userId).includes(data.role), { type: 'org.member.role_assigned', data })
}

function decideUnassignRole ({ data }: CommandOf<'UnassignRole'>, { state, actor, catalogue }: OnActive): Decided {
  if (data.role === 'owner') requireOwnerActor(state, actor)
  const roles = member(state, data.userId)
  if (!roles.includes(data.role)) return []
  if (data.role === 'owner' && isLastOwner(state, data.userId)) throw new LastOwner()
  if (roles.length === 1) throw new MemberNeedsRole(undefined, { userId: data.userId })
  requireMemberRolesChange(catalogue, state, actor, data.userId, roles.filter((r) => r !== data.role))
  return [{ type: 'org.member.role_unassigned', data }]
}

function decideInviteMember ({ data }: CommandOf<'InviteMember'>, { state, actor, catalogue }: OnActive): Decided {
  if (Object.hasOwn(state.invitations, data.inviteId)) throw new InvitationAlreadyExists(undefined, { inviteId: data.inviteId })
  requireMayGiveRoles(catalogue, state, actor, `invitation:${data.inviteId}`, data.roles)
  return [invitationCreated(data, actor, uniqueSorted(data.roles))]
}

/** One customer for good: the subscription lives under it, so linking another would orphan what the organization pays for. */
function decideLinkBilling ({ data }: CommandOf<'LinkBilling'>, { state }: OnActive): Decided {
  const linked = state.billingCustomerId
  if (linked !== null && linked !== data.customerId) throw new BillingAlreadyLinked(undefined, { customerId: linked })
  return unlessSame(linked === data.customerId, { type: 'org.organization.billing_linked', data: { customerId: data.customerId } })
}

const onInvitation = (command: Parameters<typeof decideInvitation>[1], { state, now, catalogue }: OnActive): Decided =>
  decideInvitation(catalogue, command, state, now)
const onRole = (command: RoleCommand, { state, actor, catalogue }: OnActive): Decided => decideRole(command, { catalogue, state, actor })

/** Each command on an active organization, by type. */
const ON_ACTIVE: { readonly [T in OrgCommand['type']]: (command: CommandOf<T>, context: OnActive) => Decided } = {
  CreateOrganization: (_, { state }) => { throw new OrgAlreadyExists(undefined, { orgId: state.orgId }) },
  RenameOrganization: ({ data }, { state }) =>
    unlessSame(data.name === state.name, { type: 'org.organization.renamed', data: { name: data.name } }),
  ChangePlan: ({ data }, { state }) =>
    unlessSame(data.plan === state.plan, { type: 'org.organization.plan_changed', data: { plan: data.plan } }),
  SetAuditRetention: ({ data }, { state }) => {
    requireRetentionAllowed(state.plan, data.days)
    return unlessSame(data.days === state.auditRetentionDays, { type: 'org.organization.audit_retention_set', data: { days: data.days } })
  },
  SetSupportAccess: ({ data }, { state }) =>
    unlessSame(data.enabled === state.supportAccess, { type: 'org.organization.support_access_set', data }),
  LinkBilling: decideLinkBilling,
  ChangeSettings: ({ data }) => [{ type: 'org.organization.settings_changed', data: { settings: data.settings } }],
  InviteMember: decideInviteMember,
  AcceptInvitation: onInvitation,
  RevokeInvitation: onInvitation,
  ExpireInvitation: onInvitation,
  AddMember: decideAddMember,
  RemoveMember: decideRemoveMember,
  AssignRole: decideAssignRole,
  UnassignRole: decideUnassignRole,
  CreateRole: onRole,
  RenameRole: onRole,
  DescribeRole: onRole,
  SetRoleGrants: onRole,
  DeleteRole: onRole,
  AssignCustomRole: onRole,
  UnassignCustomRole: onRole
}

function decideOnActive (command: OrgCommand, state: Active, { actor, now, catalogue }: OrgDecisionContext): Decided {
  const handler = handlerOf<(command: OrgCommand, context: OnActive) => Decided>(ON_ACTIVE as never, command.type)
  if (handler === undefined) return unreachable(command as never)
  return handler(command, { state, actor, now, catalogue })
}

function unreachable (value: never): never {
  throw new Error(`unhandled command ${JSON.stringify(value)}`)
}

function uniqueSorted<T extends string> (values: readonly T[]): T[] {
  return [...new Set(values)].sort()
}

/** Decides a command on the organization; the permission catalogue comes with the context, as the clock does. */
export function decideOrganization (command: OrgCommand, state: OrgState, context: OrgDecisionContext): Decided {
  if (state.status === 'active') return decideOnActive(command, state, context)
  if (command.type !== 'CreateOrganization') throw new OrgNotFound()
  const { orgId, name, plan = 'free', ownerId } = command.data
  return [
    { type: 'org.organization.created', data: { orgId, name, plan, ownerId } },
    { type: 'org.member.added', data: { userId: ownerId, roles: ['owner'] } }
  ]
}

export type OrganizationDecider = Decider<OrgCommand, OrgEvent | RbacEvent, OrgState>

const deciders = new WeakMap<Catalogue, OrganizationDecider>()

/**
 * The organization's decider over a catalogue: each decision's context gets the catalogue, so what roles may
 * grant and give follows the catalogue the runtime was opened with. One decider per catalogue. Folding does not
 * depend on the catalogue: any of them folds a stream to the same state.
 */
export function organizationDeciderFor (catalogue: Catalogue): OrganizationDecider {
  let decider = deciders.get(catalogue)
  if (decider === undefined) {
    decider = Object.freeze({
      initialState: (): OrgState => ({ status: 'none' }),
      decide: (command: OrgCommand, state: OrgState, context: DecisionContext) =>
        decideOrganization(command, state, { ...context, catalogue }),
      evolve: (state: OrgState, event: OrgEvent | RbacEvent) => evolveOrganization(new Draft(), state, event),
      evolveAll (state: OrgState, events: Iterable<OrgEvent | RbacEvent>): OrgState {
        const draft = new Draft()
        for (const event of events) state = evolveOrganization(draft, state, event)
        return state
      }
    })
    deciders.set(catalogue, decider)
  }
  return decider
}

/** The organization's decider over Ledgerline's own catalogue (no host actions): for folds, and code and tests without a host. */
export const organizationDecider: OrganizationDecider = organizationDeciderFor(LEDGERLINE_CATALOGUE)

/**
 * One event on the organization's state, copy-on-write through `draft`: the
 * state and each map it changes are copied once per draft, then changed in
 * place, so folding a long stream stays linear. Values in the maps (a
 * member's role list, a role, an invitation) are replaced, never changed.
 */
function evolveOrganization (draft: Draft, state: OrgState, event: OrgEvent | RbacEvent): OrgState {
  if (event.type === 'org.organization.created') return created(event.data)
  if (state.status !== 'active') return state
  if (event.type.startsWith('rbac.role.')) return evolveRoles(state, event as RbacEvent, draft)
  const handler = handlerOf<(event: OrgEvent, evolving: Evolving) => Active>(ON_EVENT as never, event.type)
  return handler === undefined ? state : handler(event as OrgEvent, { draft, state })
}

function created (data: EventOf<'org.organization.created'>['data']): Active {
  const { orgId, name, plan } = data
  return {
    status: 'active', orgId, name, plan, settings: {}, members: {}, invitations: {}, roles: {}, auditRetentionDays: null,
    supportAccess: true, billingCustomerId: null
  }
}

/** An event being folded into an active organization, through its draft. */
interface Evolving { readonly draft: Draft, readonly state: Active }
type EventOf<T extends OrgEvent['type']> = Extract<OrgEvent, { type: T }>
type InvitationEventType = 'org.member.invited' | `org.invitation.${'created' | 'accepted' | 'revoked' | 'expired'}`

/** The state, copied once per draft, to change in place. */
const writable = ({ draft, state }: Evolving): Active => draft.own(state)

/** Changes the state's writable copy, and answers it. */
function change (evolving: Evolving, apply: (state: Active) => void): Active {
  const next = writable(evolving)
  apply(next)
  return next
}

/** Changes the members map of the state's writable copy, and answers the state. */
function changeMembers (evolving: Evolving, apply: (members: Active['members']) => void): Active {
  return change(evolving, (next) => {
    next.members = evolving.draft.own(next.members)
    apply(next.members)
  })
}

function evolveSettings ({ data }: EventOf<'org.organization.settings_changed'>, evolving: Evolving): Active {
  return change(evolving, (next) => {
    next.settings = evolving.draft.own(next.settings)
    for (const [key, value] of Object.entries(data.settings)) setOwn(next.settings, key, value)
  })
}

function evolveInvitations (event: EventOf<InvitationEventType>, evolving: Evolving): Active {
  const { state } = evolving
  const { inviteId } = event.data
  const invitation = evolveInvitation(Object.hasOwn(state.invitations, inviteId) ? state.invitations[inviteId] : undefined, event)
  if (invitation === undefined) return state
  return change(evolving, (next) => {
    next.invitations = evolving.draft.own(next.invitations)
    setOwn(next.invitations, event.data.inviteId, invitation)
  })
}

/** Each event on an active organization, by type (its creation and role events are folded apart). */
type Evolver<T extends OrgEvent['type']> = (event: EventOf<T>, evolving: Evolving) => Active

const ON_EVENT: { readonly [T in Exclude<OrgEvent['type'], 'org.organization.created'>]: Evolver<T> } = {
  'org.organization.renamed': ({ data }, evolving) => change(evolving, (next) => { next.name = data.name }),
  'org.organization.plan_changed': ({ data }, evolving) => change(evolving, (next) => { next.plan = data.plan }),
  'org.organization.audit_retention_set': ({ data }, evolving) => change(evolving, (next) => { next.auditRetentionDays = data.days }),
  'org.organization.support_access_set': ({ data }, evolving) => change(evolving, (next) => { next.supportAccess = data.enabled }),
  'org.organization.billing_linked': ({ data }, evolving) => change(evolving, (next) => { next.billingCustomerId = data.customerId }),
  'org.organization.settings_changed': evolveSettings,
  'org.member.invited': evolveInvitations,
  'org.invitation.created': evolveInvitations,
  'org.invitation.accepted': evolveInvitations,
  'org.invitation.revoked': evolveInvitations,
  'org.invitation.expired': evolveInvitations,
  'org.member.added': ({ data }, evolving) => changeMembers(evolving, (members) => setOwn(members, data.userId, uniqueSorted(data.roles))),
  'org.member.removed': ({ data }, evolving) => changeMembers(evolving, (members) => { delete members[data.userId] }),
  'org.member.role_assigned': ({ data }, evolving) => {
    const roles = uniqueSorted([...(rolesOf(evolving.state, data.userId) ?? []), data.role])
    return changeMembers(evolving, (members) => setOwn(members, data.userId, roles))
  },
  'org.member.role_unassigned': ({ data }, evolving) => {
    const roles = (rolesOf(evolving.state, data.userId) ?? []).filter((r) => r !== data.role)
    return changeMembers(evolving, (members) => setOwn(members, data.userId, roles))
  }
}
