/** The quota settings decider: overrides within bounds over the plan's defaults; no change, no event. */
import t from 'tap'
import { fold } from '../decider.ts'
import { limitsFor, NO_OVERRIDES, PLAN_QUOTAS, quotaDecider, type QuotaEvent } from './quota.ts'

const context = { now: new Date('2026-01-01T00:00:00Z'), actor: { type: 'user' as const, id: 'u1' } }

t.test('a change records the overrides as they stand after it; an absent field stays', async (t) => {
  const first = quotaDecider.decide({ type: 'SetQuotas', data: { requestsPerMinute: 30 } }, NO_OVERRIDES, context)
  t.same(first, [{ type: 'ai.quotas.changed', data: { requestsPerMinute: 30, tokensPerDay: null } }])
  const state = fold(quotaDecider, first)
  t.same(quotaDecider.decide({ type: 'SetQuotas', data: { tokensPerDay: 0 } }, state, context),
    [{ type: 'ai.quotas.changed', data: { requestsPerMinute: 30, tokensPerDay: 0 } }])
  t.same(quotaDecider.decide({ type: 'SetQuotas', data: { requestsPerMinute: 30 } }, state, context), [], 'the same value: nothing')
  t.same(quotaDecider.decide({ type: 'SetQuotas', data: {} }, state, context), [])
})

t.test('out of bounds is ai.invalid_quota', async (t) => {
  for (const data of [{ requestsPerMinute: -1 }, { requestsPerMinute: 10_001 }, { tokensPerDay: 1.5 }, { tokensPerDay: 1e11 }]) {
    t.throws(() => quotaDecider.decide({ type: 'SetQuotas', data }, NO_OVERRIDES, context), { code: 'ai.invalid_quota' })
  }
})

t.test('the limits are the overrides, or the plan\'s defaults where there are none', async (t) => {
  t.same(limitsFor('pro', NO_OVERRIDES), PLAN_QUOTAS.pro)
  t.same(limitsFor('free', { requestsPerMinute: 0, tokensPerDay: null }),
    { requestsPerMinute: 0, tokensPerDay: PLAN_QUOTAS.free.tokensPerDay })
  const events: QuotaEvent[] = [{ type: 'ai.quotas.changed', data: { requestsPerMinute: 1, tokensPerDay: 2 } },
    { type: 'ai.quotas.changed', data: { requestsPerMinute: null, tokensPerDay: 2 } }]
  t.same(limitsFor('enterprise', fold(quotaDecider, events)),
    { requestsPerMinute: PLAN_QUOTAS.enterprise.requestsPerMinute, tokensPerDay: 2 })
})
