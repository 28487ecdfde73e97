/**
 * The organization's sessions, newest first, 10 a page: all of them, or only
 * the active, pending or ended ones; and revoking every open one at once.
 */
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import { Empty, ErrorText, Loading } from '../../lib/components.tsx'
import { useCursorPages } from '../../lib/pages.ts'
import { Pager } from '../../lib/Pager.tsx'
import { revokeAll, sessionsKey, STATUSES, useMemberDirectory, useSessions, type StatusFilter } from './api.ts'
import { SessionRow } from './SessionRow.tsx'

export function SessionsSection ({ orgId, me }: { orgId: string, me: string | undefined }) {
  const queries = useQueryClient()
  const [status, setStatus] = useState<StatusFilter>('all')
  // No polling: each read of the list is recorded in the audit log (a sensitive read), so a requester refreshes by hand.
  const refresh = () => queries.invalidateQueries({ queryKey: sessionsKey(orgId) })
  return (
    <div>
      <h2>Sessions</h2>
      <div className="imp-toolbar">
        <label htmlFor="imp-status">Show</label>
        <select id="imp-status" value={status} onChange={(e) => setStatus(e.target.value as StatusFilter)}>
          {STATUSES.map((name) => <option key={name} value={name}>{name === 'all' ? 'all sessions' : name}</option>)}
        </select>
        <button type="button" className="secondary" onClick={() => void refresh()}>Refresh</button>
        <RevokeAll orgId={orgId} />
      </div>
      {/* Keyed by the filter: another filter starts from its own first page. */}
      <SessionsTable key={`${orgId}-${status}`} orgId={orgId} status={status} me={me} />
    </div>
  )
}

function SessionsTable ({ orgId, status, me }: { orgId: string, status: StatusFilter, me: string | undefined }) {
  const pages = useCursorPages()
  const sessions = useSessions(orgId, status, pages.cursor)
  const members = useMemberDirectory(orgId).data?.items ?? []
  const nameOf = (id: string) => members.find((member) => member.userId === id)?.displayName ?? id
  return (
    <>
      {sessions.isPending && <Loading what="the sessions" />}
      <ErrorText error={sessions.error} />
      {sessions.data?.items.length === 0 && <Empty>{status === 'all' ? 'No impersonation yet.' : `No ${status} session.`}</Empty>}
      {sessions.data !== undefined && sessions.data.items.length > 0 && (
        <table className="list labelled" aria-label="Impersonation sessions" aria-busy={sessions.isPlaceholderData}>
          <thead><tr><th scope="col">Status</th><th scope="col">Member</th><th scope="col">Impersonator</th><th scope="col">Reason</th>
            <th scope="col">When</th><th scope="col">Requests</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>{sessions.data.items.map((session) =>
            <SessionRow key={session.sessionId} session={session} me={me} nameOf={nameOf} />)}</tbody>
        </table>
      )}
      <Pager label="Sessions" pages={pages} nextCursor={sessions.data?.nextCursor} />
    </>
  )
}

function RevokeAll ({ orgId }: { orgId: string }) {
  const queries = useQueryClient()
  const [asking, setAsking] = useState(false)
  const [reason, setReason] = useState('')
  const all = useMutation({
    mutationFn: () => revokeAll(orgId, reason),
    onSuccess: async () => {
      setAsking(false)
      await queries.invalidateQueries({ queryKey: sessionsKey(orgId) })
    }
  })
  const done = all.data === undefined ? null : <span role="status">Revoked {all.data.revoked.length} open session(s).</span>
  if (!asking) {
    return (
      <div className="imp-revoke-all">
        <button type="button" className="secondary" onClick={() => setAsking(true)}>Revoke all…</button>
        {done}<ErrorText error={all.error} />
      </div>
    )
  }
  return (
    <div className="imp-revoke-all imp-why">
      <input aria-label="Why (optional): revoke every open session" placeholder="Why (optional)" value={reason} maxLength={500}
        onChange={(e) => setReason(e.target.value)} />
      <button type="button" className="danger" onClick={() => all.mutate()} disabled={all.isPending}>Revoke every open session</button>
      <button type="button" className="secondary" onClick={() => setAsking(false)}>Cancel</button>
      <ErrorText error={all.error} />
    </div>
  )
}
