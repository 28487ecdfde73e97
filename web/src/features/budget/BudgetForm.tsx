/**
 * Sets the organization's monthly budget, typed in currency units and sent in
 * micro-units, or goes back to the plan's (null), with the reason the API
 * records. The form checks only what it must before sending (an amount it can
 * read, a reason at all); the range and the permission are the API's, and its
 * detail shows next to the field it is about, or under the buttons.
 */
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { ApiProblem, fieldError } from '../../lib/api.ts'
import { ErrorText } from '../../lib/components.tsx'
import { decimalOf, formatMicros, microsOf } from '../../lib/money.ts'
import { budgetKey, setBudget, type Budget } from './api.ts'

const NO_REASON = 'Give a reason: it is recorded with the change and shown in the audit log.'

export function BudgetForm ({ orgId, budget }: { orgId: string, budget: Budget }) {
  const queries = useQueryClient()
  const [amount, setAmount] = useState(decimalOf(budget.monthlyMicros ?? budget.budgetMicros))
  const [reason, setReason] = useState('')
  const [checks, setChecks] = useState<{ amount?: string, reason?: string }>({})
  const save = useMutation({
    mutationFn: (monthlyMicros: number | null) => setBudget(orgId, monthlyMicros, reason.trim()),
    onSuccess: ({ position: _position, ...view }) => {
      // The answer is the budget as the change left it: the page shows it at once, no read behind the write.
      queries.setQueryData(budgetKey(orgId), view)
      setAmount(decimalOf(view.budgetMicros))
      setReason('')
    }
  })
  /** Sends an amount (null: the plan's) once the form has what it needs: an amount it could read, and a reason. */
  const send = (amount: { micros: number | null } | { error: string }) => {
    const found = { ...(reason.trim() === '' ? { reason: NO_REASON } : {}), ...('error' in amount ? { amount: amount.error } : {}) }
    setChecks(found)
    save.reset()
    if (!('error' in amount) && found.reason === undefined) save.mutate(amount.micros)
  }
  const submit = (event: FormEvent) => {
    event.preventDefault()
    send(microsOf(amount))
  }
  const refused = save.error instanceof ApiProblem && save.error.code === 'ai.invalid_budget' ? save.error : undefined
  const amountError = checks.amount ?? fieldError(save.error, 'monthlyMicros') ?? refused
  const reasonError = checks.reason ?? fieldError(save.error, 'reason')
  const otherError = amountError === undefined && reasonError === undefined ? save.error : null
  const plan = formatMicros(budget.planMicros, budget.currency)
  return (
    <form className="inline-form budget-form" onSubmit={submit} noValidate aria-label="Set the budget">
      <h2>Set the budget</h2>
      <p className="muted">From 0 (the assistant is off) to the plan's {plan} a month. Raising it above what is spent lifts a block.</p>
      <div className="field">
        <label htmlFor="budget-amount">Monthly budget ({budget.currency})</label>
        <input id="budget-amount" type="text" inputMode="decimal" autoComplete="off" value={amount}
          onChange={(event) => setAmount(event.target.value)} aria-invalid={amountError !== undefined}
          aria-describedby="budget-amount-hint budget-amount-error" />
        <small className="muted" id="budget-amount-hint">In {budget.currency}, to the micro-unit (0.000001); at most {plan}</small>
        <ErrorText error={amountError} id="budget-amount-error" />
      </div>
      <div className="field">
        <label htmlFor="budget-reason">Reason</label>
        <input id="budget-reason" type="text" value={reason} required maxLength={500} onChange={(event) => setReason(event.target.value)}
          aria-invalid={reasonError !== undefined} aria-describedby="budget-reason-hint budget-reason-error" />
        <small className="muted" id="budget-reason-hint">Required: recorded with the change, in the audit log</small>
        <ErrorText error={reasonError} id="budget-reason-error" />
      </div>
      <div className="actions">
        <button type="submit" disabled={save.isPending}>Save</button>
        {budget.monthlyMicros !== null && (
          <button type="button" className="secondary" disabled={save.isPending} onClick={() => send({ micros: null })}>
            Use the plan's budget</button>
        )}
      </div>
      <ErrorText error={otherError} />
      {save.isSuccess && (
        <p role="status" className="saved">{save.data.position === null ? 'Nothing to change: that is the budget already.' : 'Saved.'}</p>
      )}
    </form>
  )
}
