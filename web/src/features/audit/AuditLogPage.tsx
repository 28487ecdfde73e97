/**
 * The audit log of the organization in the address, newest first, a page at
 * a time: filters kept in the address (a reload or a shared link shows the
 * same search), each row's details, and the export of every matching row.
 * Its other sections, each at an address of its own (…/audit/<section>):
 * verifying the chain and its signed digests, the retention, and the
 * assistant's usage.
 */
import { useState } from 'react'
import { NavLink, useParams, useSearchParams } from 'react-router'
import { ApiProblem } from '../../lib/api.ts'
import { Empty, ErrorText, Loading } from '../../lib/components.tsx'
import { useCursorPages } from '../../lib/pages.ts'
import { Pager } from '../../lib/Pager.tsx'
import { useSession } from '../auth/api.ts'
import { AiUsage } from './AiUsage.tsx'
import { AuditDetails } from './AuditDetails.tsx'
import { AuditDigests } from './AuditDigests.tsx'
import { AuditFilters } from './AuditFilters.tsx'
import { AuditRetention } from './AuditRetention.tsx'
import { AuditVerify } from './AuditVerify.tsx'
import { DEFAULT_PAGE_SIZE, exportHref, filtersOf, LABELS, useAuditEvents, type AuditEvent, type Filter, type Filters } from './api.ts'

/** The page's sections: the address under …/audit and the link's name. */
const SECTIONS = [['', 'Rows'], ['verify', 'Verify'], ['retention', 'Retention'], ['ai-usage', 'AI usage']] as const

export function AuditLogPage () {
  const { orgId = '', section = '' } = useParams()
  const session = useSession()
  const org = session.data?.memberships.find((membership) => membership.orgId === orgId)
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log{org === undefined ? '' : ` of ${org.name}`}</h1>
      <p className="muted">Every change, sign-in, impersonation and export in this organization, newest first.</p>
      <nav className="sections" aria-label="Audit sections">
        {SECTIONS.map(([path, name]) => (
          <NavLink key={path} to={`/orgs/${encodeURIComponent(orgId)}/audit${path === '' ? '' : `/${path}`}`} end>{name}</NavLink>
        ))}
      </nav>
      {section === '' && <AuditSearch orgId={orgId} />}
      {section === 'verify' && <><AuditVerify orgId={orgId} /><AuditDigests orgId={orgId} /></>}
      {section === 'retention' && <AuditRetention orgId={orgId} />}
      {section === 'ai-usage' && <AiUsage orgId={orgId} />}
      {!SECTIONS.some(([path]) => path === section) && <p className="error">This page has no section “{section}”.</p>}
    </section>
  )
}

function AuditSearch ({ orgId }: { orgId: string }) {
  const [params, setParams] = useSearchParams()
  const { filters, limit } = filtersOf(params)
  const search = params.toString()
  const apply = (next: Filters, size: number) =>
    setParams(new URLSearchParams({ ...next, ...(size === DEFAULT_PAGE_SIZE ? {} : { limit: String(size) }) }))
  return (
    <>
      {/* Keyed by the address: another search (or a back to an earlier one) starts again from its own first page. */}
      <AuditFilters key={`filters-${search}`} filters={filters} limit={limit} apply={apply} />
      <AuditRows key={`rows-${orgId}-${search}`} orgId={orgId} filters={filters} limit={limit} />
    </>
  )
}

function AuditRows ({ orgId, filters, limit }: { orgId: string, filters: Filters, limit: number }) {
  const pages = useCursorPages()
  const events = useAuditEvents(orgId, filters, limit, pages.cursor)
  const [open, setOpen] = useState<AuditEvent | undefined>()
  const filtered = Object.keys(filters).length > 0
  return (
    <div>
      <h2>Rows</h2>
      {events.isPending && <Loading what="the audit log" />}
      <ErrorText error={events.error} />
      <FilterErrors error={events.error} />
      {events.data?.items.length === 0 && <Empty>{filtered ? 'No rows match these filters.' : 'The log has no rows yet.'}</Empty>}
      {events.data !== undefined && events.data.items.length > 0 && (
        <>
          <p className="exports">
            Export every matching row, oldest first:{' '}
            <a className="button secondary" href={exportHref(orgId, filters, 'csv')} download>Export CSV</a>{' '}
            <a className="button secondary" href={exportHref(orgId, filters, 'ndjson')} download>Export NDJSON</a>
          </p>
          <div className="table-scroll">
            <table className="list labelled" aria-label="Audit log" aria-busy={events.isPlaceholderData}>
              <thead><tr><th scope="col">#</th><th scope="col">When</th><th scope="col">Action</th><th scope="col">Actor</th>
                <th scope="col">Target</th><th scope="col">Impersonator</th>
                <th scope="col"><span className="sr-only">Details</span></th></tr></thead>
              <tbody>{events.data.items.map((event) => <AuditRow key={event.id} event={event} show={() => setOpen(event)} />)}</tbody>
            </table>
          </div>
        </>
      )}
      <Pager label="Audit log" pages={pages} nextCursor={events.data?.nextCursor} />
      {open !== undefined && <AuditDetails event={open} close={() => setOpen(undefined)} />}
    </div>
  )
}

function AuditRow ({ event, show }: { event: AuditEvent, show: () => void }) {
  // The whole row opens the details for a pointer; the button is the way in for a keyboard and a screen reader.
  return (
    <tr className="clickable" onClick={show}>
      <td data-label="#">{event.seq}</td>
      <td data-label="When"><time dateTime={event.occurredAt}>{new Date(event.occurredAt).toLocaleString()}</time></td>
      <td data-label="Action"><code>{event.action}</code></td>
      <td data-label="Actor">{event.actorLabel ?? event.actorId}
        {event.actorLabel !== null && <span className="muted"> {event.actorId}</span>}</td>
      <td data-label="Target">{event.targetType === null ? '—' : `${event.targetType} ${event.targetId ?? ''}`}</td>
      <td data-label="Impersonator">{event.impersonatorId ?? ''}</td>
      <td>
        <button type="button" className="secondary" onClick={(click) => { click.stopPropagation(); show() }}>
          Details<span className="sr-only"> of row {event.seq}</span>
        </button>
      </td>
    </tr>
  )
}

/** Which filters the API refused and why (its `errors`, one per query parameter), by the labels of their fields. */
function FilterErrors ({ error }: { error: unknown }) {
  if (!(error instanceof ApiProblem) || error.problem.errors === undefined) return null
  return (
    <ul className="error">{error.problem.errors.map((entry, i) => {
      const name = (entry.path ?? '').replace(/^\//, '')
      return <li key={i}>{name in LABELS ? LABELS[name as Filter] : name}: {entry.message}</li>
    })}</ul>
  )
}
