/**
 * Custom-role commands of the organization aggregate. The rules:
 * - built-in role ids are reserved; a role is refused deletion while anyone
 *   holds it (the holders are named);
 * - role names are unique in the organization, trimmed and ignoring case,
 *   built-in names included (`rbac.role_name_taken`);
 * - no escalation: a member may create, edit or assign a role only if they
 *   could do everything it allows themselves, and only owners grant
 *   owner-only actions. Actors who are not members (CLI, system) are the
 *   application's to authorize.
 * - no widening: a change by a member (grants set, a role assigned or
 *   unassigned, custom or built-in) must not let anyone pass a check the
 *   member could not pass; lifting a deny is giving what it denied, so
 *   nobody lifts a deny they are under, owners included (another owner or
 *   the CLI can).
 *
 * "Could do it themselves" is judged grant by grant, soundly rather than
 * completely: each allow of the role, for each action it names, must be
 * covered by an allow of the actor's roles that names the action on the same
 * or a wider resource, with no condition or the same condition (or one the
 * new grant's `and` includes); and each deny of the actor's roles that could
 * apply must be repeated in the role (same resource, same condition). So a
 * member who may invite only from the office network can delegate exactly
 * that, not inviting from anywhere; the property tests in roles.test.ts check
 * the rules against `can()` on random roles, command sequences and checks.
 */
import { isDeepStrictEqual } from 'node:util'
import { Draft, setOwn } from '../decider.ts'
import { handlerOf } from '../dispatch.ts'
import type { Actor } from '../envelope.ts'
import { domainError } from '../errors.ts'
import { Forbidden, MemberNeedsRole, MemberNotFound } from '../identity/errors.ts'
import type { GrantData, RbacEvent } from './events.ts'
import { UnknownAction, type Catalogue } from './permissions.ts'

export interface CustomRole {
  readonly name: string
  readonly description: string
  readonly grants: readonly GrantData[]
}

/** The part of the organization's state these commands read. */
export interface RolesState {
  readonly members: Readonly<Record<string, readonly string[]>>
  readonly roles: Readonly<Record<string, CustomRole>>
}

export type RoleCommand =
  | { type: 'CreateRole', data: { roleId: string, name: string, description?: string, grants: GrantData[] } }
  | { type: 'RenameRole', data: { roleId: string, name: string } }
  | { type: 'DescribeRole', data: { roleId: string, description: string } }
  | { type: 'SetRoleGrants', data: { roleId: string, grants: GrantData[] } }
  | { type: 'DeleteRole', data: { roleId: string } }
  | { type: 'AssignCustomRole', data: { roleId: string, userId: string } }
  | { type: 'UnassignCustomRole', data: { roleId: string, userId: string } }

export class RoleNotFound extends domainError('rbac.role_not_found', 404, 'role not found') {}
export class RoleAlreadyExists extends domainError('rbac.role_exists', 409, 'a role with this id exists') {}
export class RoleNameTaken extends domainError('rbac.role_name_taken', 409,
  'a role of the organization already has this name (names are compared trimmed, ignoring case; built-in names included)') {}
export class RoleInUse extends domainError('rbac.role_in_use', 409, 'the role is assigned; unassign it from its holders first') {}
export class Escalation extends domainError('rbac.escalation', 403, 'you cannot grant what you may not do yourself: the same actions on ' +
  'the same or narrower resources, under the same conditions and your denies') {}

const own = <V>(record: Readonly<Record<string, V>>, key: string): V | undefined => (Object.hasOwn(record, key) ? record[key] : undefined)

/** The actions a set of roles allows (built-in lists and custom allow grants, patterns expanded), whatever the resource or condition. */
export function actionsHeld (catalogue: Catalogue, state: RolesState, roleIds: readonly string[]): Set<string> {
  const held = new Set<string>()
  for (const grant of grantsOf(catalogue, state, roleIds)) {
    if (grant.effect === 'allow') for (const pattern of grant.actions) for (const action of catalogue.expand(pattern)) held.add(action)
  }
  return held
}

