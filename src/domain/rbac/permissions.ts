/**
 * The permission catalogue: every action Ledgerline authorizes, as
 * `<resource>:<verb>`, with what it allows and whether it is sensitive
 * (audited with extra care, never granted by default to non-owners) or
 * owner-only (only owners may grant it). Built-in roles are defined from it.
 *
 * The host application adds its own actions (`invoice:update`, …) once, at
 * start-up, from `PERMISSIONS_FILE` (`useHostActions`): custom roles may then
 * grant them, `can()` decides them, and `POST …/authz/check` answers for them.
 * `CATALOGUE` and `BUILT_IN_ROLE_GRANTS` are live bindings: they include the
 * host's actions once set.
 */
import { domainError } from '../errors.ts'

export interface ActionDefinition {
  readonly action: string
  readonly description: string
  /** Reading or changing security-relevant state: exports, role changes, impersonation, money. */
  readonly sensitive: boolean
  /** Only owners hold it and only owners may grant it. */
  readonly ownerOnly: boolean
  /** `ledgerline` for Ledgerline's own actions, `host` for the host application's. */
  readonly source: 'ledgerline' | 'host'
}

const define = (action: string, description: string, flags: { sensitive?: boolean, ownerOnly?: boolean } = {}): ActionDefinition =>
  ({ action, description, sensitive: flags.sensitive === true || flags.ownerOnly === true, ownerOnly: flags.ownerOnly === true, source: 'ledgerline' })

const LEDGERLINE_ACTIONS: readonly ActionDefinition[] = Object.freeze([
  define('org:read', 'see the organization: name, plan, settings'),
  define('org:update', 'rename the organization and change its settings'),
  define('org:delete', 'delete the organization', { ownerOnly: true }),
  define('billing:read', 'see the plan and invoices of the organization', { sensitive: true }),
  define('billing:update', 'change the plan and payment details', { ownerOnly: true }),
  define('member:read', 'list members and their roles'),
  define('member:invite', 'invite people by e-mail address'),
  define('member:add', 'add an existing user as a member'),
  define('member:remove', 'remove a member', { sensitive: true }),
  define('role:read', 'see roles, their grants and who holds them'),
  define('role:create', 'create a custom role', { sensitive: true }),
  define('role:update', 'rename, describe and change the grants of a custom role', { sensitive: true }),
  define('role:delete', 'delete a custom role that nobody holds', { sensitive: true }),
  define('role:assign', 'give a member a role', { sensitive: true }),
  define('role:unassign', 'take a role from a member', { sensitive: true }),
  define('authz:check', 'check and explain authorization decisions for members'),
  define('audit:read', 'search the audit log', { sensitive: true }),
  define('audit:export', 'export the audit log', { sensitive: true }),
  define('audit:configure', 'set how long the audit log is kept', { ownerOnly: true }),
  define('impersonation:read', 'see the organization\'s impersonation sessions, active and past', { sensitive: true }),
  define('impersonation:start', 'act as a member of the organization, time-boxed and traced', { sensitive: true }),
  define('impersonation:approve', 'approve a break-glass impersonation requested by someone else', { sensitive: true }),
  define('impersonation:revoke', 'end anyone\'s impersonation session in the organization', { sensitive: true }),
  define('impersonation:configure', 'turn support impersonation on or off for the organization', { ownerOnly: true }),
  define('ai:use', 'use the assistant and its tools, within one\'s own permissions'),
  define('ai:manage', 'set AI budgets and limits', { sensitive: true }),
  define('webhook:read', 'see webhook endpoints and deliveries'),
  define('webhook:manage', 'create, change and replay webhooks', { sensitive: true })
])

/** The resources whose actions are Ledgerline's; a host action may not add to them. */
const LEDGERLINE_RESOURCES = new Set(LEDGERLINE_ACTIONS.map((definition) => definition.action.split(':')[0]!))

/** An action of the host application, as `PERMISSIONS_FILE` declares it. */
export interface HostAction {
  readonly action: string
  readonly description: string
  readonly sensitive?: boolean
  readonly ownerOnly?: boolean
  /** Built-in roles beyond owner and admin that hold it (owners hold every action; admins every one that is not owner-only). */
  readonly builtInRoles?: ReadonlyArray<'member' | 'viewer'>
}

/** `<resource>:<verb>`, lower case: what an action must look like. */
export const ACTION_NAME = /^[a-z][a-z0-9_]{0,39}:[a-z][a-z0-9_]{0,39}$/

export type BuiltInRole = 'owner' | 'admin' | 'member' | 'viewer'

