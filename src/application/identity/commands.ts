/**
 * The identity pack's application functions: what an HTTP route, a CLI
 * command or a test calls. Each takes the services, the command metadata
 * (who, when, trace, command id) and plain input; ids of new aggregates derive
 * from the command id, so a retried command lands on the same streams.
 */
import { z } from 'zod'
import { aggregate, foldRecorded, readState } from '../../domain/decider.ts'
import { uuidV5, type CommandMetadata } from '../../domain/envelope.ts'
import { InvalidInput } from '../../domain/errors.ts'
import { emailDecider, emailStreamId, normalizeEmail } from '../../domain/identity/email.ts'
import { EmailTaken, InvalidCredentials, TokenNotFound, UserDisabled, UserNotFound } from '../../domain/identity/errors.ts'
import { BUILT_IN_ROLES, type BuiltInRole, type Plan } from '../../domain/identity/events.ts'
import { organizationDeciderFor, orgStreamId, type OrgCommand, type OrgState } from '../../domain/identity/organization.ts'
import { tokenDecider, tokenStreamId } from '../../domain/identity/token.ts'
import { userDecider, userStreamId, type UserCommand } from '../../domain/identity/user.ts'
import type { EventStore, RecordedEvent } from '../../eventstore/types.ts'
import { soleOwnerships, tokensOf } from '../../projections/identity/queries.ts'
import type { SqlClient } from '../../sql/client.ts'
import type { GrantData } from '../../domain/rbac/events.ts'
import type { Catalogue } from '../../domain/rbac/permissions.ts'
import { recordSignIn, recordSignInFailure } from '../audit/access.ts'
import type { PolicySnapshots } from '../rbac/policies.ts'
import { execute, written, type CommandServices, type Written } from '../commands.ts'
import type { IdentityDirectory } from './directory.ts'
import { hashPassword, idFor, issueToken, verifyPassword } from './secrets.ts'

export interface IdentityServices extends CommandServices {
  readonly sql: SqlClient
  readonly directory: IdentityDirectory
  /** Lifetime of a session token from password login. */
  readonly sessionTtlMs: number
  /** Resolves once the identity read model has caught up with every event committed so far, visible to readers or not yet. */
  waitForReadModels(): Promise<void>
  /** Each organization's compiled policy (built-in and custom roles). */
  readonly policies: PolicySnapshots
  /** The permission catalogue (Ledgerline's actions and the host's): what roles may grant, and what the built-in roles hold. */
  readonly catalogue: Catalogue
}

/** The metadata of the `step`-th command a use case issues: its own id, derived, so a retry repeats it exactly. */
function step (metadata: CommandMetadata, name: string): CommandMetadata {
  return { ...metadata, commandId: uuidV5(`${metadata.commandId}/${name}`) }
}

export interface RegisterInput {
  readonly email: string
  readonly displayName: string
  readonly password?: string
}

/** Reserves the e-mail address (one stream per address, `no_stream`), then creates the user. */
export async function registerUser (
  services: IdentityServices, metadata: CommandMetadata, input: RegisterInput
): Promise<Written & { userId: string }> {
  const email = normalizeEmail(input.email)
  const passwordHash = input.password === undefined ? undefined : await hashPassword(input.password)
  const userId = await reserveEmail(services, metadata, email)
  const result = await execute(services, userDecider, userStreamId(userId),
    { type: 'RegisterUser', data: { userId, email, displayName: input.displayName,
      ...(passwordHash === undefined ? {} : { passwordHash }) } }, step(metadata, 'user'))
  return { userId, ...written(result.position) }
}

/**
 * Reserves the address for a new user id. A reservation whose user was never
 * created (the process stopped between the two appends) is completed by the
 * next registration instead of blocking the address for ever.
 */
async function reserveEmail (services: IdentityServices, metadata: CommandMetadata, email: string): Promise<string> {
  const userId = idFor(metadata.commandId, 'usr')
  try {
    await execute(services, emailDecider, emailStreamId(email), { type: 'ReserveEmail', data: { email, userId } }, step(metadata, 'email'))
    return userId
  } catch (error) {
    if (!(error instanceof EmailTaken)) throw error
    const holder = await userIdByEmail(services.store, email)
    if (holder === undefined || await services.store.streamVersion(userStreamId(holder)) > 0n) throw error
    return holder
  }
}

/** The user id an address is reserved for, from its reservation stream. */
export async function userIdByEmail (store: EventStore, email: string): Promise<string | undefined> {
  const events = await store.readStream(emailStreamId(email))
  return (events[0]?.data as { userId?: string } | undefined)?.userId
}

