/**
 * The organization's audit log: GET …/audit-events (audit:read) and its
 * export (audit:export). The filters are the route's own query parameters,
 * with the same names, so the page's address, the API call and the export
 * link carry them alike.
 */
import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { api } from '../../lib/api.ts'

export interface AuditEvent {
  id: string, orgId: string | null, seq: number, occurredAt: string, action: string, actorType: string, actorId: string,
  actorLabel: string | null, impersonatorId: string | null, targetType: string | null, targetId: string | null, diff: unknown,
  ip: string | null, userAgent: string | null, traceId: string | null, requestId: string | null, position: string,
  prevHash: string, hash: string
}

/** What the route filters on, in the order the form shows them. Both routes refuse any other parameter. */
export const FILTERS = ['action', 'actorId', 'targetType', 'targetId', 'impersonatorId', 'ip', 'traceId', 'from', 'to'] as const
export type Filter = typeof FILTERS[number]
export type Filters = Partial<Record<Filter, string>>
export const LABELS: Record<Filter, string> = {
  action: 'Action', actorId: 'Actor id', targetType: 'Target type', targetId: 'Target id', impersonatorId: 'Impersonator id',
  ip: 'IP address', traceId: 'Trace id', from: 'From', to: 'Until (before)'
}

export const PAGE_SIZES = [10, 20, 50, 100] as const
export const DEFAULT_PAGE_SIZE = 20

/** The filters an address names (blank ones dropped), and its page size when it is one the page offers. */
export function filtersOf (params: URLSearchParams): { filters: Filters, limit: number } {
  const filters: Filters = {}
  for (const name of FILTERS) {
    const value = params.get(name)?.trim()
    if (value !== undefined && value !== '') filters[name] = value
  }
  const limit = Number(params.get('limit'))
  return { filters, limit: (PAGE_SIZES as readonly number[]).includes(limit) ? limit : DEFAULT_PAGE_SIZE }
}

const logPath = (orgId: string) => `/v1/orgs/${encodeURIComponent(orgId)}/audit-events`

export function useAuditEvents (orgId: string, filters: Filters, limit: number, cursor: string | undefined) {
  return useQuery({
    queryKey: ['orgs', orgId, 'audit-events', filters, limit, cursor ?? null],
    queryFn: () => api<{ items: AuditEvent[], nextCursor: string | null }>('GET', `${logPath(orgId)}?${new URLSearchParams({
      ...filters, limit: String(limit), ...(cursor === undefined ? {} : { cursor }) }).toString()}`),
    placeholderData: keepPreviousData
  })
}

/**
 * The export's address with these filters: a plain link, which the browser
 * follows with the session cookie (a same-origin GET needs no CSRF header),
 * so the file streams to disk instead of through the page's memory.
 */
export function exportHref (orgId: string, filters: Filters, format: 'csv' | 'ndjson'): string {
  return `${logPath(orgId)}/export?${new URLSearchParams({ ...filters, format }).toString()}`
}

const orgPath = (orgId: string) => `/v1/orgs/${encodeURIComponent(orgId)}`

/** A verification of the chain from the event log (audit:export): POST …/verify schedules it, GET …/verifications/:jobId reads it. */
export type VerificationState = 'waiting' | 'running' | 'succeeded' | 'dead' | 'cancelled'
export interface Mismatch {
  kind: 'row' | 'digest', seq: number, day?: string, eventId?: string, column: string, expected: unknown, found: unknown
}
export interface VerifyReport {
  ok: boolean, through: string, eventsRead: number, rowsChecked: number, firstStoredSeq: number | null, digestsChecked: number,
  keyId: string, mismatch: Mismatch | null
}
export interface Verification {
  jobId: string, state: VerificationState, attempts: number, scheduledAt: string, finishedAt: string | null,
  error: { code: string, message: string } | null, report: VerifyReport | null
}
export const isOver = (state: VerificationState | undefined) => state === 'succeeded' || state === 'dead' || state === 'cancelled'

export const startVerification = (orgId: string) =>
  api<{ jobId: string, state: VerificationState, location: string }>('POST', `${logPath(orgId)}/verify`)

