/**
 * GET /v1/platform/audit-events: the platform's own audit log (sign-ups,
 * sign-ins, tokens), for platform admins only, with the filters, sorts and
 * cursors of an organization's log. Pages are walked at 0, 1, the page size
 * and one either side of it, and over a log of hundreds of rows.
 */
import t, { type Test } from 'tap'
import { execute } from '../src/application/commands.ts'
import { addMember, bootstrap, registerUser } from '../src/application/identity/commands.ts'
import { requestImpersonation } from '../src/application/impersonation/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { jobDecider, jobStreamId } from '../src/domain/jobs/job.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { settled } from './helpers/assertions.ts'
import { appendChain } from './helpers/audit-chains.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { documentedRoutes, routeKey } from './helpers/routes.ts'

interface Row { seq: number, orgId: string | null, actorId: string, action: string }
interface Page { items: Row[], nextCursor: string | null }

async function staffApp (t: Test,
  sql: Parameters<typeof openTestApp>[1]): Promise<{ api: TestApp, admin: { userId: string, token: string } }> {
  const api = await openTestApp(t, sql)
  const admin = await bootstrap(api.runtime.identity, systemCommand('platform-audit-test'),
    { email: 'staff@p.example', orgName: 'Staff', platformAdmin: true })
  await settled(api.runtime)
  return { api, admin: { userId: admin.userId, token: admin.token! } }
}

/** Every page of a search, following nextCursor; answers the pages. */
async function walk (api: TestApp, token: string, query: string): Promise<Page[]> {
  const pages: Page[] = []
  let cursor: string | null = null
  do {
    const response = await api.call('GET', `/v1/platform/audit-events?${query}${cursor === null ? '' : `&cursor=${cursor}`}`, { token })
    if (response.statusCode !== 200) throw new Error(`${response.statusCode} ${response.body}`)
    const page = response.json() as Page
    pages.push(page)
    cursor = page.nextCursor
  } while (cursor !== null && pages.length < 1000)
  return pages
}

t.test('platform admins page through the platform log: 0, 1, page size ±1 and hundreds of rows, both sorts', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, admin } = await staffApp(t, sql)
    const now = new Date()
    const LIMIT = 10
    for (const n of [1, LIMIT - 1, LIMIT, LIMIT + 1]) await appendChain(api.runtime, null, n, () => now, `pager-${n}`)
    await appendChain(api.runtime, null, 300, () => now, 'bulk')
    await appendChain(api.runtime, 'some-org', 5, () => now, 'bulk') // an organization's rows: never in the platform log
    await settled(api.runtime)

    for (const n of [0, 1, LIMIT - 1, LIMIT, LIMIT + 1]) {
      for (const sort of ['asc', 'desc'] as const) {
        const pages = await walk(api, admin.token, `actorId=pager-${n}&limit=${LIMIT}&sort=${sort}`)
        const seqs = pages.flatMap((page) => page.items.map((row) => row.seq))
        t.equal(seqs.length, n, `${n} rows, ${sort}: every row once`)
        t.equal(pages.length, Math.max(1, Math.ceil(n / LIMIT)),
          `${n} rows, ${sort}: ${pages.length} pages, none empty but a lone first one`)
        t.same(seqs, [...seqs].sort((a, b) => sort === 'asc' ? a - b : b - a), `${n} rows, ${sort}: in seq order`)
        t.equal(new Set(seqs).size, n)
      }
    }

    // identity.*: every row but the searches these walks log themselves.
    const { rows: [count] } = await sql.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM audit_events WHERE org_id IS NULL AND action LIKE 'identity.%'")
    for (const sort of ['asc', 'desc'] as const) {
      const pages = await walk(api, admin.token, `action=identity.*&limit=50&sort=${sort}`)
      const rows = pages.flatMap((page) => page.items)
      t.equal(rows.length, count!.n, `the whole platform log (${count!.n} rows) in ${pages.length} pages, ${sort}`)
      t.ok(rows.every((row) => row.orgId === null), 'only the platform\'s rows')
      const seqs = rows.map((row) => row.seq)
      t.same(seqs, [...seqs].sort((a, b) => sort === 'asc' ? a - b : b - a), 'in seq order across pages (past 10, 100)')
    }
    const filtered = await walk(api, admin.token, 'actorId=bulk&action=identity.session.*&limit=250')
    t.same(filtered.map((page) => page.items.length), [250, 50], 'filters as on an organization\'s log')
  })
})

