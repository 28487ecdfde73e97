/**
 * `ledgerline jobs list`, as a CLI call runs inside a server (the command
 * line, the caller's streams, the server's runtime), on each database: at
 * 0, 1, `--limit` and one either side of it, and past the 500 rows the
 * command reads per page. `jobs show` and the flags every jobs command
 * refuses: test/jobs-cli-show.test.ts; retry, cancel and replay:
 * test/jobs-cli-changes.test.ts; the command as a process of its own:
 * test/jobs-cli-process.test.ts.
 */
import t from 'tap'
import { forEachDatabase } from './helpers/databases.ts'
import { inBatches, jobsRuntime, ledgerline, scheduledJob, settledJobs, type Fabricated } from './helpers/jobs-ops.ts'

const byNewest = (a: Fabricated, b: Fabricated): number =>
  a.scheduledAt === b.scheduledAt ? (a.jobId < b.jobId ? 1 : -1) : (a.scheduledAt < b.scheduledAt ? 1 : -1)

function jobs (jobType: string, n: number, orgId?: string): Fabricated[] {
  return Array.from({ length: n }, (_, i) => ({
    jobId: `${jobType.replace(/\W/g, '')}-${i % 2 === 0 ? 'A' : 'a'}${i}`,
    jobType,
    scheduledAt: new Date(Date.UTC(2024, 5, 1, 0, 0, i % 13)).toISOString(),
    ...(orgId === undefined ? {} : { orgId })
  }))
}

t.test('jobs list: newest first, at 0, 1, --limit ±1 and past a page of 500, with filters, as text and JSON', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const runtime = await jobsRuntime(t, sql)
    const LIMIT = 50
    const groups = new Map([0, 1, LIMIT - 1, LIMIT, LIMIT + 1].map((n) => [n, jobs(`test.list_${n}`, n)]))
    const bulk = jobs('test.bulk', 520, 'org_bulk')
    await inBatches([...[...groups.values()].flat(), ...bulk], 20, (job) => scheduledJob(runtime, job))
    await settledJobs(runtime)

    for (const [n, group] of groups) {
      const text = await ledgerline(runtime, ['jobs', 'list', '--type', `test.list_${n}`, '--limit', String(LIMIT)])
      t.equal(text.code, 0, text.stderr)
      const expected = [...group].sort(byNewest).slice(0, LIMIT).map((job) => job.jobId)
      t.same(text.stdout.trim().split('\n').map((line) => line.split(' ')[0]), n === 0 ? ['no'] : expected,
        `${n} jobs: ${Math.min(n, LIMIT)} lines, newest first`)
      if (n === 0) t.equal(text.stdout, 'no jobs\n')
      const json = await ledgerline(runtime, ['jobs', 'list', '--type', `test.list_${n}`, '--limit', String(LIMIT), '--json'])
      t.same(JSON.parse(json.stdout).items.map((item: { jobId: string }) => item.jobId), expected, `${n} jobs as JSON`)
    }

    const all = await ledgerline(runtime, ['jobs', 'list', '--org', 'org_bulk', '--limit', '600', '--json'])
    const items = JSON.parse(all.stdout).items as Array<{ jobId: string, state: string, orgId: string }>
    t.same(items.map((item) => item.jobId), [...bulk].sort(byNewest).map((job) => job.jobId), '520 jobs over two pages of 500, each once')
    t.ok(items.every((item) => item.state === 'waiting' && item.orgId === 'org_bulk'))
    const some = await ledgerline(runtime, ['jobs', 'list', '--state', 'waiting', '--type', 'test.bulk', '--limit', '501', '--json'])
    t.equal(JSON.parse(some.stdout).items.length, 501, '--limit 501: one past the first page')
    const none = await ledgerline(runtime, ['jobs', 'list', '--state', 'dead', '--json'])
    t.same(JSON.parse(none.stdout), { items: [] }, 'no dead jobs')
    const line = (await ledgerline(runtime, ['jobs', 'list', '--type', 'test.list_1'])).stdout
    t.match(line, /^testlist_1-A0 {2}waiting {3}test\.list_1 {2}attempt 0\/1 {2}run at 2100-01-01T00:00:00\.000Z {2}org -\n$/)
  })
})
