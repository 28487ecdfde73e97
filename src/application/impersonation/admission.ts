/**
 * Every request made with an impersonation token passes here before its
 * handler runs:
 *
 * 1. the impersonator's own right is checked again — still an active user,
 *    still support staff in an organization that lets support in, or still
 *    holding `impersonation:start` there — so taking it away ends the session
 *    at the next request (the session is revoked, by `system`, saying why);
 * 2. the target must still be an active, non-staff member of the session's
 *    organization, and not have become a critical account since an
 *    ordinary (not break-glass) session started;
 * 3. another organization's routes are not found (and the attempt is
 *    recorded): a session is for one organization, whatever else its
 *    target belongs to;
 * 4. what is blocked while impersonating (src/domain/impersonation/blocked.ts)
 *    is refused with 403 and recorded;
 * 5. everything else is recorded as an action of the session *before* it
 *    runs. The append goes through the session's decider, which refuses it
 *    once the session has ended: a request never acts on a session that was
 *    stopped or revoked a moment before, on any node.
 */
import { systemCommand, type CommandMetadata } from '../../domain/envelope.ts'
import { OrgNotFound } from '../../domain/identity/errors.ts'
import { blockedWhileImpersonating } from '../../domain/impersonation/blocked.ts'
import { ForbiddenWhileImpersonating } from '../../domain/impersonation/errors.ts'
import { sessionDecider, sessionEnded, sessionStreamId } from '../../domain/impersonation/session.ts'
import { lostStanding } from '../../domain/impersonation/standing.ts'
import type { ImpersonationContext, Principal } from '../identity/directory.ts'
import { execute } from '../commands.ts'
import { revokeImpersonation, type ImpersonationServices, type RevocationReason } from './commands.ts'

export interface ImpersonatedRequest {
  readonly method: string
  /** The route pattern, e.g. `/v1/orgs/:orgId/members`. */
  readonly route: string
  /** The catalogue action the route declares (`x-permission`), if any. */
  readonly action: string | undefined
  /** The organization in the path, if the route has one. */
  readonly orgId: string | undefined
  readonly ip: string
  readonly metadata: CommandMetadata
}

/** Why the session may not go on, judged with this request's facts (its address and time for the impersonator's grant). */
async function lostRight (
  services: ImpersonationServices, session: ImpersonationContext, targetUserId: string, ip: string, now: Date
): Promise<RevocationReason | undefined> {
  const impersonator = await services.directory.userOf(session.impersonatorId, now.getTime())
  const snapshot = await services.policies.snapshotOf(session.orgId)
  return lostStanding({
    targetUsable: session.target === 'active' && snapshot.rolesOf(targetUserId).length > 0,
    targetCritical: snapshot.isCritical(targetUserId),
    breakGlass: session.breakGlass,
    impersonatorActive: impersonator?.status === 'active',
    via: session.via,
    impersonatorSupport: impersonator?.platformSupport === true,
    supportAccess: snapshot.supportAccess,
    mayStart: () => {
      const roles = snapshot.rolesOf(session.impersonatorId)
      return roles.length > 0 && snapshot.policy.can({ id: session.impersonatorId, roles }, 'impersonation:start',
        { type: 'organization', id: session.orgId }, { ip, time: now.getTime() })
    }
  })
}

export async function admitImpersonated (
  services: ImpersonationServices, principal: Principal & { impersonation: ImpersonationContext }, request: ImpersonatedRequest
): Promise<void> {
  const { metadata } = request
  const session = principal.impersonation
  const lost = await lostRight(services, session, principal.userId, request.ip, metadata.now)
  if (lost !== undefined) {
    const recheck = { ...systemCommand('impersonation-recheck', metadata.now), traceId: metadata.traceId }
    await revokeImpersonation(services, recheck, session.sessionId, 'system', { code: lost })
    throw sessionEnded({ reason: 'revoked', code: lost })
  }
  // Another organization is out of the session's reach: recorded as refused, answered as not found.
  const elsewhere = request.orgId !== undefined && request.orgId !== session.orgId
  const blocked = elsewhere ? 'another organization' : blockedWhileImpersonating(request.method, request.route, request.action)
  await execute(services, sessionDecider, sessionStreamId(session.sessionId), {
    type: 'RecordAction',
    data: {
      method: request.method, route: request.route.slice(0, 300), ...(request.action === undefined ? {} : { action: request.action }),
      outcome: blocked === undefined ? 'allowed' : 'blocked'
    }
  }, { ...metadata, orgId: session.orgId })
  if (elsewhere) throw new OrgNotFound()
  if (blocked !== undefined) {
    const details = { ...(request.action === undefined ? {} : { action: request.action }), route: `${request.method} ${request.route}` }
    throw new ForbiddenWhileImpersonating(`${blocked} is not allowed while impersonating`, details)
  }
}