/** Every grant of a set of roles: a built-in role is one unconditional allow of its actions on every resource. */
export function grantsOf (catalogue: Catalogue, state: RolesState, roleIds: readonly string[]): GrantData[] {
  const grants: GrantData[] = []
  for (const roleId of roleIds) {
    const builtIn = own(catalogue.builtInRoleGrants as Record<string, readonly string[]>, roleId)
    if (builtIn !== undefined) grants.push({ actions: [...builtIn], resource: '*', effect: 'allow' })
    const custom = own(state.roles, roleId)
    if (custom !== undefined) grants.push(...custom.grants)
  }
  return grants
}

const names = (grant: GrantData, action: string): boolean =>
  grant.actions.some((pattern) => pattern === '*' || pattern === action ||
    (pattern.endsWith(':*') && action.startsWith(pattern.slice(0, -1))))

/** Whether every resource `inner` matches, `outer` matches too (resource patterns: `*`, `type`, `type/id`, `type/prefix*`). */
export function resourceCovers (outer: string, inner: string): boolean {
  if (outer === '*' || outer === inner) return true
  if (inner === '*') return false
  const [outerType, outerId] = splitResource(outer)
  const [innerType, innerId] = splitResource(inner)
  if (outerType !== innerType) return false
  if (outerId === undefined) return true
  if (innerId === undefined) return false
  return outerId.endsWith('*') && innerId.startsWith(outerId.slice(0, -1))
}

/** Whether some resource could match both (conservatively: the same type is enough). */
function resourcesOverlap (a: string, b: string): boolean {
  return a === '*' || b === '*' || splitResource(a)[0] === splitResource(b)[0]
}

function splitResource (pattern: string): [string, string | undefined] {
  const slash = pattern.indexOf('/')
  return slash === -1 ? [pattern, undefined] : [pattern.slice(0, slash), pattern.slice(slash + 1)]
}

/** The new grant's condition implies the held one: none held, the same, or one of the new `and`'s clauses. */
function conditionCovers (held: GrantData['when'], granted: GrantData['when']): boolean {
  if (held === undefined) return true
  if (granted === undefined) return false
  if (isDeepStrictEqual(held, granted)) return true
  return 'and' in granted && granted.and.some((clause) => isDeepStrictEqual(clause, held))
}

/** Refuses grants naming actions outside the catalogue: a typo would otherwise grant nothing, silently. */
function requireKnownActions (catalogue: Catalogue, grants: readonly GrantData[]): void {
  const unknown = [...new Set(grants.flatMap((grant) => grant.actions.filter((pattern) => !catalogue.isKnownPattern(pattern))))]
  if (unknown.length > 0) throw new UnknownAction('grants name actions the catalogue does not have (GET /v1/permissions lists them)',
    { actions: unknown.sort() })
}

/**
 * The actions of `given` (allows, or regions a lifted deny opens) that the actor could not pass everywhere they
 * apply, for a receiver who stays under `kept`: each must be covered by one of the actor's allows, and each of
 * the actor's denies that could apply must be in `kept`, verbatim, so the receiver stays under it. Conditions
 * naming the principal read differently for the receiver, so the actor's allows that name it cover nothing and
 * their denies that name it travel with nothing.
 */
function actionsBeyond (
  catalogue: Catalogue, state: RolesState, actorRoles: readonly string[], given: readonly GrantData[], kept: readonly GrantData[]
): Set<string> {
  const mine = grantsOf(catalogue, state, actorRoles)
  const isOwner = actorRoles.includes('owner')
  const missing = new Set<string>()
  for (const grant of given) {
    for (const pattern of grant.actions) {
      for (const action of catalogue.expand(pattern)) {
        const ownerOnly = catalogue.definition(action)?.ownerOnly === true && !isOwner
        const covered = mine.some((held) => held.effect === 'allow' && !namesPrincipal(held.when) && names(held, action) &&
          resourceCovers(held.resource, grant.resource) && conditionCovers(held.when, grant.when))
        const uncopiedDeny = mine.some((deny) => deny.effect === 'deny' && names(deny, action) &&
          resourcesOverlap(deny.resource, grant.resource) &&
          (namesPrincipal(deny.when) || !kept.some((copy) => sameGrant(copy, deny))))
        if (ownerOnly || !covered || uncopiedDeny) missing.add(action)
      }
    }
  }
  return missing
}

/**
 * The roles of the member whose command it is, or undefined for actors the application authorizes (the CLI,
 * system work). A user who is not a member is refused: the HTTP layer authorized them from a read model that can
 * lag a removal on another node, and this state is the one the append's expected version protects.
 */
