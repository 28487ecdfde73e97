/**
 * How long the audit log is kept: what is in force, what the plan allows, and
 * the organization's setting. Anyone who may read the log sees it; setting it
 * takes audit:configure (owners), which the API decides: a refusal shows its
 * detail next to the form. The form leaves the range to the API too, so its
 * own reason shows next to the field.
 */
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { fieldError } from '../../lib/api.ts'
import { ErrorText, Loading } from '../../lib/components.tsx'
import { retentionKey, setRetention, useRetention, type Retention } from './api.ts'

export function AuditRetention ({ orgId }: { orgId: string }) {
  const retention = useRetention(orgId)
  return (
    <section aria-labelledby="retention-title">
      <h2 id="retention-title">Retention</h2>
      <p className="muted">
        Rows older than the retention are purged every hour; each purge is itself a row of the log, and the chain stays verifiable.
      </p>
      {retention.isPending && <Loading what="the retention" />}
      <ErrorText error={retention.error} />
      {retention.data !== undefined && (
        <>
          <dl className="facts">
            <div><dt>Kept for</dt><dd>{retention.data.days} days</dd></div>
            <div><dt>Setting</dt><dd>{retention.data.setting === null ? 'the plan\'s default' : `${retention.data.setting} days`}</dd></div>
            <div><dt>Plan</dt><dd>{retention.data.plan}: {retention.data.default} days by default; {retention.data.min} to
              {' '}{retention.data.max} days allowed</dd></div>
          </dl>
          <RetentionForm orgId={orgId} retention={retention.data} />
        </>
      )}
    </section>
  )
}

function RetentionForm ({ orgId, retention }: { orgId: string, retention: Retention }) {
  const queries = useQueryClient()
  const [days, setDays] = useState(String(retention.setting ?? retention.default))
  const [blank, setBlank] = useState(false)
  const save = useMutation({
    mutationFn: (value: number | null) => setRetention(orgId, value),
    onSuccess: async (_, value) => {
      setDays(String(value ?? retention.default))
      await queries.invalidateQueries({ queryKey: retentionKey(orgId) })
    }
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    // An empty field would be sent as null, which means the plan's default: ask instead.
    setBlank(days.trim() === '')
    if (days.trim() !== '') save.mutate(Number(days))
  }
  const daysError = blank ? 'Enter a number of days, or go back to the plan\'s default.' : fieldError(save.error, 'days')
  return (
    <form className="inline-form retention" onSubmit={submit} noValidate aria-label="Set the retention">
      <h3>Change it</h3>
      <p className="muted">Owners set it (audit:configure), within what the plan allows.</p>
      <div className="field">
        <label htmlFor="retention-days">Keep rows for (days)</label>
        <input id="retention-days" type="number" inputMode="numeric" min={retention.min} max={retention.max} step={1} value={days}
          onChange={(event) => setDays(event.target.value)} aria-invalid={blank || save.error !== null}
          aria-describedby="retention-hint retention-error" />
        <small className="muted" id="retention-hint">{retention.min} to {retention.max} on the {retention.plan} plan</small>
        <ErrorText error={daysError ?? (blank ? null : save.error)} id="retention-error" />
      </div>
      <div className="actions">
        <button type="submit" disabled={save.isPending}>Save</button>
        {retention.setting !== null && (
          <button type="button" className="secondary" disabled={save.isPending} onClick={() => save.mutate(null)}>
            Back to the plan's default</button>
        )}
      </div>
      {save.isSuccess && !blank && <p role="status" className="saved">Saved.</p>}
    </form>
  )
}
