/**
 * The permission catalogue: every action Ledgerline authorizes, as
 * `<resource>:<verb>`, with what it allows and whether it is sensitive
 * (audited with extra care, never granted by default to non-owners) or
 * owner-only (only owners may grant it). Built-in roles are defined from it.
 */
export interface ActionDefinition {
  readonly action: string
  readonly description: string
  /** Reading or changing security-relevant state: exports, role changes, impersonation, money. */
  readonly sensitive: boolean
  /** Only owners hold it and only owners may grant it. */
  readonly ownerOnly: boolean
}

const define = (action: string, description: string, flags: { sensitive?: boolean, ownerOnly?: boolean } = {}): ActionDefinition =>
  ({ action, description, sensitive: flags.sensitive === true || flags.ownerOnly === true, ownerOnly: flags.ownerOnly === true })

export const CATALOGUE: readonly ActionDefinition[] = Object.freeze([
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
  define('impersonation:start', 'act as a member of the organization, time-boxed and traced', { sensitive: true }),
  define('impersonation:approve', 'approve a break-glass impersonation requested by someone else', { sensitive: true }),
  define('impersonation:revoke', 'end anyone\'s impersonation session in the organization', { sensitive: true }),
  define('impersonation:configure', 'turn support impersonation on or off for the organization', { ownerOnly: true }),
  define('ai:use', 'use the assistant and its tools, within one\'s own permissions'),
  define('ai:manage', 'set AI budgets and limits', { sensitive: true }),
  define('webhook:read', 'see webhook endpoints and deliveries'),
  define('webhook:manage', 'create, change and replay webhooks', { sensitive: true })
])

const BY_ACTION = new Map(CATALOGUE.map((definition) => [definition.action, definition]))

export function actionDefinition (action: string): ActionDefinition | undefined {
  return BY_ACTION.get(action)
}

/** True for an action in the catalogue, `<resource>:*` for a resource that has actions, or `*`. */
export function isKnownActionPattern (pattern: string): boolean {
  if (pattern === '*') return true
  if (pattern.endsWith(':*')) return CATALOGUE.some((definition) => definition.action.startsWith(pattern.slice(0, -1)))
  return BY_ACTION.has(pattern)
}

/** The catalogue's actions a pattern covers. */
export function expandActionPattern (pattern: string): string[] {
  if (pattern === '*') return CATALOGUE.map((definition) => definition.action)
  if (pattern.endsWith(':*')) return CATALOGUE.filter((definition) => definition.action.startsWith(pattern.slice(0, -1))).map((definition) => definition.action)
  return BY_ACTION.has(pattern) ? [pattern] : []
}

const READS = CATALOGUE.filter((definition) => definition.action.endsWith(':read') && !definition.sensitive).map((definition) => definition.action)

/**
 * Built-in roles, in terms of the catalogue; they cannot be edited. An owner
 * holds everything; an admin everything but owner-only actions; a member
 * reads and uses the assistant; a viewer reads.
 */
export const BUILT_IN_ROLE_GRANTS: Readonly<Record<'owner' | 'admin' | 'member' | 'viewer', readonly string[]>> = Object.freeze({
  owner: CATALOGUE.map((definition) => definition.action),
  admin: CATALOGUE.filter((definition) => !definition.ownerOnly).map((definition) => definition.action),
  member: [...READS, 'ai:use'],
  viewer: READS
})
