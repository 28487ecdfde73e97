/**
 * POST /v1/admin/jobs/replay: a platform admin retries the dead jobs of a
 * type that died within [from, to), at most `limit` a request, following
 * `nextCursor`. Windows of 0, 1, the page size and one either side of it,
 * and a few hundred jobs (those, and a page of the maximum size, once: on
 * the server when there is one); a dry run lists the same jobs and writes nothing;
 * a second replay retries nothing; the window's end is fixed by the first
 * page, so a job that dies again meanwhile is not met twice; the window's
 * edges; garbage bodies and cursors are 400 problems with stable codes.
 */
import t from 'tap'
import { execute } from '../src/application/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { jobDecider, jobStreamId } from '../src/domain/jobs/job.ts'
import { jobsCursor } from '../src/http/routes/admin-jobs.ts'
import { MAX_REPLAY_PAGE, replayCursor } from '../src/http/routes/admin-jobs-actions.ts'
import type { TestApp } from './helpers/app.ts'
import { forEachDatabase, scaleDriver } from './helpers/databases.ts'
import { problem } from './helpers/http.ts'
import { adminApp, everyPage } from './helpers/jobs-admin.ts'
import { jobEventsOf } from './helpers/jobs-harness.ts'
import { deadJob, inBatches, logHead, settledJobs } from './helpers/jobs-ops.ts'

interface Replayed { jobId: string, outcome: string }
interface Page { to: string, jobs: Replayed[], retried: number, wouldRetry: number, skipped: number, nextCursor: string | null }

/** Every page of a replay, following nextCursor with the same body. */
const replay = (api: TestApp, token: string, body: Record<string, unknown>): Promise<Page[]> => everyPage((cursor) =>
  api.call('POST', '/v1/admin/jobs/replay', { token, body: { ...body, ...(cursor === null ? {} : { cursor }) } }))

const second = (i: number): string => new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString()

/** `n` dead jobs of `jobType`, dying a second apart from 2024-01-01 (ids sort as they died). */
async function deadJobs (api: TestApp, jobType: string, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `${jobType.replace(/\W/g, '')}_${String(i).padStart(4, '0')}`)
  await inBatches(ids.map((id, i) => [id, i] as const), 20, ([id, i]) => deadJob(api.runtime, id, jobType, second(i)))
  return ids
}

const WINDOW = { from: '2024-01-01', to: '2024-01-02' }

t.test('replays of 0, 1, the page size and one either side of it, and a few hundred, page by page; dry runs first', async (t) => {
  await forEachDatabase(t, async (t, { driver, sql }) => {
    const { api, token } = await adminApp(t, sql)
    const LIMIT = 10
    const groups = new Map<number, string[]>()
    for (const n of [0, 1, LIMIT - 1, LIMIT, LIMIT + 1]) groups.set(n, await deadJobs(api, `test.replay_${n}`, n))
    const bulk = driver === scaleDriver() ? await deadJobs(api, 'test.replay_bulk', 300) : undefined
    await settledJobs(api.runtime)

    for (const [n, ids] of groups) {
      const body = { type: `test.replay_${n}`, ...WINDOW, limit: LIMIT }
      const head = await logHead(sql)
      const dry = await replay(api, token, { ...body, dryRun: true })
      t.same(dry.flatMap((page) => page.jobs.map((job) => job.jobId)), ids, `${n} jobs, dry run: each once, oldest death first`)
      t.ok(dry.every((page) => page.jobs.every((job) => job.outcome === 'would_retry') && page.retried === 0))
      t.equal(dry.length, Math.max(1, Math.ceil(n / LIMIT)), `${n} jobs: ${dry.length} pages, none empty but a lone first one`)
      t.equal(await logHead(sql), head, `${n} jobs: the dry run wrote nothing`)
      const real = await replay(api, token, body)
      t.same(real.flatMap((page) => page.jobs.map((job) => job.jobId)), ids, `${n} jobs: each retried once`)
      t.equal(real.reduce((sum, page) => sum + page.retried, 0), n)
      // At once, while the table may still show them dead: each is met, and skipped on its stream.
      const again = await replay(api, token, body)
      t.ok(again.every((page) => page.retried === 0 && page.jobs.every((job) => job.outcome === 'skipped')),
        `${n} jobs: a second replay retries nothing`)
    }

    if (bulk === undefined) {
      t.comment(`300 dead jobs: on ${scaleDriver()} only`)
      return
    }
    const started = Date.now()
    const pages = await replay(api, token, { type: 'test.replay_bulk', ...WINDOW })
    t.comment(`300 dead jobs retried in ${pages.length} requests of up to 100, ${Date.now() - started} ms`)
    t.same(pages.map((page) => page.retried), [100, 100, 100], 'pages of 100 by default')
    t.same(pages.flatMap((page) => page.jobs.map((job) => job.jobId)), bulk)
    await settledJobs(api.runtime)
    const { rows } = await sql.query<{ state: string, n: number }>(
      "SELECT state, count(*)::int AS n FROM jobs WHERE job_type = 'test.replay_bulk' GROUP BY state")
    t.same(rows, [{ state: 'waiting', n: 300 }], 'every one of them waits to run again')
  })
})

