/**
 * Monthly AI budgets on PGlite and PostgreSQL: the settings routes (the plan's
 * budget, a budget within it with a reason, audited); a budget raised while
 * the organization is blocked; a month boundary with an injected clock; and a
 * process that died holding reservations, reconciled from the log, its totals
 * agreeing with a rebuild of the usage read model.
 */
import t, { type Test } from 'tap'
import { budgetStreamId, utcMonth } from '../src/domain/assistant/budget.ts'
import { conversationDecider } from '../src/domain/assistant/conversation.ts'
import { conversationStreamId } from '../src/domain/assistant/events.ts'
import { handleCommand } from '../src/domain/decider.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { usageProjection } from '../src/projections/assistant/usage.ts'
import { rebuildProjection } from '../src/projections/rebuild.ts'
import { budgetUsage, ONE_MICRO_PER_TOKEN } from './helpers/ai-budgets.ts'
import { readEvents, startAssistantApp, type AssistantApp } from './helpers/assistant.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { problem } from './helpers/http.ts'
import { until } from './helpers/jobs-harness.ts'

const MAX_TOKENS = 50
const TTL_MS = 60_000
const url = (w: AssistantApp): string => `/v1/orgs/${w.orgId}/ai/budget`

t.test('AI budgets', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await startAssistantApp(t, sql, {
      env: { AI_MAX_OUTPUT_TOKENS: String(MAX_TOKENS), AI_PRICES: ONE_MICRO_PER_TOKEN, AI_BUDGET_RESERVATION_TTL_MS: String(TTL_MS) }
    })
    const quotas = await w.api.call('PUT', `/v1/orgs/${w.orgId}/ai/quotas`, { body: { requestsPerMinute: 10_000 } })
    t.equal(quotas.statusCode, 200)
    await t.test('the settings routes: the plan\'s budget, one within it with a reason, audited', (t) => routes(t, w))
    await t.test('a budget raised while blocked unblocks the month', (t) => raisedWhileBlocked(t, w))
    await t.test('a month boundary: the next month starts unblocked with nothing spent', (t) => monthBoundary(t, w))
    await t.test('reservations of a dead process expire and are reconciled from the log', (t) => crash(t, w, sql))
  })
})

async function routes (t: Test, w: AssistantApp): Promise<void> {
  const before = await w.api.call('GET', url(w))
  t.equal(before.statusCode, 200, before.body)
  t.match(before.json(), { plan: 'free', month: utcMonth(new Date()), planMicros: 10_000_000, monthlyMicros: null,
    budgetMicros: 10_000_000, spentMicros: 0, reservedMicros: 0, projectedMonthEndMicros: 0, state: 'active', thresholdsCrossed: [] })
  const set = await w.api.call('PUT', url(w), { body: { monthlyMicros: 1_000_000, reason: 'a pilot month' } })
  t.equal(set.statusCode, 200, set.body)
  t.match(set.json(), { monthlyMicros: 1_000_000, budgetMicros: 1_000_000, state: 'active' })
  t.type(set.json().position, 'string', 'the change\'s position')
  const again = await w.api.call('PUT', url(w), { body: { monthlyMicros: 1_000_000, reason: 'again' } })
  t.equal(again.json().position, null, 'the same budget again records nothing')
  const events = await w.runtime.store.readStream(budgetStreamId(w.orgId))
  t.match(events, [{ type: 'ai.budget.set', data: { monthlyMicros: 1_000_000, reason: 'a pilot month' },
    metadata: { actor: { type: 'user', id: w.owner.userId }, orgId: w.orgId } }])
  t.equal(events.length, 1)
  await w.settled()
  const audit = await w.api.call('GET', `/v1/orgs/${w.orgId}/audit-events?action=ai.budget.set&limit=10`)
  t.match(audit.json().items, [{ actorId: w.owner.userId, targetType: 'ai_budget', targetId: w.orgId,
    diff: { monthlyMicros: { before: null, after: 1_000_000 }, reason: { after: 'a pilot month' } } }], 'the audit log shows it')
  problem(t, await w.api.call('PUT', url(w), { body: { monthlyMicros: 10_000_001, reason: 'more' } }), 400, 'ai.invalid_budget')
  for (const body of [{ monthlyMicros: 5 }, { monthlyMicros: 5, reason: '' }, { monthlyMicros: -1, reason: 'x' }, { reason: 'x' }]) {
    problem(t, await w.api.call('PUT', url(w), { body }), 400, 'http.validation')
  }
  problem(t, await w.api.call('GET', url(w), { token: w.member.token }), 403, 'auth.forbidden')
  problem(t, await w.api.call('GET', `/v1/orgs/${w.outsider.orgId}/ai/budget`), 404, 'org.not_found')
}

