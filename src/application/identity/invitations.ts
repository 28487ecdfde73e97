/**
 * Invitations: create (the token is answered once), list, revoke, accept,
 * and accept by registering. What HTTP routes and the CLI call.
 *
 * A token reads `llinv_<key>_<secret>` for invitation `inv_<key>`: the key
 * finds the invitation's organization in the read model, the 256-bit secret
 * proves possession; only SHA-256 of the whole token is stored (in the
 * invitation's event), and the organization's decider compares it in
 * constant time. The token travels in the create response only: never in an
 * event, an audit row, a webhook or a log line. Sending it (by e-mail, as a
 * link to the host's own page) is the host application's job.
 */
import { randomBytes } from 'node:crypto'
import { aggregate } from '../../domain/decider.ts'
import { uuidV5, type CommandMetadata } from '../../domain/envelope.ts'
import { domainError } from '../../domain/errors.ts'
import { normalizeEmail } from '../../domain/identity/email.ts'
import { EmailTaken, InvitationExpired, InvitationNotFound, UserNotFound } from '../../domain/identity/errors.ts'
import type { BuiltInRole } from '../../domain/identity/events.ts'
import { requireInviterStillMay, requirePending, type InvitationCommand } from '../../domain/identity/invitation.ts'
import { organizationDeciderFor, orgStreamId } from '../../domain/identity/organization.ts'
import { userDecider, userStreamId } from '../../domain/identity/user.ts'
import { invitationsPage, organizationOfInvitation, type InvitationCursor, type InvitationStatusFilter,
  type InvitationView } from '../../projections/identity/invitation-queries.ts'
import type { Runtime } from '../../runtime.ts'
import { execute, written, type Written } from '../commands.ts'
import { createToken, organizationState, registerUser, type CreatedToken, type IdentityServices } from './commands.ts'
import { hashToken, idFor } from './secrets.ts'

export interface InvitationServices extends IdentityServices {
  /** How long an invitation can be accepted (INVITATION_TTL_HOURS). */
  readonly invitationTtlMs: number
  /** Resolves once the invitations read model has caught up with every event committed so far (visible or not yet). */
  waitForInvitations(): Promise<void>
}

export function invitationServices (runtime: Runtime): InvitationServices {
  return {
    ...runtime.identity,
    invitationTtlMs: runtime.config.invitationTtlMs,
    waitForInvitations: async () => runtime.runner.waitFor(await runtime.store.committedHeadPosition(),
      runtime.config.consistencyTimeoutMs, ['invitations'])
  }
}

/** A retried create (same command id) whose first answer is gone: the token it showed then cannot be shown again. */
export class InvitationTokenShown extends domainError('invitation.token_shown', 409,
  'this request already created an invitation, and its token was shown then; revoke it and invite again') {}

const TOKEN_PATTERN = /^llinv_([a-z2-7]{16})_([A-Za-z0-9_-]{43})$/

/** The invitation id a well-formed token names, or undefined. */
export function inviteIdOf (token: string): string | undefined {
  const key = TOKEN_PATTERN.exec(token)?.[1]
  return key === undefined ? undefined : `inv_${key}`
}

const step = (metadata: CommandMetadata, name: string): CommandMetadata =>
  ({ ...metadata, commandId: uuidV5(`${metadata.commandId}/${name}`) })

export interface CreatedInvitation extends Written {
  readonly inviteId: string
  readonly email: string
  readonly roles: BuiltInRole[]
  readonly status: 'pending'
  readonly expiresAt: string
  /** Shown once: only its SHA-256 is kept. */
  readonly token: string
}

/**
 * Invites an address. The answer is the same whether the address belongs to
 * an account or not: nothing is looked up.
 */
export async function createInvitation (
  services: InvitationServices, metadata: CommandMetadata, orgId: string, input: { email: string, roles: BuiltInRole[] }
): Promise<CreatedInvitation> {
  const inviteId = idFor(metadata.commandId, 'inv')
  const token = `llinv_${inviteId.slice('inv_'.length)}_${randomBytes(32).toString('base64url')}`
  const tokenHash = hashToken(token)
  const expiresAt = new Date(metadata.now.getTime() + services.invitationTtlMs).toISOString()
  const email = normalizeEmail(input.email)
  const { state, position } = await execute(services, organizationDeciderFor(services.catalogue), orgStreamId(orgId),
    { type: 'InviteMember', data: { inviteId, email, roles: input.roles, tokenHash, expiresAt } }, { ...metadata, orgId },
    { mustExist: true })
  const created = state.status === 'active' ? state.invitations[inviteId] : undefined
  if (created?.tokenHash !== tokenHash) throw new InvitationTokenShown()
  return { inviteId, email, roles: created.roles, status: 'pending', expiresAt, token, ...written(position) }
}

/** A page of an organization's invitations, newest first. */
export async function listInvitations (
  services: InvitationServices, orgId: string, options: { status?: InvitationStatusFilter, limit: number, after?: InvitationCursor,
    now: Date }
): Promise<InvitationView[]> {
  return invitationsPage(services.sql, orgId, options)
}