t.test('a page of the maximum size answers within one request, and the window\'s edges hold', async (t) => {
  await forEachDatabase(t, async (t, { driver, sql }) => {
    const { api, token } = await adminApp(t, sql)
    if (driver === scaleDriver()) {
      const ids = await deadJobs(api, 'test.replay_max', MAX_REPLAY_PAGE + 1)
      await deadJob(api.runtime, 'other_type', 'test.replay_other', second(5))
      await settledJobs(api.runtime)
      const started = Date.now()
      const [first, last] = await replay(api, token, { type: 'test.replay_max', ...WINDOW, limit: MAX_REPLAY_PAGE })
      t.comment(`a page of ${MAX_REPLAY_PAGE} retries: ${Date.now() - started} ms (with the next page's one)`)
      t.equal(first!.retried, MAX_REPLAY_PAGE)
      t.same(last!.jobs.map((job) => job.jobId), [ids.at(-1)], 'then the one left')
      t.equal((await jobEventsOf(api.runtime.store, 'other_type')).at(-1)!.type, 'job.dead', 'another type\'s job is left dead')
    } else {
      t.comment(`a page of ${MAX_REPLAY_PAGE}: on ${scaleDriver()} only`)
    }

    // [from, to): a job that died at `from` is in, one that died at `to` is out.
    await deadJob(api.runtime, 'edge_from', 'test.replay_edge', second(10))
    await deadJob(api.runtime, 'edge_to', 'test.replay_edge', second(20))
    await settledJobs(api.runtime)
    const edges = await replay(api, token, { type: 'test.replay_edge', from: second(10), to: second(20), dryRun: true })
    t.same(edges.flatMap((page) => page.jobs.map((job) => job.jobId)), ['edge_from'])
  })
})

t.test('the first page fixes the window\'s end: a job retried by one page that dies again is not met by the next', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, token } = await adminApp(t, sql)
    const ids = await deadJobs(api, 'test.replay_again', 3)
    await settledJobs(api.runtime)
    const body = { type: 'test.replay_again', from: '2024-01-01', to: '2100-01-01', limit: 1 }
    const first = (await api.call('POST', '/v1/admin/jobs/replay', { token, body })).json() as Page
    t.same(first.jobs.map((job) => job.jobId), [ids[0]])
    t.ok(Date.parse(first.to) <= Date.now(), 'the window ends when the replay began, not in 2100')
    await execute(api.runtime.identity, jobDecider, jobStreamId(ids[0]!), { type: 'StartAttempt', data: { node: 'n', leaseSeconds: 30 } },
      systemCommand('jobs-replay-test'))
    await execute(api.runtime.identity, jobDecider, jobStreamId(ids[0]!), {
      type: 'FailAttempt', data: { node: 'n', attempt: 2, code: 'http.410', message: 'gone', retryable: false, random: 0 }
    }, systemCommand('jobs-replay-test'))
    await settledJobs(api.runtime)
    const rest = await replay(api, token, { ...body, cursor: first.nextCursor })
    t.same(rest.flatMap((page) => page.jobs.map((job) => job.jobId)), ids.slice(1), 'the rest, and not the one that died again')
    await settledJobs(api.runtime)
    t.same((await replay(api, token, body)).flatMap((page) => page.jobs.map((job) => [job.jobId, job.outcome])), [[ids[0], 'retried']],
      'a new replay meets it')
  })
})