export async function changeUser (
  services: IdentityServices, metadata: CommandMetadata, userId: string, command: UserCommand
): Promise<Written> {
  const { position } = await execute(services, userDecider, userStreamId(userId), command, metadata, { mustExist: true })
  return written(position)
}

/** Disables a user unless they are the only owner of an organization. */
export async function disableUser (
  services: IdentityServices, metadata: CommandMetadata, userId: string, reason?: string
): Promise<Written> {
  const lastOwnerOf = await soleOwnerships(services.sql, userId)
  return changeUser(services, metadata, userId, { type: 'DisableUser', data: { lastOwnerOf, ...(reason === undefined ? {} : { reason }) } })
}

export interface CreatedToken extends Written {
  /** Shown once: only its SHA-256 is kept. */
  readonly token: string
  readonly tokenId: string
  readonly prefix: string
  readonly expiresAt: string | null
}

export async function createToken (
  services: IdentityServices, metadata: CommandMetadata, userId: string, input: { name: string, kind: 'api' | 'session', expiresAt?: Date }
): Promise<CreatedToken> {
  const issued = issueToken()
  const expiresAt = input.expiresAt?.toISOString()
  const data = { tokenId: issued.tokenId, userId, kind: input.kind, name: input.name, prefix: issued.prefix, hash: issued.hash,
    ...(expiresAt === undefined ? {} : { expiresAt }) }
  const { position } = await execute(services, tokenDecider, tokenStreamId(issued.tokenId), { type: 'CreateToken', data }, metadata)
  return { token: issued.token, tokenId: issued.tokenId, prefix: issued.prefix, expiresAt: expiresAt ?? null, ...written(position) }
}

/** Revokes one of `userId`'s tokens; someone else's token is not found. */
export async function revokeToken (
  services: IdentityServices, metadata: CommandMetadata, userId: string, tokenId: string, reason?: string
): Promise<Written> {
  const state = await aggregate(services.store, tokenDecider, tokenStreamId(tokenId))
  if (state.status === 'none' || state.token.userId !== userId) throw new TokenNotFound()
  const { position } = await execute(services, tokenDecider, tokenStreamId(tokenId),
    { type: 'RevokeToken', data: reason === undefined ? {} : { reason } }, metadata)
  return written(position)
}

/** The user's current password hash (the last one set), or undefined; the folded user state keeps only `hasPassword`. */
function storedPasswordHash (events: readonly RecordedEvent[]): string | undefined {
  return (events.findLast((event) =>
    event.type === 'identity.user.password_set')?.data as { passwordHash: string } | undefined)?.passwordHash
}

/**
 * Password login: a session token with an expiry. Unknown address, wrong
 * password and disabled user look alike to the caller; the audit log, which
 * only staff read, says which it was. Both outcomes are recorded after the
 * scrypt work, and every failure costs the same one append; a failure whose
 * record cannot be written is still the same 401 (and an error in the log).
 */
export async function login (
  services: IdentityServices, metadata: CommandMetadata, input: { email: string, password: string }
): Promise<CreatedToken & { userId: string }> {
  const email = normalizeEmail(input.email)
  const userId = await userIdByEmail(services.store, email)
  const events = userId === undefined ? [] : await services.store.readStream(userStreamId(userId))
  const ok = await verifyPassword(input.password, storedPasswordHash(events))
  const user = foldRecorded(userDecider, events)
  if (!ok || userId === undefined || user.status !== 'active') {
    const failure = { email, reason: ok && user.status === 'disabled' ? 'disabled' as const : 'invalid_credentials' as const,
      ...(userId === undefined ? {} : { userId }) }
    await recordSignInFailure(services, metadata, failure)
      .catch((error: unknown) => services.directory.logger.error({ err: error, traceId: metadata.traceId },
        'a failed sign-in could not be written to the audit log'))
    throw new InvalidCredentials()
  }
  const asUser: CommandMetadata = { ...metadata, actor: { type: 'user', id: userId } }
  const expiresAt = new Date(metadata.now.getTime() + services.sessionTtlMs)
  const token = await createToken(services, asUser, userId, { name: 'password login', kind: 'session', expiresAt })
  const position = await recordSignIn(services, asUser, { userId, tokenId: token.tokenId })
  return { ...token, ...written(position), userId }
}

/**
 * Sets a new password. The current one is required when there is one; every
 * other session of the user is revoked (API tokens stay: they are not tied to
 * the password).
 */
