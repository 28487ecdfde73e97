/**
 * The AI budgets' top offenders, for platform admins: `GET /v1/admin/ai/budgets`
 * lists organizations by burn rate, highest first (docs/ai-budgets.md, "Burn
 * rates"). Anyone who is not a platform admin gets 403, like the other
 * platform administration routes, and an impersonation never reaches it.
 *
 * `over` is a factor (`14.4x`, `6x`, `1x`, or any positive number, with or
 * without `x`). Without `window`, the factor of a rule asks for that rule
 * (both its windows); any other factor is over 1h. Without `over`, every
 * organization that spent in the window. Each page is evaluated afresh, so
 * the list reads one query however many organizations spend.
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { burnPage } from '../../application/assistant/burn-rates.ts'
import {
  BURN_RULE_NAMES, BURN_WINDOWS, burnSelection, FACTOR_PATTERN, parseFactor
} from '../../domain/assistant/burn-rate.ts'
import { cursorCodec } from '../../domain/cursor.ts'
import type { Runtime } from '../../runtime.ts'
import { cursorParam, pageLimit } from '../query.ts'
import { BEARER, Id, problems } from '../schemas.ts'
import { requirePlatformAdmin } from './users.ts'

/** The offenders, highest burn first: the last one's burn over the list's window, and its id. */
export const burnCursor = cursorCodec('ai-budgets.1', z.object({ burn: z.number().min(0), orgId: Id }).strict())

const micros = z.number().int().describe('micro-units of currency (1 USD = 1,000,000)')
const Rates = z.object(Object.fromEntries(BURN_WINDOWS.map((window) => [window, z.number()])) as Record<typeof BURN_WINDOWS[number],
  z.ZodNumber>).describe('spend in each window over an even spend of the budget across this UTC month (1: spent exactly by its end)')

const Offender = z.object({
  orgId: z.string(), name: z.string(), plan: z.string(),
  budgetMicros: micros.describe('the budget in force: the organization\'s own, or its plan\'s'),
  spentMicros: micros.describe('settled this month'),
  blocked: z.boolean().describe('blocked this month: the budget is spent'),
  burnRates: Rates,
  rulesTripped: z.array(z.enum(BURN_RULE_NAMES as [string, ...string[]]))
})

const ListQuery = z.object({
  over: z.string().regex(FACTOR_PATTERN, 'a factor such as 14.4x, 6x or 1x').refine((text) => parseFactor(text) !== undefined,
    'a factor above 0').optional()
    .describe('burn rate above this factor; 14.4x, 6x and 1x without window ask for page_1h, page_6h and ticket_3d'),
  window: z.enum(BURN_WINDOWS).optional().describe('the window the factor applies to (1h when over is not a rule\'s factor)'),
  limit: pageLimit(200, 50),
  cursor: cursorParam.optional().describe('nextCursor of the previous page, with the same over and window')
}).strict()

export async function adminAiBudgetRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()
  const deps = { sql: runtime.sql, plans: runtime.config.ai.budgets.plans }

  api.get('/v1/admin/ai/budgets', {
    schema: {
      tags: ['platform admin'], security: BEARER, querystring: ListQuery,
      summary: 'Organizations by AI budget burn rate, highest first, with the multiwindow rules they trip (platform admins)',
      response: {
        200: z.object({
          over: z.number().nullable(), window: z.enum(BURN_WINDOWS),
          rule: z.enum(BURN_RULE_NAMES as [string, ...string[]]).nullable().describe('the rule the factor asks for, if any'),
          evaluatedAt: z.string(), items: z.array(Offender), nextCursor: z.string().nullable()
        }),
        ...problems
      }
    }
  }, async (request) => {
    requirePlatformAdmin(request)
    const { over, window, limit, cursor } = request.query
    const after = cursor === undefined ? undefined : burnCursor.decode(cursor)
    const factor = over === undefined ? undefined : parseFactor(over)
    const selection = burnSelection(factor ?? 0, window)
    const page = await burnPage(deps, { selection, limit, after }, new Date())
    return {
      over: factor ?? null, window: selection.window, rule: selection.rule, evaluatedAt: page.evaluatedAt.toISOString(),
      items: page.items, nextCursor: page.next === undefined ? null : burnCursor.encode(page.next)
    }
  })
}
