/**
 * Zero overspend under concurrency, on PGlite and PostgreSQL: 200 assistant
 * requests at once on one organization whose budget pays for about 50 of
 * them. Every request is admitted or refused with 402 `ai.budget_exhausted`;
 * the fake upstream received exactly the admitted ones (a refusal never
 * reached it), each with the output cap as `max_tokens`; the settled costs sum
 * to at most the budget, and the month's row agrees with the usage records.
 */
import t, { type Test } from 'tap'
import { utcMonth } from '../src/domain/assistant/budget.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { readEvents, startAssistantApp, type AssistantApp } from './helpers/assistant.ts'
import { until } from './helpers/jobs-harness.ts'
import { budgetUsage, ONE_MICRO_PER_TOKEN } from './helpers/ai-budgets.ts'

const REQUESTS = 200
const MAX_TOKENS = 50
/** What each admitted request costs: 1 input token and its whole output cap, at a micro-unit a token. */
const COST = 1 + MAX_TOKENS
const BUDGET = 50 * COST

t.test('200 concurrent requests on a budget for about 50: no overspend, every refusal before the upstream', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await startAssistantApp(t, sql, { env: { AI_MAX_OUTPUT_TOKENS: String(MAX_TOKENS), AI_PRICES: ONE_MICRO_PER_TOKEN } })
    await prepare(t, w)
    const conversations = await Promise.all(Array.from({ length: REQUESTS }, () => w.conversation()))
    w.fake.enqueue(...Array.from({ length: REQUESTS }, () => ({
      text: ['a', 'b'], usage: { prompt_tokens: 1, completion_tokens: MAX_TOKENS }
    })))
    const answers = await Promise.all(conversations.map(async (conversationId) => {
      const response = await w.send(conversationId, 'hello')
      if (response.status === 200) return { status: 200, body: await readEvents(response) }
      return { status: response.status, body: await response.json() as { code: string } }
    }))
    const admitted = answers.filter((answer) => answer.status === 200).length
    const refused = answers.filter((answer) => answer.status === 402)
    t.equal(admitted + refused.length, REQUESTS, `${admitted} admitted, ${refused.length} refused with 402, none otherwise`)
    t.ok(refused.every((answer) => (answer.body as { code: string }).code === 'ai.budget_exhausted'), 'refused as ai.budget_exhausted')
    t.ok(admitted >= 1 && admitted <= 50, `at most the 50 the budget pays for were admitted (${admitted})`)
    t.ok(refused.length >= REQUESTS - 50, 'the rest were refused')
    const month = utcMonth(new Date())
    const figures = await until('every reservation settled', async () => {
      const now = await w.runtime.assistantUsage.budgets.month(w.orgId, month)
      return now.reservedMicros === 0 && now
    })
    t.equal(w.fake.requests.length, admitted, 'the upstream received the admitted requests only: every refusal came before it')
    t.ok(w.fake.requests.every((request) => request.body?.max_tokens === MAX_TOKENS), 'each with the output cap as max_tokens')
    const usage = await budgetUsage(w, month)
    t.equal(usage.responses, admitted, 'one usage record per admitted response')
    t.ok(usage.costMicros <= BUDGET, `settled ${usage.costMicros} of a budget of ${BUDGET}: no overspend`)
    t.equal(figures.spentMicros, usage.costMicros, 'the month\'s spent is the sum of the recorded costs')
  })
})

async function prepare (t: Test, w: AssistantApp): Promise<void> {
  const quotas = await w.api.call('PUT', `/v1/orgs/${w.orgId}/ai/quotas`, { body: { requestsPerMinute: 10_000, tokensPerDay: 1e10 } })
  t.equal(quotas.statusCode, 200, 'quotas out of the way')
  const budget = await w.api.call('PUT', `/v1/orgs/${w.orgId}/ai/budget`, { body: { monthlyMicros: BUDGET, reason: 'the test' } })
  t.equal(budget.statusCode, 200, budget.body)
}
