import { domainError } from '../errors.ts'

export class SessionNotFound extends domainError('impersonation.session_not_found', 404, 'impersonation session not found') {}
export class SelfImpersonation extends domainError('impersonation.self', 403, 'you cannot impersonate yourself') {}
export class NestedImpersonation extends domainError('impersonation.nested', 403,
  'you cannot start an impersonation while impersonating') {}
export class ImpersonatorBusy extends domainError('impersonation.already_active', 409,
  'you are already impersonating someone: stop that session first') {}
export class TargetNotMember extends domainError('impersonation.target_not_member', 404, 'the user is not a member of this organization') {}
export class TargetDisabled extends domainError('impersonation.target_disabled', 409, 'the user is disabled') {}
export class TargetIsStaff extends domainError('impersonation.target_is_staff', 403, 'platform staff cannot be impersonated') {}
export class SupportAccessDisabled extends domainError('impersonation.support_access_disabled', 403,
  'this organization has turned support access off') {}
export class BreakGlassRequired extends domainError('impersonation.break_glass_required', 409,
  'impersonating an owner or another critical account is break-glass: give a ticket reference, ask a second approver, ' +
    'at most 15 minutes') {}
export class DurationExceedsCap extends domainError('impersonation.duration_exceeds_cap', 422,
  'an impersonation lasts at most 60 minutes, 15 for break-glass') {}
export class SelfApproval extends domainError('impersonation.self_approval', 403,
  'a break-glass request needs a second person: you cannot approve your own') {}
export class TargetApproval extends domainError('impersonation.target_approval', 403,
  'the account to be impersonated cannot approve it: a second person, neither the requester nor the target, ' +
    'approves a break-glass request') {}
export class NotPending extends domainError('impersonation.not_pending', 409, 'the session is not waiting for approval') {}
export class ApprovalRequired extends domainError('impersonation.approval_required', 409,
  'a second approver must approve this break-glass request first') {}
export class AlreadyStarted extends domainError('impersonation.already_started', 409,
  'the session has already started; a session is never extended or restarted') {}
export class SessionEnded extends domainError('impersonation.ended', 401, 'the impersonation session has ended') {}
export class NotImpersonator extends domainError('impersonation.not_yours', 403,
  'only the impersonator who requested the session can start or stop it') {}
export class ForbiddenWhileImpersonating extends domainError('impersonation.forbidden_action', 403, 'not allowed while impersonating') {}
export class NotImpersonating extends domainError('impersonation.not_impersonating', 409,
  'this request is not made with an impersonation token') {}
