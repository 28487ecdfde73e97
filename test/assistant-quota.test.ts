/**
 * The assistant's quotas on PGlite and PostgreSQL: requests per minute per
 * member counted atomically (20 concurrent admits with a limit of N: exactly
 * N pass, for N around 20), the minute window's last millisecond and the next
 * one, members counted apart, 0 refusing all; tokens per day read from the
 * day's usage, refused at the limit until UTC midnight; the quota settings
 * routes (ai:manage, bounds, null back to the plan's default, a save that
 * changes nothing records nothing).
 */
import t, { type Test } from 'tap'
import { AiQuotaExceeded, type AiQuotas } from '../src/application/assistant/quotas.ts'
import { PLAN_QUOTAS, quotaStreamId } from '../src/domain/assistant/quota.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { recordUsage } from './helpers/assistant-usage.ts'
import { problem } from './helpers/http.ts'
import { openToolsApp, type Person, type ToolsApp } from './helpers/tools-http.ts'

const MINUTE = 60_000
/** A minute boundary well inside today (UTC), so windows never straddle a day. */
const minuteStart = (k: number): number => Math.floor(Date.now() / 86_400_000) * 86_400_000 + 3_600_000 + k * MINUTE

t.test('assistant quotas', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await openToolsApp(t, sql)
    const people = {
      member: await w.member('member', ['member']),
      other: await w.member('other', ['member']),
      admin: await w.member('admin', ['admin'])
    }
    await w.settled()
    await t.test('of 20 concurrent requests with a limit of N, exactly N pass (N = 1, 7, 19, 20, 21)',
      (t) => concurrent(t, w, people.member))
    await t.test('a window counts to its last millisecond; the next minute starts afresh', (t) => boundaries(t, w, people))
    await t.test('a limit of 0 refuses every request and counts none', (t) => zero(t, w, people.member))
    await t.test('tokens per day: admitted under the limit, refused at it until UTC midnight', (t) => tokensPerDay(t, w, people.other))
    await t.test('the quota settings routes', (t) => settingsRoutes(t, w, people))
  })
})

const quotasOf = (w: ToolsApp): AiQuotas => w.api.runtime.assistantUsage.quotas

async function setQuota (t: Test, w: ToolsApp, body: Record<string, unknown>): Promise<void> {
  const response = await w.api.call('PUT', `/v1/orgs/${w.orgId}/ai/quotas`, { body })
  t.equal(response.statusCode, 200, JSON.stringify(body))
}

async function windowRows (w: ToolsApp, userId: string): Promise<Array<{ start: number, requests: number }>> {
  const { rows } = await w.api.runtime.sql.query<{ window_start: Date | string, requests: number }>(
    'SELECT window_start, requests FROM ai_quota_windows WHERE org_id = $1 AND user_id = $2 ORDER BY window_start', [w.orgId, userId])
  return rows.map((row) => ({ start: new Date(row.window_start).getTime(), requests: row.requests }))
}

/** Admits `n` requests of `userId` at once; the outcomes in order. */
async function admitAll (w: ToolsApp, userId: string, n: number, now: Date): Promise<Array<PromiseSettledResult<void>>> {
  return Promise.allSettled(Array.from({ length: n }, () => quotasOf(w).admit(w.orgId, userId, now)))
}

async function concurrent (t: Test, w: ToolsApp, member: Person): Promise<void> {
  for (const [k, limit] of [1, 7, 19, 20, 21].entries()) {
    await setQuota(t, w, { requestsPerMinute: limit })
    const start = minuteStart(k)
    const outcomes = await admitAll(w, member.userId, 20, new Date(start + 10_000))
    const passed = outcomes.filter((outcome) => outcome.status === 'fulfilled').length
    t.equal(passed, Math.min(limit, 20), `limit ${limit}: ${passed} of 20 passed`)
    for (const outcome of outcomes) {
      if (outcome.status === 'fulfilled') continue
      t.ok(outcome.reason instanceof AiQuotaExceeded, 'refused as ai.quota_exceeded')
      t.match(outcome.reason,
        { code: 'ai.quota_exceeded', status: 429, details: { quota: 'requests_per_minute', limit, retryAfterSeconds: 50 } })
    }
    t.same(await windowRows(w, member.userId), [{ start, requests: Math.min(limit, 20) }], 'one row: this minute, as many as passed')
  }
}

