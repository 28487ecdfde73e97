/**
 * Starts an impersonation: a member, a reason, a duration, and a ticket for a
 * critical account. The API validates (its words show next to the field they
 * are about); a started session puts the dashboard into it, a break-glass
 * request waits in the list below for a second approver.
 */
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent, type ReactNode } from 'react'
import { ApiProblem, fieldError } from '../../lib/api.ts'
import { ErrorText } from '../../lib/components.tsx'
import { sessionsKey, startImpersonation, useMemberDirectory, type StartInput } from './api.ts'
import { useEnterImpersonation } from './enter.ts'

/** Domain refusals that are about one field, though the API names none. */
const FIELD_OF_CODE: Record<string, keyof StartInput> = {
  'impersonation.self': 'targetUserId',
  'impersonation.target_not_member': 'targetUserId',
  'impersonation.target_disabled': 'targetUserId',
  'impersonation.target_is_staff': 'targetUserId',
  'impersonation.break_glass_required': 'ticket',
  'impersonation.duration_exceeds_cap': 'durationMinutes'
}

function errorOf (error: unknown, field: keyof StartInput): string | undefined {
  if (error instanceof ApiProblem && FIELD_OF_CODE[error.code] === field) return error.problem.detail
  return fieldError(error, field)
}

function inputOf (targetUserId: string, reason: string, ticket: string, duration: string): StartInput {
  return {
    targetUserId,
    reason,
    ...(ticket.trim() === '' ? {} : { ticket: ticket.trim() }),
    ...(duration.trim() === '' ? {} : { durationMinutes: Number(duration) })
  }
}

export function StartForm ({ orgId, me }: { orgId: string, me: string | undefined }) {
  const queries = useQueryClient()
  const members = useMemberDirectory(orgId)
  const enter = useEnterImpersonation(orgId)
  const [target, setTarget] = useState('')
  const [reason, setReason] = useState('')
  const [ticket, setTicket] = useState('')
  const [duration, setDuration] = useState('30')
  const start = useMutation({
    mutationFn: () => startImpersonation(orgId, inputOf(target, reason, ticket, duration)),
    onSuccess: async (started) => {
      if (started.status === 'active') return enter()
      await queries.invalidateQueries({ queryKey: sessionsKey(orgId) })
    }
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    start.mutate()
  }
  const errors = {
    targetUserId: errorOf(start.error, 'targetUserId'),
    reason: errorOf(start.error, 'reason'),
    ticket: errorOf(start.error, 'ticket'),
    durationMinutes: errorOf(start.error, 'durationMinutes')
  }
  const general = Object.values(errors).every((text) => text === undefined) ? start.error : null
  return (
    <form className="inline-form imp-start" onSubmit={submit} noValidate aria-labelledby="imp-start-title">
      <h2 id="imp-start-title">Start an impersonation</h2>
      <p className="muted">
        You will see the dashboard as the member does, for at most an hour; every request is recorded. An owner or another critical
        account is break-glass: give a ticket, and a second person approves it (at most 15 minutes).
      </p>
      <Field id="imp-target" label="Member" error={errors.targetUserId}>
        <select id="imp-target" value={target} onChange={(e) => setTarget(e.target.value)} {...invalid(errors.targetUserId, 'imp-target')}>
          <option value="">Choose a member…</option>
          {members.data?.items.filter((member) => member.userId !== me).map((member) =>
            <option key={member.userId} value={member.userId}>{member.displayName} ({member.email})</option>)}
        </select>
      </Field>
      <Field id="imp-reason" label="Reason (at least 10 characters)" error={errors.reason}>
        <input id="imp-reason" value={reason} onChange={(e) => setReason(e.target.value)} maxLength={500}
          {...invalid(errors.reason, 'imp-reason')} />
      </Field>
      <Field id="imp-ticket" label="Ticket (break-glass only)" error={errors.ticket}>
        <input id="imp-ticket" value={ticket} onChange={(e) => setTicket(e.target.value)} placeholder="SUP-1234"
          {...invalid(errors.ticket, 'imp-ticket')} />
      </Field>
      <Field id="imp-duration" label="Duration in minutes (1 to 60)" error={errors.durationMinutes}>
        <input id="imp-duration" type="number" inputMode="numeric" value={duration} onChange={(e) => setDuration(e.target.value)}
          {...invalid(errors.durationMinutes, 'imp-duration')} />
      </Field>
      <button type="submit" disabled={start.isPending}>Start impersonating</button>
      <ErrorText error={members.error ?? general} />
      {start.data?.status === 'pending' && (
        <p className="created" role="status">
          Break-glass request sent: it waits below for a second person to approve it; then start it from there.
        </p>
      )}
    </form>
  )
}

/** A field the API refused is marked invalid and described by the refusal. */
function invalid (error: string | undefined, id: string) {
  return error === undefined ? {} : { 'aria-invalid': true, 'aria-describedby': `${id}-error` }
}

function Field ({ id, label, error, children }: { id: string, label: string, error: string | undefined, children: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      {error !== undefined && <p className="error" role="alert" id={`${id}-error`}>{error}</p>}
    </div>
  )
}