/** Runs an invitation command; an expired invitation's first use records its expiry before the refusal. */
async function invitationCommand (services: InvitationServices, metadata: CommandMetadata, orgId: string, command: InvitationCommand) {
  try {
    const decider = organizationDeciderFor(services.catalogue)
    return await execute(services, decider, orgStreamId(orgId), command, { ...metadata, orgId }, { mustExist: true })
  } catch (error) {
    if (error instanceof InvitationExpired) await recordExpiry(services, metadata, orgId, command.data.inviteId)
    throw error
  }
}

/** Expiry is the system's decision, noticed by a request: its trace, the system as actor. Best effort: the refusal stands either way. */
async function recordExpiry (services: InvitationServices, metadata: CommandMetadata, orgId: string, inviteId: string): Promise<void> {
  const { impersonatorId: _impersonatorId, ...rest } = step(metadata, 'expire')
  await execute(services, organizationDeciderFor(services.catalogue), orgStreamId(orgId), { type: 'ExpireInvitation', data: { inviteId } },
    { ...rest, orgId, actor: { type: 'system', id: 'invitations' } })
    .catch((error: unknown) => services.directory.logger.error({ err: error, orgId, inviteId, traceId: metadata.traceId },
      'the expiry of an invitation could not be recorded'))
}

export async function revokeInvitation (
  services: InvitationServices, metadata: CommandMetadata, orgId: string, inviteId: string, reason?: string
): Promise<Written> {
  const { position } = await invitationCommand(services, metadata, orgId,
    { type: 'RevokeInvitation', data: reason === undefined ? { inviteId } : { inviteId, reason } })
  return written(position)
}

/**
 * The organization of the invitation a token names. An invitation made an
 * instant ago may not be in the read model yet, nor even visible to readers
 * (PostgreSQL shows the log only below the cluster's oldest open
 * transaction): a token the read model does not know waits, once, for it to
 * reach every write committed so far, the invitation's included. Then its
 * absence is an answer (or the wait's time-out is, 503).
 */
async function locate (services: InvitationServices, token: string): Promise<{ inviteId: string, orgId: string }> {
  const inviteId = inviteIdOf(token)
  if (inviteId === undefined) throw new InvitationNotFound()
  let orgId = await organizationOfInvitation(services.sql, inviteId)
  if (orgId === undefined) {
    await services.waitForInvitations()
    orgId = await organizationOfInvitation(services.sql, inviteId)
  }
  if (orgId === undefined) throw new InvitationNotFound()
  return { inviteId, orgId }
}

export interface AcceptedInvitation extends Written {
  readonly orgId: string
  readonly userId: string
  readonly roles: string[]
}

/** The signed-in user accepts: their address must be the invited one. */
export async function acceptInvitation (
  services: InvitationServices, metadata: CommandMetadata, token: string, userId: string
): Promise<AcceptedInvitation> {
  const { inviteId, orgId } = await locate(services, token)
  const user = await aggregate(services.store, userDecider, userStreamId(userId))
  if (user.status === 'none') throw new UserNotFound()
  return accept(services, metadata, { orgId, inviteId, token, userId, email: user.email })
}

async function accept (
  services: InvitationServices, metadata: CommandMetadata, input: { orgId: string, inviteId: string, token: string, userId: string,
    email: string }
): Promise<AcceptedInvitation> {
  const { orgId, inviteId, userId } = input
  const command = { type: 'AcceptInvitation' as const, data: { inviteId, tokenHash: hashToken(input.token), userId,
    email: normalizeEmail(input.email) } }
  const { state, position } = await invitationCommand(services, metadata, orgId, command)
  const roles = state.status === 'active' ? state.members[userId] ?? [] : []
  return { orgId, userId, roles, ...written(position) }
}

/**
 * Someone without an account accepts: the user is created with the invited
 * address (which the token stands for), then accepts, and gets a session.
 * Everything that could refuse the acceptance is checked before the user is
 * created; what changes in between is refused by the acceptance itself, and
 * leaves a user who can sign in and is not a member.
 */
export async function registerAndAccept (
  services: InvitationServices, metadata: CommandMetadata, token: string, input: { displayName: string, password: string }
): Promise<AcceptedInvitation & { session: CreatedToken }> {
  const { inviteId, orgId } = await locate(services, token)
  const state = await organizationState(services, orgId)
  if (state.status !== 'active') throw new InvitationNotFound()
  let email: string
  try {
    const invitation = requirePending(state, inviteId, hashToken(token), metadata.now)
    requireInviterStillMay(services.catalogue, state, invitation, `invitation:${inviteId}`)
    email = invitation.email
  } catch (error) {
    if (error instanceof InvitationExpired) await recordExpiry(services, metadata, orgId, inviteId)
    throw error
  }
  const { userId } = await registerUser(services, step(metadata, 'user'),
    { email, displayName: input.displayName, password: input.password })
    .catch((error: unknown) => {
      throw error instanceof EmailTaken ? new EmailTaken('an account with the invited address exists: sign in with it, then accept') : error
    })
  const asUser: CommandMetadata = { ...metadata, actor: { type: 'user', id: userId } }
  const accepted = await accept(services, step(asUser, 'accept'), { orgId, inviteId, token, userId, email })
  const session = await createToken(services, step(asUser, 'session'), userId, {
    name: 'invitation', kind: 'session', expiresAt: new Date(metadata.now.getTime() + services.sessionTtlMs)
  })
  return { ...accepted, session }
}