export async function changePassword (
  services: IdentityServices, metadata: CommandMetadata, userId: string,
  input: { currentPassword?: string, newPassword: string, keepTokenId?: string }
): Promise<Written & { sessionsRevoked: number }> {
  const events = await services.store.readStream(userStreamId(userId))
  const stored = storedPasswordHash(events)
  if (stored !== undefined && !await verifyPassword(input.currentPassword ?? '',
    stored)) throw new InvalidCredentials('the current password is wrong')
  // Sessions first: a change that stops half-way leaves the old password working and can simply be retried.
  await services.waitForReadModels()
  const sessions = (await tokensOf(services.sql, userId, 10_000)).filter((token) => token.kind === 'session' && token.revokedAt === null &&
    token.tokenId !== input.keepTokenId)
  for (const session of sessions) await revokeToken(services, step(metadata, `revoke/${session.tokenId}`), userId, session.tokenId,
    'password changed')
  const passwordHash = await hashPassword(input.newPassword)
  const result = await changeUser(services, step(metadata, 'password'), userId, { type: 'SetPassword', data: { passwordHash } })
  return { ...result, sessionsRevoked: sessions.length }
}

export async function createOrganization (
  services: IdentityServices, metadata: CommandMetadata, ownerId: string, input: { name: string, plan?: Plan }
): Promise<Written & { orgId: string }> {
  const orgId = idFor(metadata.commandId, 'org')
  const { position } = await execute(services, organizationDeciderFor(services.catalogue), orgStreamId(orgId),
    { type: 'CreateOrganization', data: { orgId, name: input.name, ownerId, ...(input.plan === undefined ? {} : { plan: input.plan }) } },
    { ...metadata, orgId })
  return { orgId, ...written(position) }
}

export async function changeOrganization (
  services: IdentityServices, metadata: CommandMetadata, orgId: string, command: OrgCommand
): Promise<Written> {
  const decider = organizationDeciderFor(services.catalogue)
  const { position } = await execute(services, decider, orgStreamId(orgId), command, { ...metadata, orgId }, { mustExist: true })
  return written(position)
}

/**
 * An organization's state as its stream is now, for reads that must be current: the commands' cached state
 * caught up with what was appended since, not a fold of the whole stream per request. Shared: never change it.
 */
export async function organizationState (services: IdentityServices, orgId: string): Promise<OrgState> {
  return (await readState(services.store, organizationDeciderFor(services.catalogue), orgStreamId(orgId), services.states)).state
}

/** Rename and/or settings in one request; each is its own command, with its own derived id. */
export async function updateOrganization (
  services: IdentityServices, metadata: CommandMetadata, orgId: string,
  input: { name?: string, settings?: Record<string, string | number | boolean | null> }
): Promise<Written> {
  let result: Written = { position: null }
  if (input.name !== undefined) {
    result = await changeOrganization(services, step(metadata, 'rename'), orgId, { type: 'RenameOrganization', data: { name: input.name } })
  }
  if (input.settings !== undefined) {
    const changed = await changeOrganization(services, step(metadata, 'settings'), orgId,
      { type: 'ChangeSettings', data: { settings: input.settings } })
    if (changed.position !== null) result = changed
  }
  return result
}

/** Adds an existing, active user (by id or e-mail address) to an organization. */
export async function addMember (
  services: IdentityServices, metadata: CommandMetadata, orgId: string, input: { userId?: string, email?: string, roles: BuiltInRole[] }
): Promise<Written & { userId: string }> {
  const userId = input.userId ?? (input.email === undefined ? undefined : await userIdByEmail(services.store, input.email))
  if (userId === undefined) throw new UserNotFound()
  const state = await aggregate(services.store, userDecider, userStreamId(userId))
  if (state.status === 'none') throw new UserNotFound()
  if (state.status === 'disabled') throw new UserDisabled()
  const result = await changeOrganization(services, metadata, orgId, { type: 'AddMember', data: { userId, roles: input.roles } })
  return { userId, ...result }
}

const BootstrapInput = z.object({
  email: z.email('must be an e-mail address').max(254),
  orgName: z.string().trim().min(1, 'must not be empty').max(200),
  displayName: z.string().trim().min(1).max(200).optional(),
  password: z.string().min(10).max(256).optional(),
  platformAdmin: z.boolean().optional()
})

export interface Bootstrapped {
  readonly token: string
  readonly orgId: string
  readonly userId: string
}