export function actingMember (state: RolesState, actor: Actor): readonly string[] | undefined {
  if (actor.type !== 'user') return undefined
  const roles = own(state.members, actor.id)
  if (roles === undefined) throw new Forbidden('you are not a member of this organization', { userId: actor.id })
  return roles
}

/**
 * Refuses a role whose allows reach beyond what the actor may do themselves, for anyone holding it alone (see the
 * rule at the top); `builtIn` names the built-in roles being given, when they are what the grants come from.
 */
function requireNoEscalation (
  catalogue: Catalogue, state: RolesState, actor: Actor, grants: readonly GrantData[], builtIn?: readonly string[]
): void {
  const actorRoles = actingMember(state, actor)
  if (actorRoles === undefined) return
  const missing = [...actionsBeyond(catalogue, state, actorRoles, grants.filter((grant) => grant.effect === 'allow'), grants)].sort()
  if (missing.length === 0) return
  if (builtIn === undefined) throw new Escalation(undefined, { actions: missing })
  const shown = missing.length > 5 ? `${missing.slice(0, 5).join(', ')} and ${missing.length - 5} more` : missing.join(', ')
  const which = builtIn.length === 1 ? `the role ${builtIn[0]}: it allows` : `the roles ${builtIn.join(', ')}: they allow`
  throw new Escalation(`you cannot give ${which} what you may not do yourself (${shown})`, { actions: missing, roles: [...builtIn] })
}

/**
 * Refuses a change to members' roles, or to the grants of roles they hold, that would let one of them pass a
 * check the actor could not: whatever they gain lies in an allow they did not hold before or in a deny they are
 * no longer under, and the actor must have been able to pass all of it. A deny not kept verbatim counts as
 * lifted; so does one whose condition reads the member's roles when those change, and an allow whose condition
 * reads them counts as given. A lifted deny opens only actions the member still holds an allow for. Since the
 * actor's own denies must stay with the member, nobody lifts a deny they are under, owners included.
 */
function requireNoWidening (catalogue: Catalogue, before: RolesState, after: RolesState, actor: Actor, userIds: readonly string[]): void {
  const actorRoles = actingMember(before, actor)
  if (actorRoles === undefined) return
  const missing = new Set<string>()
  // Members holding the same roles before and after gain the same: judged once (a role may have thousands of holders).
  const judged = new Set<string>()
  for (const userId of userIds) {
    const was = own(before.members, userId) ?? []
    const now = own(after.members, userId) ?? []
    const key = JSON.stringify([was, now])
    if (judged.has(key)) continue
    judged.add(key)
    const [old, kept] = [grantsOf(catalogue, before, was), grantsOf(catalogue, after, now)]
    const rolesChanged = was.length !== now.length || was.some((roleId, i) => roleId !== now[i])
    const stays = (grant: GrantData, list: readonly GrantData[]): boolean => !(rolesChanged && namesPrincipal(grant.when)) &&
      list.some((other) => sameGrant(other, grant))
    const expand = (patterns: readonly string[]): string[] => patterns.flatMap((pattern) => catalogue.expand(pattern))
    const allowed = new Set(kept.flatMap((grant) => (grant.effect === 'allow' ? expand(grant.actions) : [])))
    const given = kept.filter((grant) => grant.effect === 'allow' && !stays(grant, old))
    const lifted = old.flatMap((deny): GrantData[] => {
      if (deny.effect !== 'deny' || stays(deny, kept)) return []
      const opened = [...new Set(expand(deny.actions))].filter((action) => allowed.has(action))
      return opened.length === 0 ? [] : [{ ...deny, actions: opened, effect: 'allow' }]
    })
    for (const action of actionsBeyond(catalogue, before, actorRoles, [...given, ...lifted], kept)) missing.add(action)
  }
  if (missing.size === 0) return
  const actions = [...missing].sort()
  throw new Escalation(`the change would let a member do what you may not do yourself (${actions.join(', ')}): a deny you are under, or ` +
    `an allow you lack`, { actions })
}

/** `requireNoWidening` for a member whose roles become `roles` (built-in roles given or taken). */
export function requireMemberRolesChange (
  catalogue: Catalogue, state: RolesState, actor: Actor, userId: string, roles: readonly string[]
): void {
  requireNoWidening(catalogue, state, { roles: state.roles, members: { [userId]: roles } }, actor, [userId])
}

