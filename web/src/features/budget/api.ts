/**
 * The organization's monthly AI budget (GET|PUT …/ai/budget, ai:manage) and
 * the month's spend per UTC day (GET …/ai/usage grouped by day), in the API's
 * integer micro-units. A PUT answers the new view and its log position, which
 * lib/api.ts sends with the reads after it, so they see the change.
 */
import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { api } from '../../lib/api.ts'
import { monthDays, type DaySpend } from './chart.ts'

export type Threshold = 50 | 80 | 100
export interface Budget {
  plan: string, month: string, currency: string, planMicros: number, monthlyMicros: number | null, budgetMicros: number,
  spentMicros: number, reservedMicros: number, projectedMonthEndMicros: number, state: 'active' | 'blocked', thresholdsCrossed: Threshold[]
}

const orgPath = (orgId: string) => `/v1/orgs/${encodeURIComponent(orgId)}`
export const budgetKey = (orgId: string) => ['orgs', orgId, 'ai-budget'] as const

export function useBudget (orgId: string) {
  return useQuery({ queryKey: budgetKey(orgId), queryFn: () => api<Budget>('GET', `${orgPath(orgId)}/ai/budget`) })
}

/** null goes back to the plan's budget; the reason is recorded with the change. */
export const setBudget = (orgId: string, monthlyMicros: number | null, reason: string) =>
  api<Budget & { position: string | null }>('PUT', `${orgPath(orgId)}/ai/budget`, { monthlyMicros, reason })

/** Every member's spend per UTC day of the month so far (a month has at most 31 days: one page). */
export function useMonthSpend (orgId: string, month: string | undefined) {
  return useQuery({
    queryKey: ['orgs', orgId, 'ai-usage', 'month', month ?? null],
    queryFn: async () => {
      const { from, to } = monthDays(month ?? '')
      const report = await api<{ items: Array<DaySpend & { day: string }> }>('GET', `${orgPath(orgId)}/ai/usage?${new URLSearchParams({
        from, to, groupBy: 'day', limit: '31' }).toString()}`)
      return report.items.map(({ day, costMicros, responses }) => ({ day, costMicros, responses }))
    },
    enabled: month !== undefined,
    placeholderData: keepPreviousData
  })
}
