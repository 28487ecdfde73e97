/**
 * An organization's assistant quotas (`ai-quotas-<orgId>`): requests per
 * minute per member and tokens per day for the organization. Each plan has
 * defaults; holders of `ai:manage` override either or both, and a `null` goes
 * back to the plan's. Changes are events, so the audit log shows who set what.
 */
import { z } from 'zod'
import type { Decider } from '../decider.ts'
import { domainError } from '../errors.ts'
import type { Plan } from '../identity/events.ts'
import { defineEvent } from '../registry.ts'

export interface QuotaLimits {
  readonly requestsPerMinute: number
  readonly tokensPerDay: number
}

/** The plans' defaults: a free organization tries the assistant; a paying one works with it all day. */
export const PLAN_QUOTAS: Readonly<Record<Plan, QuotaLimits>> = {
  free: { requestsPerMinute: 10, tokensPerDay: 200_000 },
  pro: { requestsPerMinute: 60, tokensPerDay: 5_000_000 },
  enterprise: { requestsPerMinute: 600, tokensPerDay: 100_000_000 }
}

/** Bounds of an override: 0 turns the assistant off; the maxima catch a figure typed with extra zeros. */
export const QUOTA_BOUNDS = {
  requestsPerMinute: { min: 0, max: 10_000 },
  tokensPerDay: { min: 0, max: 10_000_000_000 }
} as const

const override = (bounds: { min: number, max: number }): z.ZodNullable<z.ZodNumber> =>
  z.number().int().min(bounds.min).max(bounds.max).nullable()

export const quotaOverrides = z.object({
  requestsPerMinute: override(QUOTA_BOUNDS.requestsPerMinute).describe('null: the plan\'s default'),
  tokensPerDay: override(QUOTA_BOUNDS.tokensPerDay).describe('null: the plan\'s default')
}).strict()

export type QuotaOverrides = z.infer<typeof quotaOverrides>

export class InvalidQuota extends domainError('ai.invalid_quota', 400, 'a quota must be a whole number within its bounds, or null') {}

/** The overrides as they stand after the change (both, whether or not each changed). */
export const quotasChanged = defineEvent({ type: 'ai.quotas.changed', schema: quotaOverrides })

export const quotaEvents = [quotasChanged]

export type QuotaEvent = { type: 'ai.quotas.changed', data: QuotaOverrides }

/** Sets the fields it names; an absent field stays as it is. */
export interface SetQuotas {
  readonly type: 'SetQuotas'
  readonly data: Partial<QuotaOverrides>
}

export const NO_OVERRIDES: QuotaOverrides = { requestsPerMinute: null, tokensPerDay: null }

export function quotaStreamId (orgId: string): string {
  return `ai-quotas-${orgId}`
}

/** The limits in force: each override, or the plan's default where there is none. */
export function limitsFor (plan: Plan, overrides: QuotaOverrides): QuotaLimits {
  const defaults = PLAN_QUOTAS[plan]
  return {
    requestsPerMinute: overrides.requestsPerMinute ?? defaults.requestsPerMinute,
    tokensPerDay: overrides.tokensPerDay ?? defaults.tokensPerDay
  }
}

export const quotaDecider: Decider<SetQuotas, QuotaEvent, QuotaOverrides> = {
  initialState: () => NO_OVERRIDES,
  evolve: (_state, event) => event.data,
  decide (command, state) {
    const parsed = quotaOverrides.safeParse({ ...state, ...command.data })
    if (!parsed.success) throw new InvalidQuota(undefined, { bounds: QUOTA_BOUNDS })
    const next = parsed.data
    // Setting what is already set records nothing: the audit log shows changes, not saves.
    if (next.requestsPerMinute === state.requestsPerMinute && next.tokensPerDay === state.tokensPerDay) return []
    return [{ type: 'ai.quotas.changed', data: next }]
  }
}
