/**
 * GET /v1/admin/jobs and GET /v1/admin/jobs/:jobId: platform admins page
 * through every organization's jobs, newest first, and read one job with
 * its payload, attempts and history. Pages are walked at 0, 1, the page size
 * and one either side of it, over hundreds of jobs, and with any page size
 * (fast-check); ids mix cases and punctuation, so the order is the bytes'
 * on every database, whatever its collation. Garbage in the query, the
 * cursor and the path is a 400 problem with a stable code; anyone but a
 * platform admin is refused as on the other platform routes.
 */
import fc from 'fast-check'
import t from 'tap'
import { execute } from '../src/application/commands.ts'
import { addMember, registerUser } from '../src/application/identity/commands.ts'
import { requestImpersonation } from '../src/application/impersonation/commands.ts'
import { auditCursor } from '../src/domain/cursor.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { jobDecider, jobStreamId, type JobCommand } from '../src/domain/jobs/job.ts'
import { jobsCursor } from '../src/http/routes/admin-jobs.ts'
import type { TestApp } from './helpers/app.ts'
import { settled } from './helpers/assertions.ts'
import { forEachDatabase, scaleDriver } from './helpers/databases.ts'
import { problem } from './helpers/http.ts'
import { adminApp, everyPage, supportToken } from './helpers/jobs-admin.ts'
import { inBatches, scheduledJob, settledJobs, type Fabricated } from './helpers/jobs-ops.ts'

interface Item { jobId: string, jobType: string, state: string, orgId: string | null, scheduledAt: string }
interface Page { items: Item[], nextCursor: string | null }

/** Every page of a listing, following nextCursor. */
const walk = (api: TestApp, token: string, query: string): Promise<Page[]> => everyPage((cursor) =>
  api.call('GET', `/v1/admin/jobs?${query}${cursor === null ? '' : `&cursor=${cursor}`}`, { token }))

/** Newest first, then the id's bytes, descending: what the list promises. */
const newestFirst = (a: Fabricated, b: Fabricated): number =>
  a.scheduledAt === b.scheduledAt ? (a.jobId < b.jobId ? 1 : a.jobId > b.jobId ? -1 : 0) : (a.scheduledAt < b.scheduledAt ? 1 : -1)

const ALPHABET = ['a', 'B', '_', '-', 'Z', '0', 'b', 'A']

/** `n` jobs of `jobType`, their ids mixing cases and punctuation, scheduled over `spread` distinct seconds (so many tie). */
function fabricated (jobType: string, n: number, spread: number, orgOf: (i: number) => string | undefined = () => undefined): Fabricated[] {
  return Array.from({ length: n }, (_, i) => {
    const orgId = orgOf(i)
    return {
      jobId: `${ALPHABET[i % ALPHABET.length]}${ALPHABET[(i * 3) % ALPHABET.length]}${jobType.replace(/\W/g, '')}${i}`,
      jobType,
      scheduledAt: new Date(Date.UTC(2024, 0, 1, 0, 0, i % spread)).toISOString(),
      ...(orgId === undefined ? {} : { orgId })
    }
  })
}

