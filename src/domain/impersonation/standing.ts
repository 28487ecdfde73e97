/**
 * Whether an open session may go on: the one rule that both the check before
 * each impersonated request (src/application/impersonation/admission.ts) and
 * the re-check reactor (recheck.ts) apply, each with the facts it can know.
 * The first reason that holds ends the session.
 */
import type { REVOCATION_REASONS } from './events.ts'

export interface Standing {
  /** The target is an active, non-staff member of the session's organization. */
  readonly targetUsable: boolean
  /** Impersonating the target would be break-glass now (src/domain/impersonation/critical.ts). */
  readonly targetCritical: boolean
  /** The session was break-glass from the start. */
  readonly breakGlass: boolean
  readonly impersonatorActive: boolean
  readonly via: string
  /** The impersonator is platform support staff (via support). */
  readonly impersonatorSupport: boolean
  /** The organization lets support in (via support). */
  readonly supportAccess: boolean
  /** The impersonator may still start impersonations there (via member); asked last, as it may cost a policy check. */
  readonly mayStart: () => boolean
}

export function lostStanding (s: Standing): typeof REVOCATION_REASONS[number] | undefined {
  if (!s.targetUsable) return 'target_unavailable'
  // An ordinary session whose target has since become an owner or an administrator would be break-glass without its guards.
  if (!s.breakGlass && s.targetCritical) return 'target_became_critical'
  if (!s.impersonatorActive) return 'impersonator_lost_permission'
  if (s.via === 'support') {
    if (!s.impersonatorSupport) return 'impersonator_lost_permission'
    return s.supportAccess ? undefined : 'support_access_disabled'
  }
  return s.mayStart() ? undefined : 'impersonator_lost_permission'
}
