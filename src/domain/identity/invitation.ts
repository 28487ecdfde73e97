/**
 * Invitations, part of the organization aggregate (`org-<orgId>`): whoever
 * holds `member:invite` invites an e-mail address with built-in roles; the
 * person who holds the token (shown once, stored as SHA-256) and signs in
 * with that address accepts, and becomes a member in the same append.
 *
 * Life of an invitation: pending → accepted | revoked | expired. Expiry is
 * recorded lazily: the first accept or revoke after `expiresAt` records
 * `org.invitation.expired` (ExpireInvitation) and is refused; lists compute
 * it from `expiresAt`.
 *
 * At acceptance the inviter's right is checked again, against their roles
 * now: an inviter who left, lost the owner role (for an owner invitation) or
 * no longer holds what the roles allow makes the invitation unusable
 * (`rbac.escalation`) while that lasts. It stays pending, so it works again
 * if the right comes back; otherwise it is revoked or expires.
 */
import { timingSafeEqual } from 'node:crypto'
import type { Actor } from '../envelope.ts'
import { Escalation, requireBuiltInRolesHeld, requireMemberRolesChange, type RolesState } from '../rbac/roles.ts'
import type { Catalogue } from '../rbac/permissions.ts'
import { InvitationAlreadyAccepted, InvitationExpired, InvitationNotFound, InvitationRevoked, InvitationWrongAddress,
  MemberAlreadyExists } from './errors.ts'
import type { BuiltInRole, OrgEvent } from './events.ts'

export type InvitationStatus = 'pending' | 'accepted' | 'revoked' | 'expired'

export interface Invitation {
  readonly email: string
  readonly roles: BuiltInRole[]
  /** Null for an invitation written before tokens existed (`org.member.invited`): it can never be accepted. */
  readonly invitedBy: Actor | null
  readonly tokenHash: string | null
  readonly expiresAt: string | null
  readonly status: InvitationStatus
}

/** The part of the organization's state invitations read. */
export interface InvitationsState extends RolesState {
  readonly invitations: Readonly<Record<string, Invitation>>
}

export type InvitationCommand =
  | { type: 'InviteMember', data: { inviteId: string, email: string, roles: BuiltInRole[], tokenHash: string, expiresAt: string } }
  /** `tokenHash`: SHA-256 of the token presented; `email`: the accepting user's address. */
  | { type: 'AcceptInvitation', data: { inviteId: string, tokenHash: string, userId: string, email: string } }
  | { type: 'RevokeInvitation', data: { inviteId: string, reason?: string } }
  | { type: 'ExpireInvitation', data: { inviteId: string } }

type InvitationEvent = Extract<OrgEvent, { type: `org.invitation.${string}` }>

const own = <V>(record: Readonly<Record<string, V>>, key: string): V | undefined => (Object.hasOwn(record, key) ? record[key] : undefined)

const isExpired = (invitation: Invitation, now: Date): boolean =>
  invitation.status === 'pending' && invitation.expiresAt !== null && now.getTime() >= Date.parse(invitation.expiresAt)

/** The same bytes, compared in constant time; a stored hash that is missing or malformed matches nothing. */
function sameHash (stored: string | null, presented: string): boolean {
  if (stored === null || stored.length !== presented.length) return false
  return timingSafeEqual(Buffer.from(stored, 'utf8'), Buffer.from(presented, 'utf8'))
}

/**
 * The invitation `tokenHash` opens, if it is still pending. An unknown id and
 * a wrong token are the same 404; then revoked, accepted and expired, each
 * with its own answer (the token holder may know that much).
 */
export function requirePending (state: InvitationsState, inviteId: string, tokenHash: string, now: Date): Invitation {
  const invitation = own(state.invitations, inviteId)
  if (invitation === undefined || !sameHash(invitation.tokenHash, tokenHash)) throw new InvitationNotFound()
  if (invitation.status === 'revoked') throw new InvitationRevoked()
  if (invitation.status === 'accepted') throw new InvitationAlreadyAccepted()
  if (invitation.status === 'expired' || isExpired(invitation, now)) throw new InvitationExpired()
  return invitation
}

/**
 * The inviter must still be able to give the roles: a member, an owner for
 * the owner role, holding what the other roles allow, and under no deny the
 * newcomer would escape (the rules of src/domain/rbac/roles.ts). `newcomer`
 * is the accepting user, or a stand-in before their account exists.
 * Invitations by the CLI or the system are the application's to authorize,
 * as everywhere.
 */