t.test('platform admins page through jobs newest first: 0, 1, page size ±1 and hundreds, with filters', async (t) => {
  await forEachDatabase(t, async (t, { driver, sql }) => {
    const { api, token } = await adminApp(t, sql)
    const LIMIT = 10
    const groups = new Map([0, 1, LIMIT - 1, LIMIT, LIMIT + 1].map((n) => [n, fabricated(`test.page_${n}`, n, 3)]))
    // Hundreds once, on the server when there is one; 30 elsewhere (still several pages of 7 for one organization).
    const BULK = driver === scaleDriver() ? 300 : 30
    const bulk = fabricated('test.bulk', BULK, BULK === 300 ? 37 : 7, (i) => (i % 3 === 0 ? 'org_three' : undefined))
    await inBatches([...[...groups.values()].flat(), ...bulk], 20, (job) => scheduledJob(api.runtime, job))
    await settledJobs(api.runtime)

    for (const [n, jobs] of groups) {
      const pages = await walk(api, token, `type=test.page_${n}&limit=${LIMIT}`)
      const ids = pages.flatMap((page) => page.items.map((item) => item.jobId))
      t.same(ids, [...jobs].sort(newestFirst).map((job) => job.jobId), `${n} jobs: each once, newest first`)
      t.equal(pages.length, Math.max(1, Math.ceil(n / LIMIT)), `${n} jobs: ${pages.length} pages, none empty but a lone first one`)
    }
    for (const limit of [50, 200]) {
      const pages = await walk(api, token, `type=test.bulk&limit=${limit}`)
      t.same(pages.flatMap((page) => page.items.map((item) => item.jobId)), [...bulk].sort(newestFirst).map((job) => job.jobId),
        `${BULK} jobs in pages of ${limit}: each once, in order`)
    }
    const all = (await walk(api, token, 'limit=200')).flatMap((page) => page.items)
    t.equal(all.length, BULK + 1 + 9 + 10 + 11, 'no filter: every job')
    const ofOrg = (await walk(api, token, 'orgId=org_three&state=waiting&limit=7')).flatMap((page) => page.items)
    t.same(ofOrg.map((item) => item.jobId), bulk.filter((job) => job.orgId === 'org_three').sort(newestFirst).map((job) => job.jobId),
      'one organization\'s waiting jobs')
    t.same((await walk(api, token, 'state=dead')).flatMap((page) => page.items), [], 'no dead job: an empty page')
    t.same(await walk(api, token, 'type=test.page_0'), [{ items: [], nextCursor: null }], 'an empty list is one empty page')
  })
})

t.test('paging with any page size and filter shows every job exactly once, in order (fast-check)', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, token } = await adminApp(t, sql)
    const jobs = fabricated('test.property', 120, 11, (i) => (i % 2 === 0 ? 'org_even' : undefined))
    await inBatches(jobs, 20, (job) => scheduledJob(api.runtime, job))
    await settledJobs(api.runtime)
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 130 }), fc.boolean(), async (limit, even) => {
      const expected = jobs.filter((job) => !even || job.orgId === 'org_even').sort(newestFirst).map((job) => job.jobId)
      const pages = await walk(api, token, `type=test.property&limit=${limit}${even ? '&orgId=org_even' : ''}`)
      const ids = pages.flatMap((page) => page.items.map((item) => item.jobId))
      if (JSON.stringify(ids) !== JSON.stringify(expected)) throw new Error(`limit ${limit}, even ${even}: ${ids.join(',')}`)
      if (pages.length !== Math.max(1, Math.ceil(expected.length / limit))) throw new Error(`limit ${limit}: ${pages.length} pages`)
    }), { numRuns: 40 })
    t.pass('40 page sizes')
  })
})

async function command (api: TestApp, jobId: string, now: string, jobCommand: JobCommand): Promise<void> {
  await execute(api.runtime.identity, jobDecider, jobStreamId(jobId), jobCommand, systemCommand('jobs-admin-test', new Date(now)))
}

