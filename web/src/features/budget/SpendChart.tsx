/**
 * The month's spend against its budget, as inline SVG: the running total day
 * by day (a point on each day with spend), the budget as a line, and the
 * projection to the month's end at the rate so far, dashed. The SVG is one
 * image to assistive technology, named and described in words; the figures
 * are in the table under it.
 */
import { Money } from '../../lib/components.tsx'
import { formatMicros } from '../../lib/money.ts'
import type { Budget } from './api.ts'
import {
  cumulative, elapsedDays, FRAME, monthDays, scales, spendLine, type ChartFigures, type DaySpend, type SpendPoint
} from './chart.ts'

export function SpendChart ({ budget, spend, now = new Date() }: { budget: Budget, spend: DaySpend[], now?: Date }) {
  const { days } = monthDays(budget.month, now)
  const figures: ChartFigures = {
    days, elapsed: elapsedDays(budget.month, days, now), points: cumulative(spend),
    budgetMicros: budget.budgetMicros, projectedMonthEndMicros: budget.projectedMonthEndMicros
  }
  const money = (micros: number) => formatMicros(micros, budget.currency)
  const last = figures.points.at(-1)
  const count = figures.points.length
  const spent = last === undefined ? 'Nothing spent yet' : `${money(last.cumulativeMicros)} spent by ${last.day}, on ${count} ${
    count === 1 ? 'day' : 'days'}`
  const description = `${spent}, against a budget of ${money(budget.budgetMicros)}; at this rate, ` +
    `${money(budget.projectedMonthEndMicros)} by the month's end.`
  return (
    <figure className="spend-chart">
      <Chart figures={figures} currency={budget.currency} title={`Spend in ${budget.month} (UTC) against the budget`}
        description={description} />
      <figcaption>
        <ul className="legend">
          <li className="spend">Spent so far</li><li className="budget">Budget</li>
          <li className="projection">Projection to the month's end</li>
        </ul>
      </figcaption>
      <details className="spend-figures">
        <summary>The figures, day by day</summary>
        <SpendTable points={figures.points} currency={budget.currency} month={budget.month} />
      </details>
    </figure>
  )
}

function Chart ({ figures, currency, title, description }: {
  figures: ChartFigures, currency: string, title: string, description: string
}) {
  const { grid, x, y } = scales(figures)
  // The gridlines' labels as precise as their step: $0.0005 apart must not all read $0.00.
  const digits = Math.min(6, Math.max(2, Math.ceil(-Math.log10((grid[1] ?? 1) / 1_000_000))))
  const money = (micros: number) => formatMicros(micros, currency, digits)
  const line = spendLine(figures)
  const [endX, endY] = line.at(-1) ?? [0, 0]
  const path = line.map(([day, micros], index) => `${index === 0 ? 'M' : 'L'}${x(day).toFixed(1)},${y(micros).toFixed(1)}`).join(' ')
  const labelled = [...new Set([1, 8, 15, 22, figures.days])]
  return (
    <svg viewBox={`0 0 ${FRAME.width} ${FRAME.height}`} role="img" aria-labelledby="spend-chart-title" aria-describedby="spend-chart-desc">
      <title id="spend-chart-title">{title}</title>
      <desc id="spend-chart-desc">{description}</desc>
      {grid.map((micros) => (
        <g key={micros} className="grid">
          <line x1={FRAME.left} x2={FRAME.width - FRAME.right} y1={y(micros)} y2={y(micros)} />
          <text x={FRAME.left - 6} y={y(micros) + 4} textAnchor="end">{money(micros)}</text>
        </g>
      ))}
      {labelled.map((day) => (
        <text key={day} className="axis" x={x(day - 0.5)} y={FRAME.height - 10} textAnchor="middle">{day}</text>
      ))}
      <line className="budget" x1={FRAME.left} x2={FRAME.width - FRAME.right} y1={y(figures.budgetMicros)} y2={y(figures.budgetMicros)} />
      <text className="budget" x={FRAME.width - FRAME.right} y={y(figures.budgetMicros) - 6} textAnchor="end">
        Budget {formatMicros(figures.budgetMicros, currency)}</text>
      {figures.elapsed < figures.days && (
        <line className="projection" x1={x(endX)} y1={y(endY)} x2={x(figures.days)} y2={y(figures.projectedMonthEndMicros)} />
      )}
      <path className="spend" d={path} />
      {figures.points.map((point) => (
        <circle key={point.day} className="day" cx={x(Math.min(point.dayOfMonth, figures.elapsed))} cy={y(point.cumulativeMicros)} r={4}>
          <title>{`${point.day}: ${formatMicros(point.costMicros, currency)} spent, ${
            formatMicros(point.cumulativeMicros, currency)} so far`}</title>
        </circle>
      ))}
    </svg>
  )
}

function SpendTable ({ points, currency, month }: { points: SpendPoint[], currency: string, month: string }) {
  if (points.length === 0) return <p className="empty">No spend in {month} yet.</p>
  return (
    <table className="list labelled spend-days" aria-label="Spend by day">
      <thead><tr><th scope="col">Day (UTC)</th><th scope="col">Spent that day</th><th scope="col">Spent so far</th>
        <th scope="col">Responses</th></tr></thead>
      <tbody>{points.map((point) => (
        <tr key={point.day}>
          <td data-label="Day (UTC)">{point.day}</td>
          <td data-label="Spent that day"><Money micros={point.costMicros} currency={currency} /></td>
          <td data-label="Spent so far"><Money micros={point.cumulativeMicros} currency={currency} /></td>
          <td data-label="Responses"><data value={point.responses}>{point.responses.toLocaleString()}</data></td>
        </tr>
      ))}</tbody>
    </table>
  )
}