export function useVerification (orgId: string, jobId: string | undefined) {
  return useQuery({
    queryKey: ['orgs', orgId, 'audit-verifications', jobId ?? null],
    queryFn: () => api<Verification>('GET', `${logPath(orgId)}/verifications/${encodeURIComponent(jobId ?? '')}`),
    enabled: jobId !== undefined,
    // Polled while it waits or runs; once over, it never changes.
    refetchInterval: (query) => (query.state.error !== null || isOver(query.state.data?.state) ? false : 500),
    staleTime: (query) => (isOver(query.state.data?.state) ? Infinity : 0)
  })
}

/** The signed daily digests (audit:read), newest day first, with the key that verifies them. */
export interface Digest {
  day: string, firstSeq: number, lastSeq: number, lastHash: string, rows: number, signedAt: string, keyId: string, signature: string,
  signedText: string
}
export interface Digests { keyId: string, publicKey: string, items: Digest[], nextBefore: string | null }
export const DIGESTS_PAGE = 10

export function useDigests (orgId: string, before: string | undefined) {
  return useQuery({
    queryKey: ['orgs', orgId, 'audit-digests', before ?? null],
    queryFn: () => api<Digests>('GET', `${orgPath(orgId)}/audit-digests?${new URLSearchParams({
      limit: String(DIGESTS_PAGE), ...(before === undefined ? {} : { before }) }).toString()}`),
    placeholderData: keepPreviousData
  })
}

/** Every digest the route keeps (a year), as one JSON file: a same-origin link the browser follows with the cookie. */
export const digestsHref = (orgId: string) => `${orgPath(orgId)}/audit-digests?limit=366`

/** How long the log is kept (audit:read) and what the plan allows; owners set it (audit:configure). */
export interface Retention { days: number, setting: number | null, plan: string, default: number, min: number, max: number }
export const retentionKey = (orgId: string) => ['orgs', orgId, 'audit-retention'] as const

export function useRetention (orgId: string) {
  return useQuery({ queryKey: retentionKey(orgId), queryFn: () => api<Retention>('GET', `${orgPath(orgId)}/audit-retention`) })
}

/** null goes back to the plan's default. */
export const setRetention = (orgId: string, days: number | null) =>
  api<{ position: string }>('PUT', `${orgPath(orgId)}/audit-retention`, { days })

/** The assistant's usage per UTC day and member (ai:use reads one's own; ai:manage, every member's). Cost in micro-units. */
export interface UsageFigures {
  inputTokens: number, cachedInputTokens: number, outputTokens: number, costMicros: number, responses: number, estimatedResponses: number
}
export interface UsageItem extends UsageFigures { day?: string, userId?: string }
export interface UsageReport {
  from: string, to: string, currency: string, totals: UsageFigures, items: UsageItem[], nextCursor: string | null
}
export interface UsageRange { from?: string, to?: string }
export const USAGE_PAGE = 50

export function useAiUsage (orgId: string, range: UsageRange, cursor: string | undefined) {
  return useQuery({
    queryKey: ['orgs', orgId, 'ai-usage', range, cursor ?? null],
    queryFn: () => api<UsageReport>('GET', `${orgPath(orgId)}/ai/usage?${new URLSearchParams({
      ...range, groupBy: 'day,member', limit: String(USAGE_PAGE), ...(cursor === undefined ? {} : { cursor }) }).toString()}`),
    placeholderData: keepPreviousData
  })
}

/**
 * Members' names by user id, from the first 200 members (the route's largest
 * page): a member beyond them, or a caller without member:read, shows the id.
 */
export function useMemberNames (orgId: string) {
  return useQuery({
    queryKey: ['orgs', orgId, 'members', 'names'],
    queryFn: async () => {
      const page = await api<{ items: Array<{ userId: string, displayName: string, email: string }> }>(
        'GET', `${orgPath(orgId)}/members?limit=200`)
      return new Map(page.items.map((member) => [member.userId, member.displayName]))
    },
    staleTime: 60_000,
    retry: false
  })
}
