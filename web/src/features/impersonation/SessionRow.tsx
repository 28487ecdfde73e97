/**
 * One session: who acted as whom, why, when, how many requests (and how many
 * were blocked), and what can be done with it now. The buttons are offered to
 * whoever sees the list; the API decides (a requester approving their own
 * request is refused, and its words show in the row).
 */
import { useMutation, useQueryClient, type UseMutationResult } from '@tanstack/react-query'
import { useState } from 'react'
import { ErrorText } from '../../lib/components.tsx'
import { approveSession, denySession, revokeSession, sessionsKey, startApproved, stopSession, type SessionView } from './api.ts'
import { useEnterImpersonation } from './enter.ts'

const when = (iso: string | null) => (iso === null ? '' : new Date(iso).toLocaleString())

export function SessionRow ({ session, me, nameOf }: { session: SessionView, me: string | undefined, nameOf: (id: string) => string }) {
  const { orgId, sessionId } = session
  const queries = useQueryClient()
  const enter = useEnterImpersonation(orgId)
  const refresh = () => queries.invalidateQueries({ queryKey: sessionsKey(orgId) })
  const approve = useMutation({ mutationFn: () => approveSession(orgId, sessionId), onSuccess: refresh })
  const stop = useMutation({ mutationFn: () => stopSession(orgId, sessionId), onSuccess: refresh })
  const start = useMutation({ mutationFn: () => startApproved(orgId, sessionId), onSuccess: enter })
  const deny = useMutation({ mutationFn: (reason: string) => denySession(orgId, sessionId, reason), onSuccess: refresh })
  const revoke = useMutation({ mutationFn: (reason: string) => revokeSession(orgId, sessionId, reason), onSuccess: refresh })
  const mine = session.impersonatorId === me
  const target = nameOf(session.targetUserId)
  const open = session.status === 'pending' || session.status === 'approved' || session.status === 'active'
  return (
    <tr>
      <td data-label="Status"><span className={`imp-status imp-${session.status}`}>{session.status}</span>
        {session.breakGlass && <span className="chip">break-glass</span>}</td>
      <td data-label="Member">{target}</td>
      <td data-label="Impersonator">{nameOf(session.impersonatorId)}{mine ? ' (you)' : ''}
        {session.via === 'support' && <span className="muted"> (support)</span>}</td>
      <td data-label="Reason">{session.reason}{session.ticket !== null && <span className="muted"> · {session.ticket}</span>}</td>
      <td data-label="When">
        <time dateTime={session.requestedAt}>{when(session.requestedAt)}</time>
        {session.endedAt !== null
          ? <span className="muted"> · ended {when(session.endedAt)}{session.endReason === null ? '' : ` (${session.endReason})`}</span>
          : session.expiresAt !== null && <span className="muted"> · until {when(session.expiresAt)}</span>}
        {session.approvedBy !== null && <span className="muted"> · approved by {nameOf(session.approvedBy)}</span>}
      </td>
      <td data-label="Requests">{session.actions}{session.blockedActions > 0 && ` (${session.blockedActions} blocked)`}</td>
      <td className="imp-actions">
        {session.status === 'pending' && (
          <button type="button" onClick={() => approve.mutate()} disabled={approve.isPending}>
            Approve<span className="sr-only"> the request to act as {target}</span>
          </button>
        )}
        {session.status === 'pending' && <WithReason verb="Deny" target={target} mutation={deny} />}
        {session.status === 'approved' && mine && (
          <button type="button" onClick={() => start.mutate()} disabled={start.isPending}>
            Start<span className="sr-only"> acting as {target}</span>
          </button>
        )}
        {open && mine && session.status !== 'approved' && (
          <button type="button" className="secondary" onClick={() => stop.mutate()} disabled={stop.isPending}>
            {session.status === 'pending' ? 'Withdraw' : 'Stop'}<span className="sr-only"> acting as {target}</span>
          </button>
        )}
        {open && session.status !== 'pending' && <WithReason verb="Revoke" target={target} mutation={revoke} />}
        <ErrorText error={approve.error ?? start.error ?? stop.error} />
      </td>
    </tr>
  )
}

/** Deny or revoke in two steps, with the person's reason (optional, kept in the audit log). */
function WithReason ({ verb, target, mutation }: {
  verb: string, target: string, mutation: UseMutationResult<unknown, Error, string>
}) {
  const [asking, setAsking] = useState(false)
  const [reason, setReason] = useState('')
  if (!asking) {
    return (
      <button type="button" className="secondary" onClick={() => setAsking(true)}>
        {verb}<span className="sr-only"> the session of {target}</span>
      </button>
    )
  }
  return (
    <div className="imp-why">
      <input aria-label={`Why (optional): ${verb.toLowerCase()} the session of ${target}`} placeholder="Why (optional)" value={reason}
        maxLength={500} onChange={(e) => setReason(e.target.value)} />
      <button type="button" className="danger" onClick={() => mutation.mutate(reason)} disabled={mutation.isPending}>
        Confirm {verb.toLowerCase()}<span className="sr-only"> for {target}</span>
      </button>
      <button type="button" className="secondary" onClick={() => setAsking(false)}>Cancel</button>
      <ErrorText error={mutation.error} />
    </div>
  )
}