t.test('a search of the platform log is itself in the platform log, once, at its first page', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, admin } = await staffApp(t, sql)
    await appendChain(api.runtime, null, 3, () => new Date(), 'searched')
    await settled(api.runtime)
    const pages = await walk(api, admin.token, 'actorId=searched&limit=1&sort=asc')
    t.equal(pages.length, 3)
    await settled(api.runtime)
    const [search, ...more] = (await walk(api, admin.token, 'action=audit.platform_log.searched')).flatMap((page) => page.items)
    t.same(more.map((row) => row.actorId), [], 'one search logged before this one, whatever its pages')
    t.match(search,
      { orgId: null, actorId: admin.userId, action: 'audit.platform_log.searched', diff: { filters: { after: { actorId: 'searched' } } } })
  })
})

t.test('only platform admins read the platform log; bad input is a 400 problem; impersonation is refused', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, admin } = await staffApp(t, sql)
    const url = '/v1/platform/audit-events'
    t.equal((await api.call('GET', url, { token: admin.token })).statusCode, 200, 'a platform admin')
    const owner = await api.call('GET', url)
    t.match({ ...owner.json(), status: owner.statusCode, contentType: owner.headers['content-type'] }, { status: 403, contentType: /application\/problem\+json/, code: 'auth.forbidden' },
      'an organization owner who is no platform admin: 403, like the other platform administration routes')
    t.equal((await api.call('GET', url, { token: null })).statusCode, 401, 'no token')

    const asc = (await api.call('GET', `${url}?limit=1&sort=asc`, { token: admin.token })).json() as Page
    t.ok(asc.nextCursor !== null)
    const problem = async (query: string, code: string): Promise<void> => {
      const response = await api.call('GET', `${url}?${query}`, { token: admin.token })
      t.match({ status: response.statusCode, ...response.json() }, { status: 400, code }, query)
    }
    await problem(`limit=1&sort=desc&cursor=${asc.nextCursor!}`, 'http.invalid_cursor')
    await problem('cursor=not-a-cursor', 'http.invalid_cursor')
    await problem('limit=0', 'http.validation')
    await problem('limit=501', 'http.validation')
    await problem('orgId=x', 'http.validation')

    // A platform admin impersonating a member still may not read it: the session is for that organization only.
    const { orgId } = api.owner
    const member = await registerUser(api.runtime.identity, systemCommand('platform-audit-test'),
      { email: 'member@p.example', displayName: 'member' })
    const as = (id: string) => ({ ...systemCommand('platform-audit-test'), actor: { type: 'user' as const, id } })
    await addMember(api.runtime.identity, as(api.owner.userId), orgId, { userId: admin.userId, roles: ['admin'] })
    await addMember(api.runtime.identity, as(api.owner.userId), orgId, { userId: member.userId, roles: ['member'] })
    await settled(api.runtime)
    const { token } = await requestImpersonation(api.runtime.impersonation, as(admin.userId), orgId,
      { userId: admin.userId, impersonating: false, via: 'member' },
      { targetUserId: member.userId, reason: 'checking the platform log is out of reach' })
    const impersonated = await api.call('GET', url, { token: token! })
    t.match({ status: impersonated.statusCode, ...impersonated.json() }, { status: 403, code: 'impersonation.forbidden_action' })
  })
})

/**
 * A request each platform administration route accepts from a platform admin
 * (keyed `METHOD /path`; HEAD uses its GET's). A new route tagged
 * `platform admin` fails the walk below until it has one.
 */
