/**
 * The assistant's usage on PGlite and PostgreSQL: the `ai_usage` projection
 * (sums per organization, UTC day, member and model; the day turns at UTC
 * midnight, 23:59:59.999 and 00:00:00.000 on either side), and
 * `GET /v1/orgs/:orgId/ai/usage` at 0, 1 and a few hundred records, grouped,
 * filtered, in keyset pages at the page size ± 1, read by whom it may be, and
 * refusing bad query strings with problem+json.
 */
import t, { type Test } from 'tap'
import type { UsageRecorded } from '../src/domain/assistant/events.ts'
import type { RecordedEvent } from '../src/eventstore/types.ts'
import { usageProjection } from '../src/projections/assistant/usage.ts'
import type { SqlClient } from '../src/sql/client.ts'
import { forEachDatabase, scaleDriver } from './helpers/databases.ts'
import { recordUsage } from './helpers/assistant-usage.ts'
import { problem } from './helpers/http.ts'
import { openToolsApp, type Person, type ToolsApp } from './helpers/tools-http.ts'

interface Figures { inputTokens: number, cachedInputTokens: number, outputTokens: number, costMicros: number,
  responses: number, estimatedResponses: number }
interface Item extends Figures { day?: string, userId?: string, model?: string }
interface Report {
  from: string, to: string, groupBy: string[], currency: string, totals: Figures, items: Item[], nextCursor: string | null
}

const ZERO: Figures = { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, costMicros: 0, responses: 0, estimatedResponses: 0 }
const today = (): string => new Date().toISOString().slice(0, 10)

t.test('the ai_usage projection puts a record on the UTC day it was stored', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => projectionDays(t, sql))
})

t.test('the usage route', async (t) => {
  await forEachDatabase(t, async (t, { sql, driver }) => {
    const w = await openToolsApp(t, sql)
    const people = {
      member: await w.member('member', ['member']),
      other: await w.member('other', ['member']),
      admin: await w.member('admin', ['admin']),
      viewer: await w.member('viewer', ['viewer'])
    }
    await w.settled()
    await t.test('no usage: no items, totals at zero', (t) => empty(t, w))
    await t.test('one response: one item with its figures', (t) => one(t, w, people))
    await t.test('a member reads their own usage; ai:manage reads everyone\'s', (t) => readers(t, w, people))
    await t.test('days, members and models grouped, filtered by day range, in pages at the size ± 1', (t) => pages(t, w))
    await t.test('bad query strings are problem+json', (t) => refusals(t, w))
    if (driver === scaleDriver()) {
      await t.test('300 responses sum to the same totals however they are grouped', (t) => hundreds(t, w, people))
    }
  })
})

function usageEvent (data: Partial<UsageRecorded>, recordedAt: string, n: number): RecordedEvent {
  return {
    id: `00000000-0000-4000-8000-${n.toString().padStart(12, '0')}`, type: 'ai.usage.recorded',
    streamId: 'conversation-cnv_boundary0',
    streamVersion: BigInt(n), position: { commit: 1n, position: BigInt(n) } as unknown as RecordedEvent['position'],
    data: { responseId: `rsp_boundary${n.toString().padStart(4, '0')}`, conversationId: 'cnv_boundary0', orgId: 'org_a', userId: 'u1',
      model: 'm', inputTokens: 10, outputTokens: 1, cachedInputTokens: 2, source: 'provider', costMicros: 5, currency: 'USD', ...data },
    metadata: { eventId: '', occurredAt: recordedAt, actor: { type: 'system', id: 'test' }, traceId: '', commandId: '' },
    recordedAt: new Date(recordedAt)
  } as RecordedEvent
}