/**
 * Sends one message in a new conversation; its status and body. With `promptTokens` the upstream answers, counting
 * them in; without, the request is expected to be refused (if it reached the upstream, the fake would answer 500).
 */
async function ask (w: AssistantApp, promptTokens?: number): Promise<{ status: number, body: unknown }> {
  if (promptTokens !== undefined) w.fake.enqueue({ text: ['ok'], usage: { prompt_tokens: promptTokens, completion_tokens: MAX_TOKENS } })
  const response = await w.send(await w.conversation(), 'hello')
  return { status: response.status, body: response.status === 200 ? await readEvents(response) : await response.json() }
}

const settledMonth = (w: AssistantApp) => until('every reservation settled', async () => {
  const figures = await w.runtime.assistantUsage.budgets.month(w.orgId, utcMonth(new Date()))
  return figures.reservedMicros === 0 && figures
})

const budgetTypes = async (w: AssistantApp): Promise<string[]> =>
  (await w.runtime.store.readStream(budgetStreamId(w.orgId))).map((event) => event.type)

async function raisedWhileBlocked (t: Test, w: AssistantApp): Promise<void> {
  const { spentMicros } = await settledMonth(w)
  t.equal(spentMicros, 0, 'nothing spent yet')
  const seen = (await budgetTypes(w)).length
  const put = (monthlyMicros: number, reason: string) => w.api.call('PUT', url(w), { body: { monthlyMicros, reason } })
  t.match((await put(0, 'nothing for now')).json(), { state: 'blocked', thresholdsCrossed: [50, 80, 100] }, 'a budget of 0 blocks')
  const probe = await ask(w)
  t.match(probe, { status: 402, body: { code: 'ai.budget_exhausted', blocked: true } }, 'refused while blocked')
  t.equal(w.fake.requests.length, 0, 'before the upstream')
  // What one request reserves: the output cap and the input as our tokenizer counts it; the upstream counts it the same.
  const estimate = (probe.body as { estimateMicros: number }).estimateMicros
  t.ok(estimate > MAX_TOKENS, `one request is estimated at ${estimate}`)
  t.match((await put(2 * estimate, 'two requests')).json(), { state: 'active' }, 'raised: unblocked')
  t.same([(await ask(w, estimate - MAX_TOKENS)).status, (await ask(w, estimate - MAX_TOKENS)).status], [200, 200], 'two requests fit')
  t.equal((await settledMonth(w)).spentMicros, 2 * estimate, 'each settled to its cost, the whole budget')
  t.match(await ask(w), { status: 402, body: { code: 'ai.budget_exhausted', blocked: true } }, 'the third is refused: blocked')
  t.equal(w.fake.requests.length, 2, 'before the upstream')
  t.match((await w.api.call('GET', url(w))).json(), { state: 'blocked', spentMicros: 2 * estimate, budgetMicros: 2 * estimate })
  const raised = await put(10 * estimate, 'raised for the demo')
  t.match(raised.json(), { state: 'active', thresholdsCrossed: [50, 80, 100] })
  t.same((await budgetTypes(w)).slice(seen), [
    'ai.budget.set', 'ai.budget.threshold_crossed', 'ai.budget.threshold_crossed', 'ai.budget.threshold_crossed', 'ai.budget.exhausted',
    'ai.budget.set', 'ai.budget.unblocked', 'ai.budget.exhausted', 'ai.budget.set', 'ai.budget.unblocked'
  ], 'each threshold once in the month; each block and unblock an event')
  t.equal((await ask(w, 1)).status, 200, 'admitted again')
  await settledMonth(w)
}

