/**
 * GET /v1/admin/ai/budgets, on PGlite and PostgreSQL: the organizations by
 * burn rate, highest first; `over` as a rule (14.4x, 6x, 1x) or a factor over
 * a window; keyset pages; bad input as 400 problems; platform admins only.
 */
import t from 'tap'
import { bootstrap } from '../src/application/identity/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { burningOrgs, writeLog } from './helpers/ai-burn.ts'
import { settled } from './helpers/assertions.ts'
import { forEachDatabase } from './helpers/databases.ts'

/** The four organizations of burningOrgs, and a platform admin's token. */
async function burningWorld (t: Parameters<typeof openTestApp>[0], sql: Parameters<typeof openTestApp>[1]):
  Promise<{ api: TestApp, token: string }> {
  const api = await openTestApp(t, sql)
  const staff = await bootstrap(api.runtime.identity, systemCommand('burn-api-test'),
    { email: 'staff@burn.example', orgName: 'Staff', platformAdmin: true })
  await writeLog(api.runtime.sql, burningOrgs())
  await settled(api.runtime)
  return { api, token: staff.token! }
}

interface Page {
  over: number | null, window: string, rule: string | null, evaluatedAt: string, nextCursor: string | null
  items: Array<{ orgId: string, burnRates: Record<string, number>, rulesTripped: string[] }>
}

t.test('over a rule\'s factor lists the organizations tripping it; with a window or another factor, the burn over one window',
  async (t) => {
    await forEachDatabase(t, async (t, { sql }) => {
      const { api, token } = await burningWorld(t, sql)
      const list = async (query: string): Promise<Page> => {
        const response = await api.call('GET', `/v1/admin/ai/budgets?${query}`, { token })
        t.equal(response.statusCode, 200, `${query}: ${response.body.slice(0, 200)}`)
        return response.json() as Page
      }
      const ids = (page: Page): string[] => page.items.map((item) => item.orgId)
      const fast = await list('over=14.4x')
      t.match(fast, { over: 14.4, window: '1h', rule: 'page_1h', nextCursor: null })
      t.same(ids(fast), ['org_fast'])
      t.match(fast.items[0], {
        orgId: 'org_fast', name: 'Org org_fast', plan: 'free', budgetMicros: 10_000_000, spentMicros: 0, blocked: false,
        rulesTripped: ['page_1h']
      })
      t.same(Object.keys(fast.items[0]!.burnRates), ['5m', '30m', '1h', '6h', '3d'])
      t.same(ids(await list('over=6x')), ['org_high'])
      t.match(await list('over=6'), { rule: 'page_6h', window: '6h' }, 'with or without x')
      t.same(ids(await list('over=1x')), ['org_steady'])
      const sixHours = await list('over=1x&window=6h')
      t.match(sixHours, { over: 1, window: '6h', rule: null })
      t.same(ids(sixHours), ['org_high', 'org_fast', 'org_steady'], 'over 1 over 6h, highest first')
      t.same(ids(await list('over=2')), ['org_fast', 'org_high'], 'another factor: over the last hour')
      t.same(ids(await list('')), ['org_fast', 'org_high', 'org_slow'], 'no factor: everyone who spent in the last hour')
      const rates = sixHours.items.map((item) => item.burnRates['6h']!)
      t.ok(rates[0]! > rates[1]! && rates[1]! > rates[2]!, 'ordered by the window\'s burn')
    })
  })

t.test('pages follow the cursor, highest first, until the list ends', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, token } = await burningWorld(t, sql)
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page = (await api.call('GET', `/v1/admin/ai/budgets?window=3d&limit=1${cursor === null ? '' : `&cursor=${cursor}`}`,
        { token })).json() as Page
      seen.push(...page.items.map((item) => item.orgId))
      cursor = page.nextCursor
      pages++
    } while (cursor !== null && pages < 10)
    t.same(seen, ['org_steady', 'org_high', 'org_fast', 'org_slow'], 'by 3-day burn, one a page')
    t.equal(pages, 4, 'the last page says there is no next one')
    const two = (await api.call('GET', '/v1/admin/ai/budgets?window=3d&limit=2', { token })).json() as Page
    t.same(two.items.map((item) => item.orgId), ['org_steady', 'org_high'])
  })
})

t.test('bad input is a 400 problem with a stable code; only platform admins get an answer', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, token } = await burningWorld(t, sql)
    for (const query of ['over=0', 'over=0x', 'over=-1', 'over=abc', 'over=6y', 'over=1e3', 'over=', 'over=%206', 'window=2h', 'window=',
      'limit=0', 'limit=201', 'limit=x', 'by=orgId']) {
      const response = await api.call('GET', `/v1/admin/ai/budgets?${query}`, { token })
      t.equal(response.statusCode, 400, query)
      t.match(response.headers['content-type'], /application\/problem\+json/)
      t.equal(response.json().code, 'http.validation', `${query}: http.validation`)
    }
    for (const cursor of ['garbage', Buffer.from('["ai-budgets.1",{"burn":-1,"orgId":"org_fast"}]').toString('base64url'),
      Buffer.from('["jobs.1",{"burn":1,"orgId":"org_fast"}]').toString('base64url')]) {
      const response = await api.call('GET', `/v1/admin/ai/budgets?cursor=${cursor}`, { token })
      t.equal(response.json().code, 'http.invalid_cursor', cursor)
    }
    const owner = await api.call('GET', '/v1/admin/ai/budgets?over=6x')
    t.equal(owner.statusCode, 403, 'an organization owner who is no platform admin')
    t.equal(owner.json().code, 'auth.forbidden')
    t.equal((await api.call('GET', '/v1/admin/ai/budgets', { token: null })).statusCode, 401)
  })
})