async function projectionDays (t: Test, sql: SqlClient): Promise<void> {
  const rows = await sql.transaction(async (tx) => {
    await tx.exec(`CREATE SCHEMA usage_days; SET LOCAL search_path TO usage_days; ${usageProjection.setup}`)
    await usageProjection.apply([
      usageEvent({}, '2026-03-01T23:59:59.999Z', 1),
      usageEvent({ source: 'estimate', outputTokens: 3 }, '2026-03-01T12:00:00.000Z', 2),
      usageEvent({}, '2026-03-02T00:00:00.000Z', 3),
      usageEvent({ model: 'n' }, '2026-03-02T00:00:00.001Z', 4),
      usageEvent({ userId: 'u2' }, '2026-03-02T00:00:00.001Z', 5),
      usageEvent({ orgId: 'org_b' }, '2026-03-02T00:00:00.001Z', 6)
    ], tx)
    const { rows } = await tx.query(`SELECT org_id, to_char(day, 'YYYY-MM-DD') AS day, user_id, model, input_tokens::int AS input,
      cached_input_tokens::int AS cached, output_tokens::int AS output, cost_micros::int AS cost, responses, estimated
      FROM ai_usage ORDER BY org_id, day, user_id, model`)
    await tx.exec('DROP SCHEMA usage_days CASCADE')
    return rows
  })
  t.same(rows, [
    { org_id: 'org_a', day: '2026-03-01', user_id: 'u1', model: 'm', input: 20, cached: 4, output: 4, cost: 10, responses: 2,
      estimated: 1 },
    { org_id: 'org_a', day: '2026-03-02', user_id: 'u1', model: 'm', input: 10, cached: 2, output: 1, cost: 5, responses: 1, estimated: 0 },
    { org_id: 'org_a', day: '2026-03-02', user_id: 'u1', model: 'n', input: 10, cached: 2, output: 1, cost: 5, responses: 1, estimated: 0 },
    { org_id: 'org_a', day: '2026-03-02', user_id: 'u2', model: 'm', input: 10, cached: 2, output: 1, cost: 5, responses: 1, estimated: 0 },
    { org_id: 'org_b', day: '2026-03-02', user_id: 'u1', model: 'm', input: 10, cached: 2, output: 1, cost: 5, responses: 1, estimated: 0 }
  ], '23:59:59.999 is the first day, 00:00:00.000 the next; sums per organization, day, member and model')
}

const usage = (w: ToolsApp, query = '', token?: string) =>
  w.api.call('GET', `/v1/orgs/${w.orgId}/ai/usage${query === '' ? '' : `?${query}`}`, token === undefined ? {} : { token })

async function empty (t: Test, w: ToolsApp): Promise<void> {
  const response = await usage(w)
  t.equal(response.statusCode, 200)
  const body = response.json() as Report
  t.same(body, { from: body.from, to: today(), groupBy: ['day', 'member'], currency: 'USD', totals: ZERO, items: [], nextCursor: null })
  t.equal((Date.parse(body.to) - Date.parse(body.from)) / 86_400_000, 29, 'the 30 days up to today by default')
}

async function one (t: Test, w: ToolsApp, people: Record<string, Person>): Promise<void> {
  await recordUsage(w.api.runtime.store, { orgId: w.orgId, userId: people.member!.userId, model: 'gpt-4o', inputTokens: 1200,
    cachedInputTokens: 200, outputTokens: 300, costMicros: 5750, source: 'estimate' })
  await w.settled()
  const body = (await usage(w)).json() as Report
  const figures = { inputTokens: 1200, cachedInputTokens: 200, outputTokens: 300, costMicros: 5750, responses: 1, estimatedResponses: 1 }
  t.same(body.items, [{ day: today(), userId: people.member!.userId, ...figures }])
  t.same(body.totals, figures)
  t.same((await usage(w, 'groupBy=model')).json().items, [{ model: 'gpt-4o', ...figures }], 'grouped by model alone')
  t.same((await usage(w, `from=${today()}&to=${today()}&groupBy=model,day,member`)).json().items,
    [{ day: today(), userId: people.member!.userId, model: 'gpt-4o', ...figures }], 'all three, in the order day, member, model')
}