async function boundaries (t: Test, w: ToolsApp, people: Record<string, Person>): Promise<void> {
  const { userId } = people.admin!
  await setQuota(t, w, { requestsPerMinute: 2 })
  const start = minuteStart(10)
  await quotasOf(w).admit(w.orgId, userId, new Date(start))
  await quotasOf(w).admit(w.orgId, userId, new Date(start + 1))
  const full = await quotasOf(w).admit(w.orgId, userId, new Date(start + 2)).catch((error: unknown) => error)
  t.match(full, { code: 'ai.quota_exceeded', details: { retryAfterSeconds: 60 } }, 'refused at the window\'s start: a minute to wait')
  const last = await quotasOf(w).admit(w.orgId, userId, new Date(start + MINUTE - 1)).catch((error: unknown) => error)
  t.match(last, { code: 'ai.quota_exceeded', details: { retryAfterSeconds: 1 } }, 'the last millisecond is still the full window')
  await quotasOf(w).admit(w.orgId, userId, new Date(start + MINUTE))
  t.same(await windowRows(w, userId), [{ start: start + MINUTE, requests: 1 }], 'the next minute counts afresh; the old window is gone')
  await quotasOf(w).admit(w.orgId, people.other!.userId, new Date(start + MINUTE))
  await quotasOf(w).admit(w.orgId, people.other!.userId, new Date(start + MINUTE))
  await quotasOf(w).admit(w.orgId, userId, new Date(start + MINUTE + 1))
  t.same((await windowRows(w, userId)).map((row) => row.requests), [2], 'another member\'s requests do not count against this one')
}

async function zero (t: Test, w: ToolsApp, member: Person): Promise<void> {
  await setQuota(t, w, { requestsPerMinute: 0 })
  const outcomes = await admitAll(w, member.userId, 3, new Date(minuteStart(20)))
  t.same(outcomes.map((outcome) => outcome.status), ['rejected', 'rejected', 'rejected'])
  t.same((await windowRows(w, member.userId)).filter((row) => row.start === minuteStart(20)), [], 'nothing counted')
}

async function tokensPerDay (t: Test, w: ToolsApp, member: Person): Promise<void> {
  const { store } = w.api.runtime
  await setQuota(t, w, { requestsPerMinute: 1000, tokensPerDay: 1000 })
  const now = new Date()
  const midnight = Math.floor(now.getTime() / 86_400_000) * 86_400_000 + 86_400_000
  await recordUsage(store, { orgId: w.orgId, userId: member.userId, inputTokens: 900, cachedInputTokens: 400, outputTokens: 99 })
  await w.settled()
  await quotasOf(w).admit(w.orgId, member.userId, now)
  t.pass('999 of 1000 tokens used: admitted')
  // Another member's usage counts too: the limit is the organization's.
  await recordUsage(store, { orgId: w.orgId, userId: w.api.owner.userId, inputTokens: 1, outputTokens: 0 })
  await w.settled()
  const counted = (await windowRows(w, member.userId)).at(-1)?.requests
  const refused = await quotasOf(w).admit(w.orgId, member.userId, now).catch((error: unknown) => error)
  t.match(refused, { code: 'ai.quota_exceeded', details: { quota: 'tokens_per_day', limit: 1000,
    retryAfterSeconds: Math.ceil((midnight - now.getTime()) / 1000) } }, '1000 of 1000: refused until midnight')
  t.equal((await windowRows(w, member.userId)).at(-1)?.requests, counted, 'a refused request takes no slot of the minute')
  const lastMs = await quotasOf(w).admit(w.orgId, member.userId, new Date(midnight - 1)).catch((error: unknown) => error)
  t.match(lastMs, { details: { quota: 'tokens_per_day', retryAfterSeconds: 1 } }, 'still refused at 23:59:59.999')
  await quotasOf(w).admit(w.orgId, member.userId, new Date(midnight))
  t.pass('admitted at midnight UTC: a new day')
  await recordUsage(w.api.runtime.store, { orgId: (await w.api.newOwner('quota-b@b.example')).orgId, userId: 'x', inputTokens: 5000 })
  t.equal(await import('../src/projections/assistant/usage-queries.ts')
    .then(async ({ tokensUsedOn }) => tokensUsedOn(w.api.runtime.sql, w.orgId, now.toISOString().slice(0, 10))), 1000,
  'another organization\'s usage is not counted')
}

