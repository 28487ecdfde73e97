/**
 * The filters of the audit log, edited as a draft and applied together: the
 * address changes once per search (one entry in the history, one logged
 * search), not at every keystroke.
 */
import { useState, type FormEvent } from 'react'
import { FILTERS, LABELS, PAGE_SIZES, type Filter, type Filters } from './api.ts'

const HINTS: Partial<Record<Filter, string>> = {
  action: 'an event type (org.member.added) or a prefix ending in .* (rbac.*)',
  targetType: 'user, role, invitation…'
}
const TIMES: ReadonlySet<Filter> = new Set(['from', 'to'])

const pad = (n: number) => String(n).padStart(2, '0')

/** An instant as a datetime-local input shows it (the user's time zone); '' for what is not one. */
export function toLocalInput (instant: string | undefined): string {
  const date = new Date(instant ?? '')
  if (Number.isNaN(date.getTime())) return ''
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`
}

export function AuditFilters ({ filters, limit, apply }: {
  filters: Filters, limit: number, apply: (filters: Filters, limit: number) => void
}) {
  const initial = (name: Filter) => (TIMES.has(name) ? toLocalInput(filters[name]) : filters[name] ?? '')
  const [draft, setDraft] = useState(() => Object.fromEntries(FILTERS.map((name) => [name, initial(name)])) as Record<Filter, string>)
  const [size, setSize] = useState(limit)
  const submit = (event: FormEvent) => {
    event.preventDefault()
    const next: Filters = {}
    for (const name of FILTERS) {
      const value = draft[name].trim()
      if (value === '') continue
      // A time left as the address gave it keeps its seconds; one the user picked is their local time, sent as UTC.
      if (TIMES.has(name)) next[name] = value === initial(name) ? filters[name]! : new Date(value).toISOString()
      else next[name] = value
    }
    apply(next, size)
  }
  return (
    <form className="inline-form filters" onSubmit={submit} aria-label="Filter the audit log">
      <h2>Filters</h2>
      {FILTERS.map((name) => (
        <div className="field" key={name}>
          <label htmlFor={`audit-${name}`}>{LABELS[name]}</label>
          <input id={`audit-${name}`} type={TIMES.has(name) ? 'datetime-local' : 'text'} value={draft[name]}
            spellCheck={false} autoComplete="off" aria-describedby={HINTS[name] === undefined ? undefined : `audit-${name}-hint`}
            onChange={(event) => setDraft((was) => ({ ...was, [name]: event.target.value }))} />
          {HINTS[name] !== undefined && <small className="muted" id={`audit-${name}-hint`}>{HINTS[name]}</small>}
        </div>
      ))}
      <div className="field">
        <label htmlFor="audit-limit">Rows per page</label>
        <select id="audit-limit" value={size} onChange={(event) => setSize(Number(event.target.value))}>
          {PAGE_SIZES.map((n) => <option key={n} value={n}>{n}</option>)}
        </select>
      </div>
      <div className="actions">
        <button type="submit">Apply filters</button>
        <button type="button" className="secondary" onClick={() => apply({}, size)}>Clear filters</button>
      </div>
    </form>
  )
}