t.test('one job: its payload, attempts and history; an unknown one is 404', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, token } = await adminApp(t, sql)
    await command(api, 'twice', '2024-01-01T00:00:00.000Z', {
      type: 'ScheduleJob', data: { jobId: 'twice', jobType: 'test.detail', payload: { orgId: 'org_d', invoice: 'inv_1' } }
    })
    await command(api, 'twice', '2024-01-01T00:00:01.000Z', { type: 'StartAttempt', data: { node: 'node-a', leaseSeconds: 30 } })
    await command(api, 'twice', '2024-01-01T00:00:02.000Z', {
      type: 'FailAttempt', data: { node: 'node-a', attempt: 1, code: 'http.503', message: 'unavailable', retryable: true, random: 0.5 }
    })
    await command(api, 'twice', '2024-01-01T01:00:00.000Z', { type: 'StartAttempt', data: { node: 'node-b', leaseSeconds: 30 } })
    await command(api, 'twice', '2024-01-01T01:00:03.000Z', { type: 'CancelJob', data: { by: 'ops', note: 'stuck' } })
    await settledJobs(api.runtime)

    const response = await api.call('GET', '/v1/admin/jobs/twice', { token })
    t.equal(response.statusCode, 200, response.body)
    const job = response.json()
    t.match(job, {
      jobId: 'twice', jobType: 'test.detail', state: 'cancelled', orgId: 'org_d', attempt: 2, lastError: { code: 'http.503' },
      payload: { orgId: 'org_d', invoice: 'inv_1' }, finishedAt: '2024-01-01T01:00:03.000Z'
    }, 'the row, with the payload as scheduled')
    t.same(job.attempts.map((a: Record<string, unknown>) => [a.attempt, a.node, a.startedAt, a.endedAt, a.outcome, a.error]), [
      [1, 'node-a', '2024-01-01T00:00:01.000Z', '2024-01-01T00:00:02.000Z', 'failed', { code: 'http.503', message: 'unavailable' }],
      [2, 'node-b', '2024-01-01T01:00:00.000Z', null, 'interrupted', null]
    ], 'each attempt: node, start, end, outcome, error')
    t.ok(Date.parse(job.attempts[0].retryAt) > Date.parse('2024-01-01T00:00:02.000Z'), 'the failure\'s retry time')
    t.same(job.history.map((h: Record<string, unknown>) => [h.type, h.actor]), [['job.scheduled', 'jobs-admin-test'],
      ['job.cancelled', 'jobs-admin-test']])
    t.match(job.history[1].data, { by: 'ops', note: 'stuck', reason: 'cancelled' })
    t.notOk('payload' in job.history[0].data, 'the payload is shown once, not again in the history')

    problem(t, await api.call('GET', '/v1/admin/jobs/no_such_job', { token }), 404, 'job.not_found')
    const listed = await api.call('GET', '/v1/admin/jobs?type=test.detail', { token })
    t.notOk('payload' in listed.json().items[0], 'the list shows no payload')
  })
})

t.test('garbage in the query, the cursor and the path is a 400 problem with a stable code', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, token } = await adminApp(t, sql)
    await inBatches(fabricated('test.garbage', 3, 1), 3, (job) => scheduledJob(api.runtime, job))
    await settledJobs(api.runtime)
    const first = (await api.call('GET', '/v1/admin/jobs?limit=1', { token })).json() as Page
    t.ok(first.nextCursor !== null, 'a real cursor to tamper with')
    const real = first.nextCursor!
    const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
    const cases: Array<[string, string]> = [
      ['state=lost', 'http.validation'], ['state=', 'http.validation'], ['type=Not%20A%20Type', 'http.validation'],
      ['type=', 'http.validation'], [`type=${'a'.repeat(101)}`, 'http.validation'], ['orgId=bad%20id', 'http.validation'],
      ['orgId=%00', 'http.validation'], ['limit=0', 'http.validation'], ['limit=201', 'http.validation'],
      ['limit=99999999999999999999', 'http.validation'], ['limit=1e3', 'http.validation'], ['limit=-1', 'http.validation'],
      ['limit=0x10', 'http.validation'], ['foo=1', 'http.validation'], ['limit=1&limit=2', 'http.validation'],
      ['cursor=not-a-cursor', 'http.invalid_cursor'], ['cursor=%00', 'http.invalid_cursor'],
      [`cursor=${'A'.repeat(5000)}`, 'http.invalid_cursor'],
      [`cursor=${real.slice(0, -2)}`, 'http.invalid_cursor'], [`cursor=${real}x`, 'http.invalid_cursor'],
      [`cursor=${auditCursor.encode({ sort: 'asc', seq: '1' })}`, 'http.invalid_cursor'],
      [`cursor=${b64(['jobs.1', { scheduledAt: '2024-13-45T00:00:00.000Z', jobId: 'x' }])}`, 'http.invalid_cursor'],
      [`cursor=${b64(['jobs.1', { scheduledAt: '2024-01-01T00:00:00.000Z', jobId: 'a b' }])}`, 'http.invalid_cursor'],
      [`cursor=${b64(['jobs.1', { scheduledAt: '2024-01-01T00:00:00.000Z', jobId: 'x', extra: 1 }])}`, 'http.invalid_cursor'],
      [`cursor=${b64(['jobs.1', { scheduledAt: '2024-01-01T00:00:00.000Z' }])}`, 'http.invalid_cursor'],
      [`cursor=${b64(['jobs.2', { scheduledAt: '2024-01-01T00:00:00.000Z', jobId: 'x' }])}`, 'http.invalid_cursor']
    ]
    for (const [query, code] of cases) problem(t, await api.call('GET', `/v1/admin/jobs?${query}`, { token }), 400, code)
    const fine = await api.call('GET', `/v1/admin/jobs?limit=1&cursor=${jobsCursor.encode({ scheduledAt: '2024-01-01', jobId: 'zz' })}`,
      { token })
    t.equal(fine.statusCode, 200, 'a well-formed cursor that names no job is a position, not an error')

    for (const id of ['bad%20id', 'x'.repeat(65), '%00', 'a.b']) {
      problem(t, await api.call('GET', `/v1/admin/jobs/${id}`, { token }), 400, 'http.validation')
    }
    problem(t, await api.call('GET', '/v1/admin/jobs/%C0%AF', { token }), 400, 'http.bad_url')
    const long = await api.call('GET', `/v1/admin/jobs/${'x'.repeat(300)}`, { token })
    t.ok(long.statusCode >= 400 && long.statusCode < 500 && /problem\+json/.test(String(long.headers['content-type'])),
      `an id past the router's limit: ${long.statusCode} problem+json`)
  })
})