export function requireInviterStillMay (catalogue: Catalogue, state: InvitationsState, invitation: Invitation, newcomer: string): void {
  const inviter = invitation.invitedBy
  if (inviter === null || inviter.type !== 'user') return
  const held = own(state.members, inviter.id)
  const refused = 'whoever sent this invitation may no longer give its roles; ask for a new invitation'
  if (held === undefined) throw new Escalation(refused, { roles: invitation.roles })
  if (invitation.roles.includes('owner') && !held.includes('owner')) throw new Escalation(refused, { roles: invitation.roles })
  requireBuiltInRolesHeld(catalogue, state, inviter, invitation.roles)
  requireMemberRolesChange(catalogue, state, inviter, newcomer, [...invitation.roles].sort())
}

function invitation (state: InvitationsState, inviteId: string): Invitation {
  const found = own(state.invitations, inviteId)
  if (found === undefined) throw new InvitationNotFound()
  return found
}

/**
 * Decides the invitation commands but InviteMember's checks (the owner rule
 * and no escalation, which the aggregate applies to every way of giving a
 * role); `invitationCreated` shapes its event.
 */
export function decideInvitation (
  catalogue: Catalogue, command: Exclude<InvitationCommand, { type: 'InviteMember' }>, state: InvitationsState, now: Date
): OrgEvent[] {
  const { inviteId } = command.data
  switch (command.type) {
    case 'AcceptInvitation': {
      const accepted = requirePending(state, inviteId, command.data.tokenHash, now)
      if (accepted.email !== command.data.email) throw new InvitationWrongAddress()
      if (own(state.members, command.data.userId) !== undefined) throw new MemberAlreadyExists(undefined, { userId: command.data.userId })
      requireInviterStillMay(catalogue, state, accepted, command.data.userId)
      return [
        { type: 'org.invitation.accepted', data: { inviteId, userId: command.data.userId } },
        { type: 'org.member.added', data: { userId: command.data.userId, roles: accepted.roles } }
      ]
    }
    case 'RevokeInvitation': {
      const revoked = invitation(state, inviteId)
      if (revoked.status === 'revoked') return [] // revoking twice changes nothing
      if (revoked.status === 'accepted') throw new InvitationAlreadyAccepted('the invitation was accepted: remove the member instead')
      if (revoked.status === 'expired' || isExpired(revoked,
        now)) throw new InvitationExpired('the invitation has expired: there is nothing to revoke')
      return [{ type: 'org.invitation.revoked', data: command.data.reason === undefined ? { inviteId } : { inviteId,
        reason: command.data.reason } }]
    }
    case 'ExpireInvitation':
      return isExpired(invitation(state, inviteId), now) ? [{ type: 'org.invitation.expired', data: { inviteId } }] : []
  }
}

export function invitationCreated (
  data: Extract<InvitationCommand, { type: 'InviteMember' }>['data'], invitedBy: Actor, roles: BuiltInRole[]
): InvitationEvent {
  return { type: 'org.invitation.created', data: { inviteId: data.inviteId, email: data.email, roles, invitedBy, tokenHash: data.tokenHash,
    expiresAt: data.expiresAt } }
}

/** The invitation after `event` (one of the `org.invitation.*` or `org.member.invited`); undefined: the event names none. */
export function evolveInvitation (
  current: Invitation | undefined, event: InvitationEvent | Extract<OrgEvent, { type: 'org.member.invited' }>
): Invitation | undefined {
  switch (event.type) {
    case 'org.member.invited':
      return { email: event.data.email, roles: event.data.roles, invitedBy: null, tokenHash: null, expiresAt: null, status: 'pending' }
    case 'org.invitation.created': {
      const { email, roles, invitedBy, tokenHash, expiresAt } = event.data
      return { email, roles, invitedBy, tokenHash, expiresAt, status: 'pending' }
    }
    case 'org.invitation.accepted': return current === undefined ? undefined : { ...current, status: 'accepted' }
    case 'org.invitation.revoked': return current === undefined ? undefined : { ...current, status: 'revoked' }
    case 'org.invitation.expired': return current === undefined ? undefined : { ...current, status: 'expired' }
  }
}
