/**
 * The spend chart's figures and geometry, apart from drawing them: the
 * month's spend summed day by day, the projection to its end, and the scale
 * that fits them and the budget. Days are UTC; day d ends at x = d. No
 * DOM and no React here, so the figures are tested in Node.
 */

/** One UTC day's spend, as the usage route reports it grouped by day. */
export interface DaySpend { day: string, costMicros: number, responses: number }

export interface SpendPoint extends DaySpend {
  /** 1 to the month's length. */
  dayOfMonth: number
  /** The month's spend up to the end of this day. */
  cumulativeMicros: number
}

export interface ChartFigures {
  /** The month's length in days. */
  days: number
  /** How far into the month now is, in days (fractional; the month's length once it is over). */
  elapsed: number
  points: SpendPoint[]
  budgetMicros: number
  projectedMonthEndMicros: number
}

const DAY_MS = 86_400_000

/** The first and last days of a month (YYYY-MM) the usage route is asked for: up to today while the month runs. */
export function monthDays (month: string, now = new Date()): { from: string, to: string, days: number } {
  const [year = 1970, index = 1] = month.split('-').map(Number)
  const days = new Date(Date.UTC(year, index, 0)).getUTCDate()
  const today = now.toISOString().slice(0, 10)
  const last = `${month}-${String(days).padStart(2, '0')}`
  return { from: `${month}-01`, to: today.startsWith(month) ? today : last, days }
}

/** The days with spend, in order, each with the month's running total. */
export function cumulative (spend: readonly DaySpend[]): SpendPoint[] {
  let total = 0
  return [...spend].sort((a, b) => a.day.localeCompare(b.day)).map((day) => {
    total += day.costMicros
    return { ...day, dayOfMonth: Number(day.day.slice(8, 10)), cumulativeMicros: total }
  })
}

/** How many days of the month (YYYY-MM, UTC) have passed at `now`: 0 before it, its length after it. */
export function elapsedDays (month: string, days: number, now: Date): number {
  const start = Date.parse(`${month}-01T00:00:00Z`)
  return Math.min(days, Math.max(0, (now.getTime() - start) / DAY_MS))
}

/** Gridlines at 1, 2 or 5 times a power of ten, about four of them, the top one at or above `max`. */
export function ticks (max: number): number[] {
  const raw = Math.max(max, 1) / 4
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= raw) ?? 10 * magnitude
  const top = Math.ceil(Math.max(max, 1) / step) * step
  return Array.from({ length: Math.round(top / step) + 1 }, (_, index) => index * step)
}

export const FRAME = { width: 640, height: 260, left: 76, right: 16, top: 16, bottom: 32 }

/** Where a day (0 to the month's length) and an amount fall in the frame. */
export function scales (figures: ChartFigures) {
  const last = figures.points.at(-1)?.cumulativeMicros ?? 0
  const grid = ticks(Math.max(figures.budgetMicros, figures.projectedMonthEndMicros, last))
  const top = grid.at(-1) ?? 1
  const plotWidth = FRAME.width - FRAME.left - FRAME.right
  const plotHeight = FRAME.height - FRAME.top - FRAME.bottom
  return {
    grid,
    x: (day: number) => FRAME.left + (day / figures.days) * plotWidth,
    y: (micros: number) => FRAME.top + plotHeight - (micros / top) * plotHeight
  }
}

/**
 * The spend line: from nothing at the month's start, through each day's
 * total (past days at their end, today at now), flat over days without spend.
 */
export function spendLine (figures: ChartFigures): Array<[number, number]> {
  const line: Array<[number, number]> = [[0, 0]]
  let total = 0
  const byDay = new Map(figures.points.map((point) => [point.dayOfMonth, point.cumulativeMicros]))
  for (let day = 1; day < figures.elapsed + 1 && day <= figures.days; day++) {
    total = byDay.get(day) ?? total
    line.push([Math.min(day, figures.elapsed), total])
  }
  return line
}