t.test('garbage bodies and cursors are 400 problems with stable codes, and write nothing', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, token } = await adminApp(t, sql)
    await deadJobs(api, 'test.replay_garbage', 3)
    await settledJobs(api.runtime)
    const body = { type: 'test.replay_garbage', ...WINDOW, limit: 1 }
    const first = (await api.call('POST', '/v1/admin/jobs/replay', { token, body: { ...body, dryRun: true } })).json() as Page
    const real = first.nextCursor!
    const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
    const key = { window: 'A'.repeat(16), to: '2024-01-02T00:00:00.000Z', finishedAt: '2024-01-01T00:00:00.000Z', jobId: 'x' }
    const head = await logHead(sql)
    const cases: Array<[unknown, string]> = [
      [{}, 'http.validation'], [[], 'http.validation'], [{ ...body, type: undefined }, 'http.validation'],
      [{ ...body, type: 'Not A Type' }, 'http.validation'], [{ ...body, type: 'a'.repeat(101) }, 'http.validation'],
      [{ ...body, from: '2024-13-45' }, 'http.validation'], [{ ...body, from: '0000-01-01' }, 'http.validation'],
      [{ ...body, to: 'yesterday' }, 'http.validation'], [{ ...body, from: '2024-01-02', to: '2024-01-01' }, 'http.validation'],
      [{ ...body, from: '2024-01-01', to: '2024-01-01T00:00:00Z' }, 'http.validation'],
      [{ ...body, limit: 0 }, 'http.validation'], [{ ...body, limit: MAX_REPLAY_PAGE + 1 }, 'http.validation'],
      [{ ...body, limit: 1.5 }, 'http.validation'], [{ ...body, limit: '10' }, 'http.validation'],
      [{ ...body, dryRun: 'true' }, 'http.validation'], [{ ...body, state: 'cancelled' }, 'http.validation'],
      [{ ...body, jobType: 'test.replay_garbage' }, 'http.validation'], [{ ...body, cursor: 7 }, 'http.validation'],
      [{ ...body, cursor: 'not-a-cursor' }, 'http.invalid_cursor'], [{ ...body, cursor: `${real}x` }, 'http.invalid_cursor'],
      [{ ...body, dryRun: true, cursor: 'A'.repeat(5000) }, 'http.invalid_cursor'],
      [{ ...body, cursor: real }, 'http.invalid_cursor'], // a dry run's cursor, sent with a real replay
      [{ ...body, dryRun: true, type: 'test.other', cursor: real }, 'http.invalid_cursor'],
      [{ ...body, dryRun: true, to: '2024-01-03', cursor: real }, 'http.invalid_cursor'],
      [{ ...body, cursor: jobsCursor.encode({ scheduledAt: '2024-01-01', jobId: 'x' }) }, 'http.invalid_cursor'],
      [{ ...body, cursor: replayCursor.encode(key) }, 'http.invalid_cursor'],
      [{ ...body, cursor: b64(['jobs.replay.1', { ...key, finishedAt: '2024-13-45T00:00:00.000Z' }]) }, 'http.invalid_cursor'],
      [{ ...body, cursor: b64(['jobs.replay.1', { ...key, jobId: 'a b' }]) }, 'http.invalid_cursor'],
      [{ ...body, cursor: b64(['jobs.replay.1', { ...key, extra: 1 }]) }, 'http.invalid_cursor']
    ]
    for (const [sent, code] of cases) {
      problem(t, await api.call('POST', '/v1/admin/jobs/replay', { token, body: sent }), 400, code)
    }
    t.equal(await logHead(sql), head, 'nothing written')
    const next = await api.call('POST', '/v1/admin/jobs/replay', { token, body: { ...body, dryRun: true, cursor: real } })
    t.equal(next.statusCode, 200, 'the real cursor with its own body goes on')
  })
})