async function readers (t: Test, w: ToolsApp, people: Record<string, Person>): Promise<void> {
  await recordUsage(w.api.runtime.store, { orgId: w.orgId, userId: people.other!.userId, inputTokens: 7, outputTokens: 3 })
  await w.settled()
  const own = (await usage(w, '', people.member!.token)).json() as Report
  t.same(own.items.map((item) => item.userId), [people.member!.userId], 'a member: their own usage only')
  t.equal(own.totals.inputTokens, 1200, 'and their own totals')
  t.equal((await usage(w, `userId=${people.member!.userId}`, people.member!.token)).statusCode, 200, 'naming oneself is fine')
  const forbidden = await usage(w, `userId=${people.other!.userId}`, people.member!.token)
  problem(t, forbidden, 403, 'auth.forbidden')
  t.equal(forbidden.json().action, 'ai:manage')
  const all = (await usage(w, '', people.admin!.token)).json() as Report
  t.same(all.items.map((item) => item.userId).sort(), [people.member!.userId, people.other!.userId].sort(), 'ai:manage: everyone')
  t.same((await usage(w, `userId=${people.other!.userId}`, people.admin!.token)).json().items.map((item: Item) => item.inputTokens), [7])
  problem(t, await usage(w, '', people.viewer!.token), 403, 'auth.forbidden')
  const other = await w.api.newOwner('usage-other@c.example')
  problem(t, await usage({ ...w, orgId: other.orgId }), 404, 'org.not_found')
}

/** Seeds the read model straight: days × members of one model each, in a past range no test records into. */
async function seed (w: ToolsApp, days: string[], members: string[]): Promise<void> {
  for (const day of days) {
    for (const member of members) {
      await w.api.runtime.sql.query(`INSERT INTO ai_usage (org_id, day, user_id, model, input_tokens, cached_input_tokens, output_tokens,
        cost_micros, responses, estimated) VALUES ($1, $2, $3, 'seeded', 10, 0, 1, 2, 1, 0)`, [w.orgId, day, member])
    }
  }
}

async function walk (w: ToolsApp, query: string): Promise<{ items: Item[], pages: number }> {
  const items: Item[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const response = await usage(w, `${query}${cursor === null ? '' : `&cursor=${cursor}`}`)
    const body = response.json() as Report
    items.push(...body.items)
    cursor = body.nextCursor
    pages += 1
  } while (cursor !== null && pages < 100)
  return { items, pages }
}

async function pages (t: Test, w: ToolsApp): Promise<void> {
  const days = ['2025-12-30', '2025-12-31', '2026-01-01', '2026-01-02']
  await seed(w, days, ['m-a', 'm-b', 'm-c'])
  const range = 'from=2025-12-30&to=2026-01-02'
  const byDay = (await usage(w, `${range}&groupBy=day`)).json() as Report
  t.same(byDay.items.map((item) => [item.day, item.inputTokens, item.responses]),
    days.map((day) => [day, 30, 3]), 'by day: one item a day, members summed')
  t.same(byDay.totals, { ...ZERO, inputTokens: 120, outputTokens: 12, costMicros: 24, responses: 12 })
  const newYear = (await usage(w, 'from=2026-01-01&to=2026-01-01&groupBy=day')).json() as Report
  t.same(newYear.items.map((item) => item.day), ['2026-01-01'], 'from and to are whole UTC days, both included')
  // 12 items by day and member: pages of 11, 12 and 13 around them.
  for (const [limit, expected] of [[11, 2], [12, 1], [13, 1], [1, 12], [5, 3]] as const) {
    const walked = await walk(w, `${range}&groupBy=day,member&limit=${limit}`)
    t.equal(walked.pages, expected, `limit ${limit}: ${expected} page(s)`)
    t.same(walked.items.map((item) => `${item.day} ${item.userId}`),
      days.flatMap((day) => ['m-a', 'm-b', 'm-c'].map((member) => `${day} ${member}`)), `limit ${limit}: every item once, in order`)
  }
  const first = (await usage(w, `${range}&groupBy=day,member&limit=5`)).json() as Report
  t.same(first.totals.responses, 12, 'the totals cover the whole selection on every page')
  problem(t, await usage(w, `${range}&groupBy=day&limit=5&cursor=${first.nextCursor}`), 400, 'http.invalid_cursor')
}

