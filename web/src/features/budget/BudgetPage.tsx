/**
 * The organization's monthly AI budget (ai:manage): what is in force, spent
 * and held this month, the month's end at the rate so far, the thresholds
 * crossed, and a banner while the organization is blocked; the spend chart;
 * and the form that sets the budget. Without ai:manage, the API's 403 detail.
 */
import { useParams } from 'react-router'
import { ErrorText, Loading, Money } from '../../lib/components.tsx'
import { useSession } from '../auth/api.ts'
import { useBudget, useMonthSpend, type Budget } from './api.ts'
import { BudgetForm } from './BudgetForm.tsx'
import { SpendChart } from './SpendChart.tsx'

export function BudgetPage () {
  const { orgId = '' } = useParams()
  const org = useSession().data?.memberships.find((membership) => membership.orgId === orgId)
  const budget = useBudget(orgId)
  const spend = useMonthSpend(orgId, budget.data?.month)
  return (
    <section aria-labelledby="budget-title">
      <h1 id="budget-title">AI budget{org === undefined ? '' : ` of ${org.name}`}</h1>
      <p className="muted">
        What the assistant spends this calendar month (UTC) against its monthly budget. A request that would go past the budget is
        refused before it reaches the model.
      </p>
      {budget.isPending && <Loading what="the budget" />}
      <ErrorText error={budget.error} />
      {budget.data !== undefined && (
        <>
          {budget.data.state === 'blocked' && <BlockedBanner budget={budget.data} />}
          <BudgetFacts budget={budget.data} />
          <h2>Spend this month</h2>
          {spend.isPending && <Loading what="the month's spend" />}
          <ErrorText error={spend.error} />
          {spend.data !== undefined && <SpendChart budget={budget.data} spend={spend.data} />}
          <BudgetForm key={orgId} orgId={orgId} budget={budget.data} />
        </>
      )}
    </section>
  )
}

/** A month (YYYY-MM) in words, and the first day of the one after it. */
function monthInWords (month: string): { name: string, next: string } {
  const [year = 1970, index = 1] = month.split('-').map(Number)
  const words = (options: Intl.DateTimeFormatOptions, monthIndex: number) =>
    new Intl.DateTimeFormat(undefined, { ...options, timeZone: 'UTC' }).format(new Date(Date.UTC(year, monthIndex, 1)))
  return { name: words({ month: 'long', year: 'numeric' }, index - 1), next: words({ dateStyle: 'long' }, index) }
}

function BlockedBanner ({ budget }: { budget: Budget }) {
  const month = monthInWords(budget.month)
  return (
    <div className="budget-blocked" role="alert">
      <h2>The assistant is blocked for the rest of {month.name}</h2>
      <p>
        This month's spend (<Money micros={budget.spentMicros} currency={budget.currency} />) has used up its budget
        (<Money micros={budget.budgetMicros} currency={budget.currency} />): what is left cannot pay for even the smallest request, so
        every request to the model is refused.
      </p>
      <p>
        It lifts on {month.next} (UTC), when a new month starts from nothing, or as soon as the budget is raised far
        enough above what is spent, below.
      </p>
    </div>
  )
}

function BudgetFacts ({ budget }: { budget: Budget }) {
  const { currency } = budget
  const share = budget.budgetMicros === 0 ? undefined : Math.round((budget.spentMicros / budget.budgetMicros) * 100)
  return (
    <dl className="facts budget-facts">
      <div><dt>State</dt><dd><span className={`state ${budget.state}`}>{budget.state === 'blocked' ? 'Blocked' : 'Active'}</span></dd></div>
      <div><dt>Budget</dt><dd><Money micros={budget.budgetMicros} currency={currency} />
        {budget.monthlyMicros === null ? ' (the plan\'s)' : ' (this organization\'s own)'}</dd></div>
      <div><dt>Spent</dt><dd><Money micros={budget.spentMicros} currency={currency} />
        {share === undefined ? '' : ` (${share}% of the budget)`}</dd></div>
      <div><dt>Reserved</dt><dd><Money micros={budget.reservedMicros} currency={currency} /> held by responses under way</dd></div>
      <div><dt>Projected</dt><dd><Money micros={budget.projectedMonthEndMicros} currency={currency} /> by the month's end, at
        this month's rate so far</dd></div>
      <div><dt>Plan</dt><dd>{budget.plan}: <Money micros={budget.planMicros} currency={currency} /> a month, the most it allows</dd></div>
      <div><dt>Thresholds</dt><dd>{budget.thresholdsCrossed.length === 0 ? 'none crossed yet'
        : `${budget.thresholdsCrossed.map((threshold) => `${threshold}%`).join(', ')} crossed`}</dd></div>
    </dl>
  )
}