const PLATFORM_REQUESTS: Record<string, (userId: string) => { url: string, body?: unknown }> = {
  'GET /v1/platform/audit-events': () => ({ url: '/v1/platform/audit-events?limit=5' }),
  'GET /v1/admin/ai/budgets': () => ({ url: '/v1/admin/ai/budgets?over=6x&limit=5' }),
  'GET /v1/admin/jobs': () => ({ url: '/v1/admin/jobs?limit=5' }),
  'GET /v1/admin/jobs/:jobId': () => ({ url: '/v1/admin/jobs/walk_job' }),
  'POST /v1/admin/jobs/:jobId/retry': () => ({ url: '/v1/admin/jobs/walk_job/retry', body: { dryRun: true } }),
  'POST /v1/admin/jobs/:jobId/cancel': () => ({ url: '/v1/admin/jobs/walk_job/cancel', body: { dryRun: true } }),
  'POST /v1/admin/jobs/replay': () => ({ url: '/v1/admin/jobs/replay', body: { type: 'test.walk', from: '2000-01-01', to: '2100-01-01' } }),
  'POST /v1/admin/users/:userId/disable': (userId) => ({ url: `/v1/admin/users/${userId}/disable`, body: { reason: 'walk' } }),
  'POST /v1/admin/users/:userId/enable': (userId) => ({ url: `/v1/admin/users/${userId}/enable` }),
  'PUT /v1/admin/users/:userId/staff-flags': (userId) =>
    ({ url: `/v1/admin/users/${userId}/staff-flags`, body: { platformAdmin: false, platformSupport: false } })
}

t.test('every platform administration route refuses anyone but a platform admin, with a valid request, and writes nothing', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, admin } = await staffApp(t, sql)
    const subject = await registerUser(api.runtime.identity, systemCommand('platform-audit-test'),
      { email: 'subject@p.example', displayName: 'subject' })
    // A job for the admin jobs routes (due in 2100: nothing runs it), cancelled: retry and cancel take it (in dry runs).
    await execute(api.runtime.identity, jobDecider, jobStreamId('walk_job'), {
      type: 'ScheduleJob', data: { jobId: 'walk_job', jobType: 'test.walk', payload: {}, runAt: '2100-01-01T00:00:00.000Z' }
    }, systemCommand('platform-audit-test'))
    await execute(api.runtime.identity, jobDecider, jobStreamId('walk_job'), { type: 'CancelJob', data: { by: 'walk' } },
      systemCommand('platform-audit-test'))
    await settled(api.runtime)
    const routes = (await documentedRoutes<{ tags?: string[] }>(api.app))
      .filter((route) => route.operation.tags?.includes('platform admin') === true)
    t.same([...new Set(routes.filter((r) => r.method !== 'HEAD').map(routeKey))].sort(), Object.keys(PLATFORM_REQUESTS).sort(),
      'a request for each platform route')
    // A token's first use from an address is logged in the background; that is not the route writing.
    const count = async (): Promise<number> =>
      (await sql.query("SELECT 1 FROM events WHERE type <> 'identity.token.used_from_new_ip'")).rowCount
    for (const route of routes) {
      const fill = PLATFORM_REQUESTS[routeKey({ ...route, method: route.method === 'HEAD' ? 'GET' : route.method })]!(subject.userId)
      const before = await count()
      const refused = await api.call(route.method as 'GET', fill.url, fill.body === undefined ? {} : { body: fill.body })
      t.equal(refused.statusCode, 403, `${routeKey(route)}: an organization owner is refused`)
      if (route.method !== 'HEAD') t.equal(refused.json().code, 'auth.forbidden')
      t.equal(await count(), before, `${routeKey(route)}: nothing written`)
      const allowed = await api.call(route.method as 'GET', fill.url,
        { token: admin.token, ...(fill.body === undefined ? {} : { body: fill.body }) })
      t.ok(allowed.statusCode >= 200 && allowed.statusCode < 300,
        `${routeKey(route)}: a platform admin gets through (${allowed.statusCode})`)
    }
  })
})