/** First owner: a user, an organization they own, and an API token for them. */
export async function bootstrap (
  services: IdentityServices, metadata: CommandMetadata, raw: z.input<typeof BootstrapInput>
): Promise<Bootstrapped> {
  // Checked whole before the first append: a bad organization name must not leave a user behind.
  const parsed = BootstrapInput.safeParse(raw)
  if (!parsed.success) throw new InvalidInput(parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })))
  const input = parsed.data
  const { userId } = await registerUser(services, metadata, {
    email: input.email,
    displayName: input.displayName ?? input.email.split('@')[0]!,
    ...(input.password === undefined ? {} : { password: input.password })
  })
  const asUser = { ...metadata, actor: { type: 'user' as const, id: userId } }
  if (input.platformAdmin === true) {
    await changeUser(services, step(asUser, 'staff'), userId, { type: 'SetStaffFlags',
      data: { platformAdmin: true, platformSupport: false } })
  }
  const { orgId } = await createOrganization(services, step(asUser, 'org'), userId, { name: input.orgName })
  const { token } = await createToken(services, step(asUser, 'token'), userId, { name: 'bootstrap', kind: 'api' })
  return { token, orgId, userId }
}

export interface CustomRoleView { roleId: string, name: string, description: string, grants: readonly GrantData[], holders: string[] }

/** Views already built, per state (states are never changed, so a view holds as long as its state is current). */
const roleViews = new WeakMap<OrgState, CustomRoleView[]>()

/** An organization's custom roles with their holders, by name, as its stream is now. Shared: never change it. */
export async function customRoles (services: IdentityServices, orgId: string): Promise<readonly CustomRoleView[]> {
  const state = await organizationState(services, orgId)
  if (state.status !== 'active') return []
  let view = roleViews.get(state)
  if (view === undefined) roleViews.set(state, view = customRolesOf(state))
  return view
}

/** One pass over the members, not one per role: an organization may have thousands of both. */
function customRolesOf (state: Extract<OrgState, { status: 'active' }>): CustomRoleView[] {
  const held = new Map<string, string[]>(Object.keys(state.roles).map((roleId) => [roleId, []]))
  for (const [userId, roles] of Object.entries(state.members)) for (const roleId of roles) held.get(roleId)?.push(userId)
  return Object.entries(state.roles)
    .map(([roleId, role]) => ({ roleId, ...role, holders: held.get(roleId)!.sort() }))
    .sort((a, b) => a.name.localeCompare(b.name) || a.roleId.localeCompare(b.roleId))
}

/** Creates a custom role; its id derives from the command id. */
export async function createRole (
  services: IdentityServices, metadata: CommandMetadata, orgId: string, input: { name: string, description?: string, grants: GrantData[] }
): Promise<Written & { roleId: string }> {
  const roleId = `role_${idFor(metadata.commandId, 'r').slice(2)}`
  const result = await changeOrganization(services, metadata, orgId, { type: 'CreateRole',
    data: { roleId, name: input.name, grants: input.grants,
      ...(input.description === undefined ? {} : { description: input.description }) } })
  return { roleId, ...result }
}

/** Rename and/or describe a custom role; each is its own command. */
export async function updateRole (
  services: IdentityServices, metadata: CommandMetadata, orgId: string, roleId: string, input: { name?: string, description?: string }
): Promise<Written> {
  let result: Written = { position: null }
  if (input.name !== undefined) result = await changeOrganization(services, step(metadata, 'rename'), orgId,
    { type: 'RenameRole', data: { roleId, name: input.name } })
  if (input.description !== undefined) {
    const described = await changeOrganization(services, step(metadata, 'describe'), orgId,
      { type: 'DescribeRole', data: { roleId, description: input.description } })
    if (described.position !== null) result = described
  }
  return result
}

const isBuiltIn = (role: string): role is BuiltInRole => (BUILT_IN_ROLES as readonly string[]).includes(role)

/** Gives a member a role: a built-in one (owner, admin, member, viewer) or a custom role by id. */
export async function assignRole (
  services: IdentityServices, metadata: CommandMetadata, orgId: string, userId: string, role: string
): Promise<Written> {
  return changeOrganization(services, metadata, orgId, isBuiltIn(role)
    ? { type: 'AssignRole', data: { userId, role } }
    : { type: 'AssignCustomRole', data: { roleId: role, userId } })
}

/** Takes a role from a member (a member keeps at least one role). */
export async function unassignRole (
  services: IdentityServices, metadata: CommandMetadata, orgId: string, userId: string, role: string
): Promise<Written> {
  return changeOrganization(services, metadata, orgId, isBuiltIn(role)
    ? { type: 'UnassignRole', data: { userId, role } }
    : { type: 'UnassignCustomRole', data: { roleId: role, userId } })
}
