/**
 * Ends sessions as soon as what allowed them is gone, without waiting for
 * their next request: a reactor on the log. When a role, a membership or a
 * user's status or staff flags change, the open sessions of that
 * organization (or of that person) are judged again:
 *
 * - the impersonator no longer a member holding any grant of
 *   `impersonation:start` (via member), or no longer support staff (via
 *   support), or disabled;
 * - the target no longer a member, disabled, made staff, or made critical
 *   during an ordinary session.
 *
 * Conditions of grants (an address, a time of day) belong to a request and
 * are judged by admission on each one; this reactor asks only whether any
 * grant could still allow it. It is a checkpointed reactor
 * (application/reactors/): one node at a time runs it, from where it last
 * stopped, so a change made while every node was down is judged at the next
 * start. A revocation's command id derives from the session and the event
 * that ended it, so a batch judged twice (a crash before its checkpoint)
 * writes it once.
 */
import type { Logger } from 'pino'
import { organizationState } from '../identity/commands.ts'
import { isCritical } from '../../domain/impersonation/critical.ts'
import { lostStanding } from '../../domain/impersonation/standing.ts'
import { actionsHeld } from '../../domain/rbac/roles.ts'
import type { RecordedEvent } from '../../eventstore/types.ts'
import { openSessions, type OpenSession } from '../../projections/impersonation/queries.ts'
import { outcomeCommand, type Reactor, type ReactorContext } from '../reactors/reactor.ts'
import { revokeImpersonation, sessionsCaughtUp, type ImpersonationServices, type RevocationReason } from './commands.ts'

const ORG_CHANGES = [
  'org.member.removed', 'org.member.role_assigned', 'org.member.role_unassigned',
  'rbac.role.assigned', 'rbac.role.unassigned', 'rbac.role.grants_set', 'rbac.role.deleted'
]
const USER_CHANGES = ['identity.user.disabled', 'identity.user.staff_flags_set']
export const RECHECK_EVENT_TYPES = [...ORG_CHANGES, ...USER_CHANGES]

/** Why the session can no longer go on, judged without a request: any grant of the impersonator's that could allow it counts. */
async function lost (services: ImpersonationServices, session: OpenSession): Promise<RevocationReason | undefined> {
  const org = await organizationState(services, session.orgId)
  if (org.status !== 'active') return 'target_unavailable'
  const [impersonator, target] = await Promise.all([
    services.directory.userOf(session.impersonatorId), services.directory.userOf(session.targetUserId)
  ])
  const member = (userId: string): boolean => Object.hasOwn(org.members, userId)
  return lostStanding({
    targetUsable: target?.status === 'active' && !target.platformAdmin && !target.platformSupport && member(session.targetUserId),
    targetCritical: isCritical(services.catalogue, org, session.targetUserId),
    breakGlass: session.breakGlass,
    impersonatorActive: impersonator?.status === 'active',
    via: session.via,
    impersonatorSupport: impersonator?.platformSupport === true,
    supportAccess: org.supportAccess,
    mayStart: () => {
      const roles = member(session.impersonatorId) ? org.members[session.impersonatorId]! : []
      return actionsHeld(services.catalogue, org, roles).has('impersonation:start')
    }
  })
}

/** The system actor its revocations are recorded as, and the prefix of their command ids. */
const ACTOR = 'impersonation-recheck'

export class ImpersonationRecheck implements Reactor {
  readonly name = 'impersonation_recheck'
  readonly eventTypes = RECHECK_EVENT_TYPES
  readonly actor = ACTOR

  constructor (private readonly services: ImpersonationServices, private readonly logger: Logger) {}

  async handle (events: readonly RecordedEvent[], context: ReactorContext): Promise<void> {
    await this.judge(events, context)
  }

  /**
   * Judges the open sessions a batch of events may concern, once each
   * (several events about one organization or person read its sessions
   * once), and revokes those that may not go on; answers their ids.
   */
  async judge (events: readonly RecordedEvent[], context?: Pick<ReactorContext, 'outcome'>): Promise<string[]> {
    if (events.length === 0) return []
    // The latest event about each organization or person is the cause its revocations name.
    const causes = new Map<string, RecordedEvent>()
    for (const event of events) causes.set(event.streamId, event)
    await sessionsCaughtUp(this.services)
    const judged = new Set<string>()
    const revoked: string[] = []
    for (const [streamId, cause] of causes) {
      const filter = streamId.startsWith('org-') ? { orgId: streamId.slice('org-'.length) } : { userId: streamId.slice('user-'.length) }
      for (const session of await openSessions(this.services.sql, filter)) {
        if (judged.has(session.sessionId)) continue
        judged.add(session.sessionId)
        const reason = await lost(this.services, session)
        if (reason === undefined) continue
        const metadata = context?.outcome(cause, session.sessionId) ?? outcomeCommand(ACTOR, cause, session.sessionId)
        const { position } = await revokeImpersonation(this.services, metadata, session.sessionId, 'system', { code: reason })
        if (position !== null) revoked.push(session.sessionId)
      }
    }
    if (revoked.length > 0) {
      const causes = [...new Set(events.map((e) => e.type))]
      this.logger.info({ sessions: revoked, causes }, 'impersonation sessions ended: what allowed them is gone')
    }
    return revoked
  }
}
