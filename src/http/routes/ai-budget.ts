/**
 * The organization's monthly AI budget (docs/ai-budgets.md): `GET|PUT
 * /v1/orgs/:orgId/ai/budget` declare `ai:manage` (which impersonators never
 * hold). The answer says the budget in force, the month's spend and holds, the
 * month-end at the rate so far, and whether the organization is blocked.
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { budgetView, setBudget } from '../../application/assistant/budget-settings.ts'
import { BUDGET_THRESHOLDS, Month } from '../../domain/assistant/budget.ts'
import type { Runtime } from '../../runtime.ts'
import { commandMetadata } from '../plugins/auth.ts'
import { BEARER, Id, Plan, Position, problems } from '../schemas.ts'

const AI_MANAGE = 'ai:manage'
const OrgParams = z.object({ orgId: Id })
const micros = z.number().int().describe('micro-units of currency (1 USD = 1,000,000)')

const BudgetView = z.object({
  plan: Plan,
  month: Month.describe('the calendar month in UTC, YYYY-MM'),
  currency: z.literal('USD'),
  planMicros: micros.describe('the plan\'s monthly budget: the default, and the most an organization may set'),
  monthlyMicros: micros.nullable().describe('the organization\'s own budget; null where the plan\'s applies'),
  budgetMicros: micros.describe('the budget in force'),
  spentMicros: micros.describe('settled this month: the recorded cost of its responses'),
  reservedMicros: micros.describe('held by responses under way'),
  projectedMonthEndMicros: micros.describe('the spend at the end of the month at this month\'s rate so far'),
  state: z.enum(['active', 'blocked']),
  thresholdsCrossed: z.array(z.union(BUDGET_THRESHOLDS.map((threshold) => z.literal(threshold))))
    .describe('the thresholds (percent) this month has crossed')
})

const SetBudgetBody = z.object({
  monthlyMicros: z.number().int().min(0).max(1e15).nullable().describe('micro-units; null goes back to the plan\'s budget'),
  reason: z.string().trim().min(1).max(500).describe('why: recorded with the change, shown in the audit log')
}).strict()

export async function aiBudgetRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()
  const deps = runtime.assistantUsage.budgetDeps

  api.get('/v1/orgs/:orgId/ai/budget', {
    schema: {
      tags: ['ai'], security: BEARER, 'x-permission': AI_MANAGE, params: OrgParams,
      summary: 'The organization\'s monthly AI budget: the budget, this month\'s spend and holds, the month-end projection, the state',
      response: { 200: BudgetView, ...problems }
    }
  }, async (request) => budgetView(deps, request.params.orgId, new Date()))

  api.put('/v1/orgs/:orgId/ai/budget', {
    schema: {
      tags: ['ai'], security: BEARER, 'x-permission': AI_MANAGE, params: OrgParams,
      summary: 'Sets the organization\'s monthly AI budget, within its plan\'s, with a reason',
      description: 'From 0 (the assistant is off) to the plan\'s budget (else 400 ai.invalid_budget); null goes back to the ' +
        'plan\'s. Recorded as ai.budget.set (nothing when nothing changes); raising it above what is spent unblocks a blocked ' +
        'month (ai.budget.unblocked), lowering it may cross thresholds or block.',
      body: SetBudgetBody,
      response: { 200: BudgetView.extend({ position: Position }), ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    return setBudget(deps, commandMetadata(request, orgId), orgId, request.body)
  })
}
