/**
 * The assistant's usage and quotas (docs/assistant-usage.md):
 *
 * - `GET /v1/orgs/:orgId/ai/usage` declares `ai:use`: every member who may use
 *   the assistant sees their own usage; holders of `ai:manage` (who set the
 *   limits, so must see what they limit) see every member's. Anyone else asking
 *   for another member is 403 `auth.forbidden`.
 * - `GET|PUT /v1/orgs/:orgId/ai/quotas` declare `ai:manage`: the plan's
 *   defaults, the organization's overrides and the limits in force.
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { quotaSettings, setQuotas } from '../../application/assistant/quota-settings.ts'
import { aiUsageReport, DEFAULT_REPORT_DAYS, isUtcDay, MAX_REPORT_DAYS } from '../../application/assistant/usage-report.ts'
import { QUOTA_BOUNDS, quotaOverrides } from '../../domain/assistant/quota.ts'
import { Forbidden } from '../../domain/identity/errors.ts'
import { tokensUsedOn, USAGE_GROUPS } from '../../projections/assistant/usage-queries.ts'
import { utcDay } from '../../projections/assistant/usage.ts'
import type { Runtime } from '../../runtime.ts'
import { holdsAlso } from '../plugins/authorization.ts'
import { commandMetadata, principalOf } from '../plugins/auth.ts'
import { cursorParam, pageLimit } from '../query.ts'
import { BEARER, Id, Plan, Position, problems } from '../schemas.ts'

const AI_USE = 'ai:use'
const AI_MANAGE = 'ai:manage'

const OrgParams = z.object({ orgId: Id })

/** A UTC calendar day, `YYYY-MM-DD`, from 1970 on: a day that does not exist (02-30) is refused, not rolled over. */
const Day = z.string().max(10).refine(isUtcDay, 'a real calendar day, YYYY-MM-DD, from 1970')

const GroupBy = z.string().max(40)
  .transform((value) => value.split(','))
  .pipe(z.array(z.enum(USAGE_GROUPS)).min(1).max(USAGE_GROUPS.length)
    .refine((groups) => new Set(groups).size === groups.length, 'each group once'))

const Figures = z.object({
  inputTokens: z.number().int(), cachedInputTokens: z.number().int().describe('part of inputTokens, priced at the cached rate'),
  outputTokens: z.number().int(), costMicros: z.number().int().describe('micro-units of currency (1 USD = 1,000,000)'),
  responses: z.number().int(), estimatedResponses: z.number().int().describe('responses whose tokens are our estimate')
})

const UsageView = z.object({
  from: z.string(), to: z.string(), groupBy: z.array(z.enum(USAGE_GROUPS)), currency: z.literal('USD'),
  totals: Figures.describe('of everything the filters select, every page'),
  items: z.array(Figures.extend({ day: z.string().optional(), userId: z.string().optional(), model: z.string().optional() })),
  nextCursor: z.string().nullable()
})

const Limits = z.object({ requestsPerMinute: z.number().int(), tokensPerDay: z.number().int() })
const QuotasView = z.object({
  plan: Plan,
  defaults: Limits.describe('the plan\'s'),
  overrides: quotaOverrides.describe('the organization\'s own figures; null where the plan\'s default applies'),
  limits: Limits.describe('what is enforced'),
  today: z.object({ day: z.string(), tokens: z.number().int().describe('input plus output tokens recorded today (UTC)') })
})

async function today (runtime: Runtime, orgId: string): Promise<{ day: string, tokens: number }> {
  const day = utcDay(new Date())
  return { day, tokens: await tokensUsedOn(runtime.sql, orgId, day) }
}

export async function aiRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get('/v1/orgs/:orgId/ai/usage', {
    schema: {
      tags: ['ai'], security: BEARER, 'x-permission': AI_USE, params: OrgParams,
      summary: 'The assistant\'s usage and cost per UTC day, member and/or model: the caller\'s own, or every member\'s for managers',
      description: `Days are UTC and inclusive; without from, the ${DEFAULT_REPORT_DAYS} days up to to (default today); at most ` +
        `${MAX_REPORT_DAYS} days (else 400 ai.invalid_range). Holders of ai:manage read every member's; without it, only the ` +
        'caller\'s usage, and userId may name only the caller (else 403 auth.forbidden). Items are sorted by day, member, model.',
      querystring: z.object({
        from: Day.optional().describe('first day, YYYY-MM-DD (UTC)'),
        to: Day.optional().describe('last day, YYYY-MM-DD (UTC), included; default today'),
        userId: Id.optional().describe('only this member\'s usage'),
        groupBy: GroupBy.default(['day', 'member']).describe('comma-separated: day, member, model (default day,member)'),
        limit: pageLimit(1000, 100),
        cursor: cursorParam.optional()
      }).strict(),
      response: { 200: UsageView, ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    const { userId, ...query } = request.query
    const own = principalOf(request).userId
    const everyone = await holdsAlso(runtime, request, orgId, AI_MANAGE)
    if (!everyone && userId !== undefined && userId !== own) {
      throw new Forbidden(`reading other members' assistant usage takes ${AI_MANAGE}`, { action: AI_MANAGE })
    }
    const only = everyone ? userId : own
    return aiUsageReport(runtime.sql, {
      orgId, groupBy: query.groupBy, limit: query.limit, now: new Date(),
      ...(query.from === undefined ? {} : { from: query.from }), ...(query.to === undefined ? {} : { to: query.to }),
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }), ...(only === undefined ? {} : { userId: only })
    })
  })

  api.get('/v1/orgs/:orgId/ai/quotas', {
    schema: {
      tags: ['ai'], security: BEARER, 'x-permission': AI_MANAGE, params: OrgParams,
      summary: 'The assistant\'s quotas: requests per minute per member and tokens per day, the plan\'s and the organization\'s own',
      response: { 200: QuotasView, ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    return { ...await quotaSettings(runtime.identity, orgId), today: await today(runtime, orgId) }
  })

  api.put('/v1/orgs/:orgId/ai/quotas', {
    schema: {
      tags: ['ai'], security: BEARER, 'x-permission': AI_MANAGE, params: OrgParams,
      summary: 'Sets the assistant\'s quotas: a figure overrides the plan\'s default, null goes back to it, an absent field stays',
      description: `requestsPerMinute ${QUOTA_BOUNDS.requestsPerMinute.min} to ${QUOTA_BOUNDS.requestsPerMinute.max}, tokensPerDay ` +
        `${QUOTA_BOUNDS.tokensPerDay.min} to ${QUOTA_BOUNDS.tokensPerDay.max}; 0 turns the assistant off. Recorded as ` +
        'ai.quotas.changed (nothing when nothing changes).',
      body: quotaOverrides.partial().refine((body) => Object.keys(body).length > 0, 'name requestsPerMinute, tokensPerDay or both'),
      response: { 200: QuotasView.extend({ position: Position }), ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    const settings = await setQuotas(runtime.identity, commandMetadata(request, orgId), orgId, request.body)
    // This node applies the new limits at once; the others within LIMITS_TTL_MS.
    runtime.assistantUsage.quotas.forget(orgId)
    return { ...settings, today: await today(runtime, orgId) }
  })
}