t.test('anyone but a platform admin is refused: owners, support staff, no token, an impersonating admin', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, token } = await adminApp(t, sql)
    await scheduledJob(api.runtime, { jobId: 'secret', jobType: 'test.refused', scheduledAt: '2024-01-01T00:00:00.000Z' })
    await settledJobs(api.runtime)
    const urls = ['/v1/admin/jobs', '/v1/admin/jobs?state=waiting', '/v1/admin/jobs/secret', '/v1/admin/jobs/no_such_job']
    const support = await supportToken(api)
    for (const url of urls) {
      problem(t, await api.call('GET', url), 403, 'auth.forbidden')
      problem(t, await api.call('GET', url, { token: support }), 403, 'auth.forbidden')
      t.equal((await api.call('GET', url, { token: null })).statusCode, 401, `${url}: no token`)
    }
    t.equal((await api.call('GET', '/v1/admin/jobs/secret', { token })).statusCode, 200, 'while a platform admin reads it')

    // A platform admin impersonating a member is refused: the session is for that organization only.
    const { orgId } = api.owner
    const admin = await api.call('GET', '/v1/session', { token })
    const adminId = admin.json().user.userId as string
    const member = await registerUser(api.runtime.identity, systemCommand('jobs-admin-test'),
      { email: 'member@jobs.example', displayName: 'member' })
    const as = (id: string) => ({ ...systemCommand('jobs-admin-test'), actor: { type: 'user' as const, id } })
    await addMember(api.runtime.identity, as(api.owner.userId), orgId, { userId: adminId, roles: ['admin'] })
    await addMember(api.runtime.identity, as(api.owner.userId), orgId, { userId: member.userId, roles: ['member'] })
    await settled(api.runtime)
    const session = await requestImpersonation(api.runtime.impersonation, as(adminId), orgId,
      { userId: adminId, impersonating: false, via: 'member' },
      { targetUserId: member.userId, reason: 'checking the jobs are out of reach' })
    for (const url of urls.slice(0, 3)) {
      problem(t, await api.call('GET', url, { token: session.token! }), 403, 'impersonation.forbidden_action')
    }
  })
})
