/**
 * The assistant's usage and cost per UTC day and member (GET …/ai/usage):
 * tokens in, of which cached, and out; the cost in the API's micro-units
 * shown as currency; and whether the figures are the provider's or our
 * estimate (a response that ended without the provider's usage). The range
 * lives in the address; without one, the API's last 30 days.
 */
import { useState, type FormEvent } from 'react'
import { useSearchParams } from 'react-router'
import { fieldError } from '../../lib/api.ts'
import { Empty, ErrorText, Loading, Money } from '../../lib/components.tsx'
import { useCursorPages } from '../../lib/pages.ts'
import { Pager } from '../../lib/Pager.tsx'
import { useSession } from '../auth/api.ts'
import { useAiUsage, useMemberNames, type UsageFigures, type UsageItem, type UsageRange } from './api.ts'

export function AiUsage ({ orgId }: { orgId: string }) {
  const [params, setParams] = useSearchParams()
  const range: UsageRange = {}
  for (const name of ['from', 'to'] as const) {
    const value = params.get(name)
    if (value !== null && value !== '') range[name] = value
  }
  return (
    <section aria-labelledby="ai-usage-title">
      <h2 id="ai-usage-title">AI usage</h2>
      <p className="muted">
        The assistant's tokens and cost per member and UTC day. Holders of ai:manage see every member's usage; others, their own.
        Figures are the provider's, except for responses that ended without its count (stopped or abandoned): those are our estimate.
      </p>
      {/* Keyed by the address: another range starts again from its own first page. */}
      <UsageReportView key={params.toString()} orgId={orgId} range={range} show={(next) => setParams(new URLSearchParams({ ...next }))} />
    </section>
  )
}

function UsageReportView ({ orgId, range, show }: { orgId: string, range: UsageRange, show: (range: UsageRange) => void }) {
  const pages = useCursorPages()
  const usage = useAiUsage(orgId, range, pages.cursor)
  const names = useMemberNames(orgId)
  const you = useSession().data?.user.userId
  const nameOf = (userId = '') => `${names.data?.get(userId) ?? userId}${userId === you ? ' (you)' : ''}`
  return (
    <>
      <RangeForm range={range} error={usage.error} show={show} />
      {usage.isPending && <Loading what="the assistant's usage" />}
      <ErrorText error={usage.error} />
      {usage.data?.items.length === 0 && <Empty>No assistant usage from {usage.data.from} to {usage.data.to}.</Empty>}
      {usage.data !== undefined && usage.data.items.length > 0 && (
        <div className="table-scroll">
          <table className="list labelled usage" aria-label="AI usage by day and member" aria-busy={usage.isPlaceholderData}>
            <caption className="sr-only">From {usage.data.from} to {usage.data.to}, in {usage.data.currency}</caption>
            <thead><tr><th scope="col">Day (UTC)</th><th scope="col">Member</th><FigureHeads /></tr></thead>
            <tbody>{usage.data.items.map((item) => (
              <tr key={`${item.day}-${item.userId}`}>
                <td data-label="Day (UTC)">{item.day}</td><td data-label="Member">{nameOf(item.userId)}</td>
                <FigureCells figures={item} currency={usage.data.currency} />
              </tr>
            ))}</tbody>
            <tfoot><tr><th scope="row" colSpan={2}>Total, {usage.data.from} to {usage.data.to}</th>
              <FigureCells figures={usage.data.totals} currency={usage.data.currency} /></tr></tfoot>
          </table>
        </div>
      )}
      <Pager label="AI usage" pages={pages} nextCursor={usage.data?.nextCursor} />
    </>
  )
}

function RangeForm ({ range, error, show }: { range: UsageRange, error: unknown, show: (range: UsageRange) => void }) {
  const [from, setFrom] = useState(range.from ?? '')
  const [to, setTo] = useState(range.to ?? '')
  const submit = (event: FormEvent) => {
    event.preventDefault()
    show({ ...(from === '' ? {} : { from }), ...(to === '' ? {} : { to }) })
  }
  const field = (name: 'from' | 'to', label: string, value: string, set: (value: string) => void) => (
    <div className="field">
      <label htmlFor={`usage-${name}`}>{label}</label>
      <input id={`usage-${name}`} type="date" value={value} onChange={(event) => set(event.target.value)}
        aria-invalid={fieldError(error, name) !== undefined} aria-describedby={`usage-${name}-error`} />
      <ErrorText error={fieldError(error, name)} id={`usage-${name}-error`} />
    </div>
  )
  return (
    <form className="inline-form" onSubmit={submit} aria-label="Days of AI usage">
      <h3>Days</h3>
      {field('from', 'From (UTC day)', from, setFrom)}
      {field('to', 'To (UTC day, included)', to, setTo)}
      <div className="actions"><button type="submit">Show usage</button></div>
    </form>
  )
}

function FigureHeads () {
  return (
    <>
      <th scope="col">Input tokens</th><th scope="col">Of which cached</th><th scope="col">Output tokens</th><th scope="col">Cost</th>
      <th scope="col">Responses</th><th scope="col">Figures</th>
    </>
  )
}

const count = (n: number) => <data value={n}>{n.toLocaleString()}</data>

function source ({ responses, estimatedResponses }: UsageFigures): string {
  if (estimatedResponses === 0) return 'provider'
  return estimatedResponses === responses ? 'estimate' : `provider; ${estimatedResponses} of ${responses} estimated`
}

function FigureCells ({ figures, currency }: { figures: UsageFigures | UsageItem, currency: string }) {
  return (
    <>
      <td data-label="Input tokens">{count(figures.inputTokens)}</td>
      <td data-label="Of which cached">{count(figures.cachedInputTokens)}</td>
      <td data-label="Output tokens">{count(figures.outputTokens)}</td>
      <td data-label="Cost"><Money micros={figures.costMicros} currency={currency} /></td>
      <td data-label="Responses">{count(figures.responses)}</td>
      <td data-label="Figures">{source(figures)}</td>
    </>
  )
}