function sameGrant (a: GrantData, b: GrantData): boolean {
  return a.effect === b.effect && a.resource === b.resource && isDeepStrictEqual(a.actions, b.actions) && isDeepStrictEqual(a.when, b.when)
}

/** Whether a condition reads the principal (`principal.id`, `principal.roles`), which differs from one member to another. */
function namesPrincipal (value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false
  if (Array.isArray(value)) return value.some(namesPrincipal)
  const ref = (value as { ref?: unknown }).ref
  if (typeof ref === 'string') return ref.startsWith('principal.')
  return Object.values(value).some(namesPrincipal)
}

/**
 * Giving a built-in role other than owner (adding, inviting or assigning
 * with it) is giving its actions: the same rule as for a custom role. The
 * owner role has its own rule: only owners give it.
 */
export function requireBuiltInRolesHeld (catalogue: Catalogue, state: RolesState, actor: Actor, roles: readonly string[]): void {
  const given = roles.filter((roleId) => roleId !== 'owner')
  const grants = given.flatMap((roleId) => grantsOf(catalogue, state, [roleId]))
  if (grants.length > 0) requireNoEscalation(catalogue, state, actor, grants, given)
}

/** How names compare: trimmed, in one Unicode form, ignoring case. */
const nameKey = (name: string): string => name.trim().normalize('NFC').toLowerCase()

/** Refuses a name another role has (a built-in one included); `roleId` is the role being named, which may keep its own. */
function requireNameFree ({ catalogue, state }: Deciding, name: string, roleId: string): void {
  const key = nameKey(name)
  const taken = Object.hasOwn(catalogue.builtInRoleGrants, key)
    ? key
    : Object.keys(state.roles).find((id) => id !== roleId && nameKey(state.roles[id]!.name) === key)
  if (taken !== undefined) throw new RoleNameTaken(undefined, { name: name.trim(), roleId: taken })
}

function role (state: RolesState, roleId: string): CustomRole {
  const found = own(state.roles, roleId)
  if (found === undefined) throw new RoleNotFound(undefined, { roleId })
  return found
}

export function holders (state: RolesState, roleId: string): string[] {
  return Object.entries(state.members).filter(([, roles]) => roles.includes(roleId)).map(([userId]) => userId).sort()
}

type RoleCommandOf<T extends RoleCommand['type']> = Extract<RoleCommand, { type: T }>
/** What a role command decides from: the organization's roles and members, who asks, and the catalogue. */
export interface Deciding { readonly catalogue: Catalogue, readonly state: RolesState, readonly actor: Actor }
type RoleHandler<T extends RoleCommand['type']> = (command: RoleCommandOf<T>, deciding: Deciding) => RbacEvent[]

function createRole ({ data }: RoleCommandOf<'CreateRole'>, deciding: Deciding): RbacEvent[] {
  const { catalogue, state, actor } = deciding
  const { roleId, name, description = '', grants } = data
  if (own(state.roles, roleId) !== undefined) throw new RoleAlreadyExists(undefined, { roleId })
  requireNameFree(deciding, name, roleId)
  requireKnownActions(catalogue, grants)
  requireNoEscalation(catalogue, state, actor, grants)
  return [{ type: 'rbac.role.created', data: { roleId, name: name.trim(), description, grants } }]
}

function renameRole ({ data }: RoleCommandOf<'RenameRole'>, deciding: Deciding): RbacEvent[] {
  const { roleId, name } = data
  if (role(deciding.state, roleId).name === name.trim()) return []
  requireNameFree(deciding, name, roleId)
  return [{ type: 'rbac.role.renamed', data: { roleId, name: name.trim() } }]
}

function setRoleGrants ({ data }: RoleCommandOf<'SetRoleGrants'>, { catalogue, state, actor }: Deciding): RbacEvent[] {
  const { roleId, grants } = data
  const current = role(state, roleId)
  requireKnownActions(catalogue, grants)
  requireNoEscalation(catalogue, state, actor, grants)
  const after = { members: state.members, roles: { ...state.roles, [roleId]: { ...current, grants } } }
  requireNoWidening(catalogue, state, after, actor, holders(state, roleId))
  return [{ type: 'rbac.role.grants_set', data }]
}