async function monthBoundary (t: Test, w: AssistantApp): Promise<void> {
  const budgets = w.runtime.assistantUsage.budgets
  const budget = (await w.api.call('GET', url(w))).json().budgetMicros as number
  const conversationId = await w.conversation()
  const at = (iso: string, responseId: string, estimateMicros: number) => budgets.reserve({
    orgId: w.orgId, conversationId, responseId, month: utcMonth(new Date(iso)), estimateMicros, now: new Date(iso)
  })
  await at('2030-01-31T23:59:59.999Z', 'rsp_boundary_jan', budget)
  await t.rejects(at('2030-01-31T23:59:59.999Z', 'rsp_boundary_jan2', 1), { code: 'ai.budget_exhausted', status: 402 },
    'January is fully held')
  await budgets.settle('rsp_boundary_jan', budget)
  t.match(await budgets.month(w.orgId, '2030-01'), { spentMicros: budget, reservedMicros: 0 })
  await t.rejects(at('2030-01-31T23:59:59.999Z', 'rsp_boundary_jan3', 1), { code: 'ai.budget_exhausted', details: { blocked: true } },
    'January is spent and blocked to its last millisecond')
  await at('2030-02-01T00:00:00.000Z', 'rsp_boundary_feb', 1)
  t.match(await budgets.month(w.orgId, '2030-02'), { spentMicros: 0, reservedMicros: 1 }, 'February starts afresh: no job reset it')
  await budgets.settle('rsp_boundary_feb', 0)
}

async function crash (t: Test, w: AssistantApp, sql: Parameters<typeof rebuildProjection>[0]['sql']): Promise<void> {
  const budgets = w.runtime.assistantUsage.budgets
  const month = utcMonth(new Date())
  await settledMonth(w)
  const usageBefore = await budgetUsage(w, month)
  t.equal((await w.api.call('PUT', url(w), { body: { monthlyMicros: null, reason: 'the plan\'s' } })).statusCode, 200)
  // 1. Died between recording a response's usage and settling it.
  // Its settlement is skipped, and the real one is put back only once it was: the answer's status comes before the
  // response records its usage and settles, so putting it back when the usage shows could let the settlement through.
  const settle = budgets.settle.bind(budgets)
  let skip: () => void = () => {}
  const skipped = new Promise<void>((resolve) => { skip = resolve })
  budgets.settle = async () => { skip() }
  t.equal((await ask(w, 1)).status, 200)
  await skipped
  budgets.settle = settle
  await until('the usage recorded', async () => (await budgetUsage(w, month)).responses === usageBefore.responses + 1)
  // 2. Died while its response streamed: the response started on a node that is gone, nothing recorded since.
  const dead = await w.conversation()
  const metadata = { ...systemCommand('dead-node'), orgId: w.orgId }
  const hold = (responseId: string, estimateMicros: number) =>
    budgets.reserve({ orgId: w.orgId, conversationId: dead, responseId, month, estimateMicros, now: new Date() })
  await hold('rsp_dead_streaming', 99)
  await handleCommand(w.runtime.store, conversationDecider, conversationStreamId(dead), {
    type: 'Ask',
    data: { message: { messageId: 'msg_dead_message', text: 'hello' }, responseId: 'rsp_dead_streaming', model: 'gpt-test', node: 'gone' }
  }, metadata)
  // 3. Died after reserving, before its response was written.
  await hold('rsp_dead_unwritten', 77)
  const held = await budgets.month(w.orgId, month)
  t.ok(held.reservedMicros >= 99 + 77, 'the dead process\'s holds are held')

  t.equal(await w.runtime.assistant.reconcileBudgets(new Date()), 0, 'nothing has expired yet')
  const later = new Date(Date.now() + TTL_MS + w.runtime.config.ai.abandonedAfterMs + 1000)
  t.equal(await w.runtime.assistant.reconcileBudgets(later), 3, 'the three holds expired')
  const { rows } = await w.runtime.sql.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM ai_budget_reservations WHERE org_id = $1', [w.orgId])
  t.equal(rows[0]!.n, 0, 'no reservation is left')
  const after = await budgets.month(w.orgId, month)
  const usage = await budgetUsage(w, month)
  t.equal(usage.responses, usageBefore.responses + 2, 'the abandoned response was charged its estimate; the unwritten one nothing')
  t.same(after, { spentMicros: usage.costMicros, reservedMicros: 0 }, 'spent is the log\'s recorded cost; nothing is held')
  await w.settled()
  await rebuildProjection({ sql, store: w.runtime.store, projection: usageProjection })
  const { rows: rebuilt } = await w.runtime.sql.query<{ cost: string }>(
    `SELECT coalesce(sum(cost_micros), 0)::text AS cost FROM ai_usage
      WHERE org_id = $1 AND to_char(day, 'YYYY-MM') = $2`, [w.orgId, month])
  t.equal(Number(rebuilt[0]!.cost), after.spentMicros, 'and so is the rebuilt usage read model\'s')
}
