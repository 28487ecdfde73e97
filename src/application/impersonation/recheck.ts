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
 * grant could still allow it. Every node runs it; a revocation's command id
 * derives from the session and the event that ended it, so nodes racing to
 * write it write it once.
 */
import type { Logger } from 'pino'
import { systemCommand, uuidV5 } from '../../domain/envelope.ts'
import { organizationState } from '../identity/commands.ts'
import { isCritical } from '../../domain/impersonation/critical.ts'
import { lostStanding } from '../../domain/impersonation/standing.ts'
import { actionsHeld } from '../../domain/rbac/roles.ts'
import type { RecordedEvent } from '../../eventstore/types.ts'
import { openSessions, type OpenSession } from '../../projections/impersonation/queries.ts'
import { revokeImpersonation, sessionsCaughtUp, type ImpersonationServices, type RevocationReason } from './commands.ts'

const ORG_CHANGES = ['org.member.removed', 'org.member.role_assigned', 'org.member.role_unassigned', 'rbac.role.assigned', 'rbac.role.unassigned', 'rbac.role.grants_set', 'rbac.role.deleted']
const USER_CHANGES = ['identity.user.disabled', 'identity.user.staff_flags_set']
export const RECHECK_EVENT_TYPES = [...ORG_CHANGES, ...USER_CHANGES]

/** Why the session can no longer go on, judged without a request: any grant of the impersonator's that could allow it counts. */
async function lost (services: ImpersonationServices, session: OpenSession): Promise<RevocationReason | undefined> {
  const org = await organizationState(services, session.orgId)
  if (org.status !== 'active') return 'target_unavailable'
  const [impersonator, target] = await Promise.all([services.directory.userOf(session.impersonatorId), services.directory.userOf(session.targetUserId)])
  return lostStanding({
    targetUsable: target?.status === 'active' && !target.platformAdmin && !target.platformSupport && Object.hasOwn(org.members, session.targetUserId),
    targetCritical: isCritical(org, session.targetUserId),
    breakGlass: session.breakGlass,
    impersonatorActive: impersonator?.status === 'active',
    via: session.via,
    impersonatorSupport: impersonator?.platformSupport === true,
    supportAccess: org.supportAccess,
    mayStart: () => actionsHeld(org, Object.hasOwn(org.members, session.impersonatorId) ? org.members[session.impersonatorId]! : []).has('impersonation:start')
  })
}

export class ImpersonationRecheck {
  #abort: AbortController | undefined

  constructor (private readonly services: ImpersonationServices, private readonly logger: Logger, private readonly liveIntervalMs = 0) {}

  async start (): Promise<void> {
    const abort = new AbortController()
    this.#abort = abort
    const from = await this.services.store.headPosition()
    void this.#follow(from, abort.signal)
  }

  stop (): void {
    this.#abort?.abort()
  }

  async #follow (from: Awaited<ReturnType<ImpersonationServices['store']['headPosition']>>, signal: AbortSignal): Promise<void> {
    let position = from
    while (!signal.aborted) {
      try {
        for await (const batch of this.services.store.subscribe(position, { types: RECHECK_EVENT_TYPES, signal, liveIntervalMs: this.liveIntervalMs })) {
          await this.judge(batch.events)
          position = batch.position
        }
      } catch (error) {
        if (signal.aborted) return
        this.logger.warn({ err: error }, 'impersonation re-check failed; following again in 1 s')
        await new Promise((resolve) => setTimeout(resolve, 1000))
      }
    }
  }

  /**
   * Judges the open sessions a batch of events may concern, once each
   * (several events about one organization or person read its sessions
   * once), and revokes those that may not go on; answers their ids.
   */
  async judge (events: readonly RecordedEvent[]): Promise<string[]> {
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
        const metadata = { ...systemCommand('impersonation-recheck'), commandId: uuidV5(`impersonation-recheck/${session.sessionId}/${cause.id}`), causationId: cause.id }
        const { position } = await revokeImpersonation(this.services, metadata, session.sessionId, 'system', { code: reason })
        if (position !== null) revoked.push(session.sessionId)
      }
    }
    if (revoked.length > 0) this.logger.info({ sessions: revoked, causes: [...new Set(events.map((e) => e.type))] }, 'impersonation sessions ended: what allowed them is gone')
    return revoked
  }
}
