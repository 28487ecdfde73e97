/**
 * The permission catalogue: every action Ledgerline authorizes, as
 * `<resource>:<verb>`, with what it allows and whether it is sensitive
 * (audited with extra care, never granted by default to non-owners) or
 * owner-only (only owners may grant it). Built-in roles are defined from it.
 *
 * The host application adds its own actions (`invoice:update`, …) from
 * `PERMISSIONS_FILE`: `catalogueOf(hostActions)` makes the catalogue, an
 * immutable value the runtime builds once and hands to what needs it (the
 * organization decider, the policies, the RBAC read model, the routes), so
 * custom roles may grant the host's actions, `can()` decides them, and
 * `POST …/authz/check` answers for them. `LEDGERLINE_CATALOGUE` is
 * Ledgerline's own actions alone, for code and tests without a host.
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
  ({ action, description, sensitive: flags.sensitive === true || flags.ownerOnly === true, ownerOnly: flags.ownerOnly === true,
    source: 'ledgerline' })

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

/** What the catalogue is about an action: Ledgerline's and the host's actions, and the built-in roles' grants. Frozen. */
export interface Catalogue {
  /** Ledgerline's actions, then the host's. */
  readonly actions: readonly ActionDefinition[]
  readonly builtInRoleGrants: Readonly<Record<BuiltInRole, readonly string[]>>
  definition(action: string): ActionDefinition | undefined
  /** True for an action in the catalogue, `<resource>:*` for a resource that has actions, or `*`. */
  isKnownPattern(pattern: string): boolean
  /** The catalogue's actions a pattern covers. */
  expand(pattern: string): string[]
  /** Refuses checks about actions outside the catalogue, naming each by its place in the list (from 0). */
  requireActions(checks: ReadonlyArray<{ readonly action: string }>): void
}

/** An action outside the catalogue: a typo would otherwise grant nothing, or be denied, silently. The details say where. */
export class UnknownAction extends domainError('rbac.unknown_action', 400,
  'an action the catalogue does not have (GET /v1/permissions lists them)') {}

/**
 * The catalogue with the host application's actions. Throws, naming the
 * entry, for a malformed name, a duplicate, or an action on one of
 * Ledgerline's own resources.
 */
export function catalogueOf (hostActions: readonly HostAction[]): Catalogue {
  requireValidHostActions(hostActions)
  const definitions = hostActions.map((host): ActionDefinition => Object.freeze({
    action: host.action,
    description: host.description,
    sensitive: host.sensitive === true || host.ownerOnly === true,
    ownerOnly: host.ownerOnly === true,
    source: 'host'
  }))
  const actions: readonly ActionDefinition[] = Object.freeze([...LEDGERLINE_ACTIONS, ...definitions])
  const byAction = new Map(actions.map((definition) => [definition.action, definition]))
  const ofResource = (pattern: string): ActionDefinition[] =>
    actions.filter((definition) => definition.action.startsWith(pattern.slice(0, -1)))
  return Object.freeze({
    actions,
    builtInRoleGrants: builtInGrants(actions, hostActions),
    definition: (action: string) => byAction.get(action),
    isKnownPattern (pattern: string): boolean {
      if (pattern === '*') return true
      if (pattern.endsWith(':*')) return ofResource(pattern).length > 0
      return byAction.has(pattern)
    },
    expand (pattern: string): string[] {
      if (pattern === '*') return actions.map((definition) => definition.action)
      if (pattern.endsWith(':*')) return ofResource(pattern).map((definition) => definition.action)
      return byAction.has(pattern) ? [pattern] : []
    },
    requireActions: (checks: ReadonlyArray<{ readonly action: string }>) => requireKnown(byAction, checks)
  })
}

function requireValidHostActions (actions: readonly HostAction[]): void {
  const seen = new Set<string>()
  for (const [index, host] of actions.entries()) {
    const resource = host.action.split(':')[0]!
    if (!ACTION_NAME.test(host.action)) {
      throw new Error(`host action ${index} (${JSON.stringify(host.action)}) must read <resource>:<verb> in lower case`)
    }
    if (LEDGERLINE_RESOURCES.has(resource)) throw new Error(`host action ${host.action}: the resource ${resource} is Ledgerline's own`)
    if (seen.has(host.action)) throw new Error(`host action ${host.action} is declared twice`)
    seen.add(host.action)
  }
}

function requireKnown (byAction: ReadonlyMap<string, ActionDefinition>, checks: ReadonlyArray<{ readonly action: string }>): void {
  let unknown: Array<{ index: number, action: string }> | undefined
  for (let index = 0; index < checks.length; index++) {
    const action = checks[index]!.action
    if (!byAction.has(action)) (unknown ??= []).push({ index, action })
  }
  if (unknown === undefined) return
  const named = unknown.slice(0, 5).map(({ index, action }) => `#${index} ${action}`).join(', ')
  const more = unknown.length > 5 ? ', …' : ''
  const message = 'checks name actions the catalogue does not have (GET /v1/permissions lists them)'
  throw new UnknownAction(`${message}: ${named}${more}`, { checks: unknown })
}

/**
 * Built-in roles, in terms of the catalogue; they cannot be edited. An owner
 * holds everything; an admin everything but owner-only actions; a member
 * reads, uses the assistant and holds the host actions declared for members;
 * a viewer reads and holds the host actions declared for viewers.
 */
function builtInGrants (
  catalogue: readonly ActionDefinition[], host: readonly HostAction[]
): Readonly<Record<BuiltInRole, readonly string[]>> {
  const reads = catalogue.filter((definition) => definition.source === 'ledgerline' && definition.action.endsWith(':read') &&
    !definition.sensitive).map((definition) => definition.action)
  const hostFor = (role: 'member' | 'viewer'): string[] => host.filter((action) => action.ownerOnly !== true &&
    action.builtInRoles?.includes(role) === true).map((action) => action.action)
  return Object.freeze({
    owner: Object.freeze(catalogue.map((definition) => definition.action)),
    admin: Object.freeze(catalogue.filter((definition) => !definition.ownerOnly).map((definition) => definition.action)),
    member: Object.freeze([...reads, 'ai:use', ...hostFor('member')]),
    viewer: Object.freeze([...reads, ...hostFor('viewer')])
  })
}

/** Ledgerline's own actions, no host's: for code and tests that have no host application. */
export const LEDGERLINE_CATALOGUE: Catalogue = catalogueOf([])