function deleteRole ({ data }: RoleCommandOf<'DeleteRole'>, { state }: Deciding): RbacEvent[] {
  role(state, data.roleId)
  const holding = holders(state, data.roleId)
  if (holding.length > 0) throw new RoleInUse(undefined, { roleId: data.roleId, holders: holding })
  return [{ type: 'rbac.role.deleted', data }]
}

/** The roles of a member; MemberNotFound for anyone else. */
function memberRoles (state: RolesState, userId: string): readonly string[] {
  const roles = own(state.members, userId)
  if (roles === undefined) throw new MemberNotFound(undefined, { userId })
  return roles
}

function assignCustomRole ({ data }: RoleCommandOf<'AssignCustomRole'>, { catalogue, state, actor }: Deciding): RbacEvent[] {
  const granted = role(state, data.roleId)
  const roles = memberRoles(state, data.userId)
  requireNoEscalation(catalogue, state, actor, granted.grants)
  if (roles.includes(data.roleId)) return []
  requireMemberRolesChange(catalogue, state, actor, data.userId, [...roles, data.roleId].sort())
  return [{ type: 'rbac.role.assigned', data }]
}

function unassignCustomRole ({ data }: RoleCommandOf<'UnassignCustomRole'>, { catalogue, state, actor }: Deciding): RbacEvent[] {
  role(state, data.roleId)
  const roles = memberRoles(state, data.userId)
  if (!roles.includes(data.roleId)) return []
  if (roles.length === 1) throw new MemberNeedsRole(undefined, { userId: data.userId })
  requireMemberRolesChange(catalogue, state, actor, data.userId, roles.filter((roleId) => roleId !== data.roleId))
  return [{ type: 'rbac.role.unassigned', data }]
}

/** Each role command, by type. */
const ON_ROLE_COMMAND: { readonly [T in RoleCommand['type']]: RoleHandler<T> } = {
  CreateRole: createRole,
  RenameRole: renameRole,
  DescribeRole: ({ data }, { state }) =>
    (role(state, data.roleId).description === data.description ? [] : [{ type: 'rbac.role.described', data }]),
  SetRoleGrants: setRoleGrants,
  DeleteRole: deleteRole,
  AssignCustomRole: assignCustomRole,
  UnassignCustomRole: unassignCustomRole
}

export function decideRole (command: RoleCommand, deciding: Deciding): RbacEvent[] {
  const handler = handlerOf<RoleHandler<RoleCommand['type']>>(ON_ROLE_COMMAND as never, command.type)
  if (handler === undefined) throw new Error(`unhandled command ${JSON.stringify(command)}`)
  return handler(command as never, deciding)
}

/**
 * How the RBAC events change the organization's roles and members, copy-on-write through `draft` (one per
 * fold: what it copied it changes in place, so a long stream folds in linear time). `state` itself is never
 * changed; the role and member values in the maps are replaced, never changed.
 */
export function evolveRoles<S extends RolesState> (state: S, event: RbacEvent, draft = new Draft()): S {
  switch (event.type) {
    case 'rbac.role.created':
      setOwn(roles(), event.data.roleId, { name: event.data.name, description: event.data.description, grants: event.data.grants })
      break
    case 'rbac.role.renamed':
    case 'rbac.role.described':
    case 'rbac.role.grants_set': {
      // Events are facts: one about a role this state does not know changes nothing rather than throwing.
      const current = own(state.roles, event.data.roleId)
      if (current === undefined) return state
      const { roleId: _id, ...change } = event.data
      setOwn(roles(), event.data.roleId, { ...current, ...change })
      break
    }
    case 'rbac.role.deleted':
      delete roles()[event.data.roleId]
      break
    case 'rbac.role.assigned':
      setOwn(members(), event.data.userId, [...(own(state.members, event.data.userId) ?? []), event.data.roleId].sort())
      break
    case 'rbac.role.unassigned':
      setOwn(members(), event.data.userId, (own(state.members, event.data.userId) ?? []).filter((r) => r !== event.data.roleId))
      break
  }
  return draft.own(state) as S

  function roles (): Record<string, CustomRole> {
    const next = draft.own(state as RolesState)
    next.roles = draft.own(next.roles)
    return next.roles
  }
  function members (): Record<string, readonly string[]> {
    const next = draft.own(state as RolesState)
    next.members = draft.own(next.members)
    return next.members
  }
}