async function settingsRoutes (t: Test, w: ToolsApp, people: Record<string, Person>): Promise<void> {
  const url = `/v1/orgs/${w.orgId}/ai/quotas`
  const reset = await w.api.call('PUT', url, { body: { requestsPerMinute: null, tokensPerDay: null } })
  t.equal(reset.statusCode, 200)
  t.match(reset.json(), { plan: 'free', defaults: PLAN_QUOTAS.free, overrides: { requestsPerMinute: null, tokensPerDay: null },
    limits: PLAN_QUOTAS.free, today: { day: new Date().toISOString().slice(0, 10), tokens: Number } }, 'null: the plan\'s defaults')
  t.type(reset.json().position, 'string', 'a change is recorded')
  const set = await w.api.call('PUT', url, { body: { tokensPerDay: 5000 } })
  t.match(set.json(), { overrides: { requestsPerMinute: null, tokensPerDay: 5000 },
    limits: { requestsPerMinute: PLAN_QUOTAS.free.requestsPerMinute, tokensPerDay: 5000 } }, 'an absent field stays as it was')
  const again = await w.api.call('PUT', url, { body: { tokensPerDay: 5000 } })
  t.equal(again.statusCode, 200)
  t.equal(again.json().position, null, 'setting what is set records nothing')
  const read = await w.api.call('GET', url, { token: people.admin!.token })
  t.equal(read.statusCode, 200, 'an admin holds ai:manage')
  t.same(read.json().limits, { requestsPerMinute: PLAN_QUOTAS.free.requestsPerMinute, tokensPerDay: 5000 })
  const events = await w.api.runtime.store.readStream(quotaStreamId(w.orgId))
  t.match(events.at(-1), { type: 'ai.quotas.changed', data: { requestsPerMinute: null, tokensPerDay: 5000 },
    metadata: { actor: { type: 'user', id: w.api.owner.userId }, orgId: w.orgId } }, 'the change names who made it, for the audit log')
  await w.settled()
  const audit = await w.api.call('GET', `/v1/orgs/${w.orgId}/audit-events?action=ai.quotas.changed&sort=asc&limit=100`)
  t.equal(audit.statusCode, 200, audit.body)
  const rows = audit.json().items as Array<{ actorId: string, targetType: string, targetId: string, diff: Record<string, unknown> }>
  t.match(rows.at(-1), { actorId: w.api.owner.userId, targetType: 'ai_quotas', targetId: w.orgId,
    diff: { tokensPerDay: { after: 5000 } } }, 'the audit log shows the change')
  t.same(Object.keys(rows.at(-1)!.diff), ['tokensPerDay'], 'only what changed')

  problem(t, await w.api.call('GET', url, { token: people.member!.token }), 403, 'auth.forbidden')
  problem(t, await w.api.call('PUT', url, { token: people.member!.token, body: { tokensPerDay: 1 } }), 403, 'auth.forbidden')
  const bad: unknown[] = [{}, { requestsPerMinute: -1 }, { requestsPerMinute: 10_001 }, { tokensPerDay: 10_000_000_001 },
    { requestsPerMinute: 1.5 }, { requestsPerMinute: '5' }, { tokensPerDay: 5, extra: 1 }, [], null]
  for (const body of bad) problem(t, await w.api.call('PUT', url, { body }), 400, 'http.validation')
  const edges = await w.api.call('PUT', url, { body: { requestsPerMinute: 10_000, tokensPerDay: 10_000_000_000 } })
  t.equal(edges.statusCode, 200, 'the maxima themselves are allowed')
  t.equal((await w.api.runtime.store.readStream(quotaStreamId(w.orgId))).length, events.length + 1, 'refusals recorded nothing')
  const other = await w.api.newOwner('quota-other@c.example')
  problem(t, await w.api.call('GET', `/v1/orgs/${other.orgId}/ai/quotas`), 404, 'org.not_found')
}