export let CATALOGUE: readonly ActionDefinition[] = LEDGERLINE_ACTIONS
export let BUILT_IN_ROLE_GRANTS: Readonly<Record<BuiltInRole, readonly string[]>> = builtInGrants(LEDGERLINE_ACTIONS, [])
let byAction = new Map(CATALOGUE.map((definition) => [definition.action, definition]))

/**
 * Sets the host application's actions (replacing any set before). Throws,
 * naming the entry, for a malformed name, a duplicate, or an action on one of
 * Ledgerline's own resources.
 */
export function useHostActions (actions: readonly HostAction[]): void {
  const seen = new Set<string>()
  for (const [index, host] of actions.entries()) {
    if (!ACTION_NAME.test(host.action)) throw new Error(`host action ${index} (${JSON.stringify(host.action)}) must read <resource>:<verb> in lower case`)
    if (LEDGERLINE_RESOURCES.has(host.action.split(':')[0]!)) throw new Error(`host action ${host.action}: the resource ${host.action.split(':')[0]} is Ledgerline's own`)
    if (seen.has(host.action)) throw new Error(`host action ${host.action} is declared twice`)
    seen.add(host.action)
  }
  const definitions = actions.map((host): ActionDefinition => Object.freeze({
    action: host.action,
    description: host.description,
    sensitive: host.sensitive === true || host.ownerOnly === true,
    ownerOnly: host.ownerOnly === true,
    source: 'host'
  }))
  CATALOGUE = Object.freeze([...LEDGERLINE_ACTIONS, ...definitions])
  BUILT_IN_ROLE_GRANTS = builtInGrants(CATALOGUE, actions)
  byAction = new Map(CATALOGUE.map((definition) => [definition.action, definition]))
}

/** An action outside the catalogue: a typo would otherwise grant nothing, or be denied, silently. The details say where. */
export class UnknownAction extends domainError('rbac.unknown_action', 400, 'an action the catalogue does not have (GET /v1/permissions lists them)') {}

/** Refuses checks about actions outside the catalogue, naming each by its place in the list (from 0). */
export function requireCatalogueActions (checks: ReadonlyArray<{ readonly action: string }>): void {
  let unknown: Array<{ index: number, action: string }> | undefined
  for (let index = 0; index < checks.length; index++) {
    const action = checks[index]!.action
    if (!byAction.has(action)) (unknown ??= []).push({ index, action })
  }
  if (unknown === undefined) return
  const named = unknown.slice(0, 5).map(({ index, action }) => `#${index} ${action}`).join(', ')
  throw new UnknownAction(`checks name actions the catalogue does not have (GET /v1/permissions lists them): ${named}${unknown.length > 5 ? ', …' : ''}`, { checks: unknown })
}

export function actionDefinition (action: string): ActionDefinition | undefined {
  return byAction.get(action)
}

/** True for an action in the catalogue, `<resource>:*` for a resource that has actions, or `*`. */
export function isKnownActionPattern (pattern: string): boolean {
  if (pattern === '*') return true
  if (pattern.endsWith(':*')) return CATALOGUE.some((definition) => definition.action.startsWith(pattern.slice(0, -1)))
  return byAction.has(pattern)
}

/** The catalogue's actions a pattern covers. */
export function expandActionPattern (pattern: string): string[] {
  if (pattern === '*') return CATALOGUE.map((definition) => definition.action)
  if (pattern.endsWith(':*')) return CATALOGUE.filter((definition) => definition.action.startsWith(pattern.slice(0, -1))).map((definition) => definition.action)
  return byAction.has(pattern) ? [pattern] : []
}

/**
 * Built-in roles, in terms of the catalogue; they cannot be edited. An owner
 * holds everything; an admin everything but owner-only actions; a member
 * reads, uses the assistant and holds the host actions declared for members;
 * a viewer reads and holds the host actions declared for viewers.
 */
function builtInGrants (catalogue: readonly ActionDefinition[], host: readonly HostAction[]): Readonly<Record<BuiltInRole, readonly string[]>> {
  const reads = catalogue.filter((definition) => definition.source === 'ledgerline' && definition.action.endsWith(':read') && !definition.sensitive).map((definition) => definition.action)
  const hostFor = (role: 'member' | 'viewer'): string[] => host.filter((action) => action.ownerOnly !== true && action.builtInRoles?.includes(role) === true).map((action) => action.action)
  return Object.freeze({
    owner: Object.freeze(catalogue.map((definition) => definition.action)),
    admin: Object.freeze(catalogue.filter((definition) => !definition.ownerOnly).map((definition) => definition.action)),
    member: Object.freeze([...reads, 'ai:use', ...hostFor('member')]),
    viewer: Object.freeze([...reads, ...hostFor('viewer')])
  })
}
