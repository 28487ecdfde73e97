/** My security log: what happened to my account, newest first, a page at a time (GET /v1/me/security-log). */
import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { api } from '../../lib/api.ts'
import { Empty, ErrorText, Loading } from '../../lib/components.tsx'
import { useCursorPages } from '../../lib/pages.ts'
import { Pager } from '../../lib/Pager.tsx'

interface Entry {
  id: string, occurredAt: string, action: string, orgId: string | null, impersonatorId: string | null, ip: string | null,
  userAgent: string | null
}

const PAGE_SIZE = 20

export function SecurityLogPage () {
  const pages = useCursorPages()
  const log = useQuery({
    queryKey: ['me', 'security-log', pages.cursor ?? null],
    queryFn: () => api<{ items: Entry[], nextCursor: string | null }>('GET', `/v1/me/security-log?${new URLSearchParams({
      limit: String(PAGE_SIZE), ...(pages.cursor === undefined ? {} : { cursor: pages.cursor }) }).toString()}`),
    placeholderData: keepPreviousData
  })
  return (
    <section aria-labelledby="security-log-title">
      <h1 id="security-log-title">My security log</h1>
      <p className="muted">Sign-ins, failed sign-ins, new addresses, password changes and impersonations of you, newest first.</p>
      {log.isPending && <Loading what="your security log" />}
      <ErrorText error={log.error} />
      {log.data?.items.length === 0 && <Empty>Nothing yet.</Empty>}
      {log.data !== undefined && log.data.items.length > 0 && (
        <table className="list" aria-label="Security log">
          <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">From</th><th scope="col">Note</th></tr></thead>
          <tbody>{log.data.items.map((entry) => (
            <tr key={entry.id}>
              <td><time dateTime={entry.occurredAt}>{new Date(entry.occurredAt).toLocaleString()}</time></td>
              <td><code>{entry.action}</code></td>
              <td>{entry.ip ?? '—'}</td>
              <td>{entry.impersonatorId === null ? '' : `by ${entry.impersonatorId}, impersonating you`}</td>
            </tr>
          ))}</tbody>
        </table>
      )}
      <Pager label="Security log" pages={pages} nextCursor={log.data?.nextCursor} />
    </section>
  )
}