async function refusals (t: Test, w: ToolsApp): Promise<void> {
  const validation = ['from=2026-02-30', 'to=2026-13-01', 'from=1969-12-31', 'from=26-01-01', 'from=2026-1-1', 'groupBy=day,day',
    'groupBy=week', 'groupBy=', 'limit=0', 'limit=1001', 'limit=1e2', 'userId=a%20b', 'extra=1', `groupBy=${'day,'.repeat(20)}day`]
  for (const query of validation) problem(t, await usage(w, query), 400, 'http.validation')
  problem(t, await usage(w, 'from=2026-01-02&to=2026-01-01'), 400, 'ai.invalid_range')
  problem(t, await usage(w, 'from=2025-01-01&to=2026-01-02'), 400, 'ai.invalid_range')
  t.equal((await usage(w, 'from=2025-01-01&to=2026-01-01')).statusCode, 200, '366 days: the longest range')
  t.equal((await usage(w, 'from=2024-01-01&to=2024-12-31')).statusCode, 200, 'a leap year whole')
  const crafted = (key: string[]): string => Buffer.from(JSON.stringify(['ai-usage.1', { groupBy: ['day'], key }])).toString('base64url')
  for (const cursor of ['x', 'WyJhaS11c2FnZS4xIl0', crafted(['a', 'b']), crafted(['2026-02-30']), crafted(['not a day'])]) {
    problem(t, await usage(w, `cursor=${cursor}&groupBy=day`), 400, 'http.invalid_cursor')
  }
  const valid = crafted(['2026-01-01'])
  t.equal((await usage(w, `cursor=${valid}&groupBy=day`)).statusCode, 200, 'a well-formed cursor is read')
}

async function hundreds (t: Test, w: ToolsApp, people: Record<string, Person>): Promise<void> {
  const before = ((await usage(w, `from=${today()}&to=${today()}`)).json() as Report).totals
  const members = [people.member!, people.other!, people.admin!]
  const models = ['gpt-4o', 'gpt-4o-mini']
  for (let n = 0; n < 300; n++) {
    await recordUsage(w.api.runtime.store, { orgId: w.orgId, userId: members[n % 3]!.userId, model: models[n % 2]!,
      inputTokens: n, cachedInputTokens: Math.floor(n / 2), outputTokens: 1, costMicros: n * 3,
      source: n % 5 === 0 ? 'estimate' : 'provider' })
  }
  await w.settled()
  const range = `from=${today()}&to=${today()}`
  const sum = (n: (i: number) => number): number => Array.from({ length: 300 }, (_, i) => n(i)).reduce((a, b) => a + b, 0)
  const expected = {
    inputTokens: before.inputTokens + sum((i) => i), cachedInputTokens: before.cachedInputTokens + sum((i) => Math.floor(i / 2)),
    outputTokens: before.outputTokens + 300, costMicros: before.costMicros + sum((i) => i * 3), responses: before.responses + 300,
    estimatedResponses: before.estimatedResponses + 60
  }
  for (const groupBy of ['day', 'member', 'model', 'day,member,model']) {
    const body = (await usage(w, `${range}&groupBy=${groupBy}&limit=1000`)).json() as Report
    t.same(body.totals, expected, `${groupBy}: the totals`)
    const summed = body.items.reduce((a, item) => a + item.inputTokens, 0)
    t.equal(summed, expected.inputTokens, `${groupBy}: the items add up to the totals`)
  }
}
