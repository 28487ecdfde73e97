import { domainError } from '../errors.ts'

export class OrgNotFound extends domainError('org.not_found', 404, 'organization not found') {}
export class OrgAlreadyExists extends domainError('org.already_exists', 409, 'organization already exists') {}
export class MemberAlreadyExists extends domainError('org.member_exists', 409, 'already a member') {}
export class MemberNotFound extends domainError('org.member_not_found', 404, 'not a member of this organization') {}
export class LastOwner extends domainError('org.last_owner', 409, 'an organization keeps at least one owner') {}
export class MemberNeedsRole extends domainError('org.member_needs_role', 409,
  'a member keeps at least one role; remove the member instead') {}
export class UserNotFound extends domainError('identity.user_not_found', 404, 'user not found') {}
export class UserAlreadyExists extends domainError('identity.user_exists', 409, 'user already exists') {}
export class UserDisabled extends domainError('identity.user_disabled', 409, 'the user is disabled') {}
export class EmailTaken extends domainError('identity.email_taken', 409, 'that e-mail address is already registered') {}
export class TokenNotFound extends domainError('identity.token_not_found', 404, 'token not found') {}
export class TokenAlreadyExists extends domainError('identity.token_exists', 409, 'token already exists') {}
export class InvalidCredentials extends domainError('auth.invalid_credentials', 401, 'e-mail or password is wrong') {}
export class Unauthenticated extends domainError('auth.unauthenticated', 401, 'a valid bearer token is required') {}
export class Forbidden extends domainError('auth.forbidden', 403, 'your role in this organization does not allow this') {}
export class TokenOwnedElsewhere extends domainError('identity.token_not_found', 404, 'token not found') {}
export class InvitationNotFound extends domainError('invitation.not_found', 404, 'invitation not found') {}
export class InvitationExpired extends domainError('invitation.expired', 410, 'the invitation has expired: ask for a new one') {}
export class InvitationRevoked extends domainError('invitation.revoked', 410, 'the invitation was withdrawn') {}
export class InvitationAlreadyAccepted extends domainError('invitation.already_accepted', 409,
  'the invitation has already been accepted') {}
export class InvitationWrongAddress extends domainError('invitation.wrong_address', 403,
  'the invitation was sent to another e-mail address: sign in with that address') {}
export class MemberAddNeedsInvitation extends domainError('org.add_requires_invitation', 400,
  'members join by accepting an invitation: send { email, roles } (here or to POST /v1/orgs/{orgId}/invitations); adding by user id is ' +
    'no longer possible') {}
export class InvitationAlreadyExists extends domainError('invitation.exists', 409, 'an invitation with this id exists') {}
export class BillingAlreadyLinked extends domainError('billing.already_linked', 409,
  'the organization is linked to another Stripe customer; its subscription lives there') {}
