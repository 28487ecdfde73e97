/**
 * One audit row in a modal dialog: what changed (before / after of each
 * field) and everything else the row records. The browser's own modal
 * dialog keeps the keyboard inside it, closes on Escape and gives the focus
 * back to the button that opened it.
 */
import { useEffect, useRef } from 'react'
import type { AuditEvent } from './api.ts'

type Change = { before?: unknown, after?: unknown }

/** The diff as field rows, when it has the projection's shape ({ field: { before?, after? } }); undefined otherwise. */
function changesOf (diff: unknown): Array<[string, Change]> | undefined {
  if (typeof diff !== 'object' || diff === null || Array.isArray(diff)) return undefined
  const entries = Object.entries(diff as Record<string, unknown>)
  const shaped = entries.every(([, change]) => typeof change === 'object' && change !== null &&
    Object.keys(change).every((key) => key === 'before' || key === 'after'))
  return shaped ? entries as Array<[string, Change]> : undefined
}

/** A value as read in a cell: text as it is, anything else as JSON; a side the diff leaves out as a dash. */
function shown (change: Change, side: keyof Change): string {
  if (!(side in change)) return '—'
  const value = change[side]
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2)
}

export function AuditDetails ({ event, close }: { event: AuditEvent, close: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null)
  useEffect(() => {
    // No close in a cleanup: React's development double effects would close it as soon as it opened.
    if (dialog.current !== null && !dialog.current.open) dialog.current.showModal()
  }, [])
  const changes = changesOf(event.diff)
  const facts: Array<[string, string | null]> = [
    ['When', new Date(event.occurredAt).toLocaleString()], ['Action', event.action],
    ['Actor', `${event.actorLabel === null ? '' : `${event.actorLabel}, `}${event.actorType} ${event.actorId}`],
    ['Impersonator', event.impersonatorId],
    ['Target', [event.targetType, event.targetId].filter((part) => part !== null).join(' ') || null],
    ['IP address', event.ip], ['User agent', event.userAgent], ['Trace id', event.traceId], ['Request id', event.requestId],
    ['Row', `#${event.seq} (${event.id})`], ['Log position', event.position], ['Hash', event.hash], ['Previous hash', event.prevHash]
  ]
  return (
    <dialog ref={dialog} className="details" aria-labelledby="audit-details-title" onClose={close}>
      <div className="details-head">
        <h2 id="audit-details-title">Row #{event.seq}: <code>{event.action}</code></h2>
        <button type="button" className="secondary" onClick={() => dialog.current?.close()}>Close</button>
      </div>
      <h3>Changes</h3>
      {changes === undefined && event.diff !== null && <pre>{JSON.stringify(event.diff, null, 2)}</pre>}
      {(event.diff === null || changes?.length === 0) && <p className="muted">This row records no change.</p>}
      {changes !== undefined && changes.length > 0 && (
        <table className="list diff" aria-label="Changes">
          <thead><tr><th scope="col">Field</th><th scope="col">Before</th><th scope="col">After</th></tr></thead>
          <tbody>{changes.map(([field, change]) => (
            <tr key={field}>
              <th scope="row"><code>{field}</code></th>
              <td data-label="Before"><pre>{shown(change, 'before')}</pre></td>
              <td data-label="After"><pre>{shown(change, 'after')}</pre></td>
            </tr>
          ))}</tbody>
        </table>
      )}
      <h3>Metadata</h3>
      <dl className="facts">
        {facts.map(([name, value]) => <div key={name}><dt>{name}</dt><dd>{value ?? '—'}</dd></div>)}
      </dl>
    </dialog>
  )
}
