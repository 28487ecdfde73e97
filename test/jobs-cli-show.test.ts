/**
 * `ledgerline jobs show`, and the flags every jobs command refuses, as a CLI
 * call runs inside a server, on each database (see test/jobs-cli.test.ts).
 */
import t from 'tap'
import { z } from 'zod'
import { PermanentJobError } from '../src/application/jobs/handlers.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { untilJobEvent } from './helpers/jobs-harness.ts'
import { jobsRuntime, ledgerline, logHead, scheduledJob, settledJobs } from './helpers/jobs-ops.ts'

t.test('jobs show: the row, payload, each attempt (node, start, end, outcome, error) and the history', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    let runs = 0
    const flaky = {
      type: 'test.flaky_show',
      payload: z.object({ invoice: z.string() }).strict(),
      maxAttempts: 2,
      backoff: { baseMs: 10, factor: 1, capMs: 10 },
      async handle () {
        runs++
        if (runs === 1) throw Object.assign(new Error('upstream unavailable'), { code: 'http.503' })
        return undefined
      }
    }
    // A job that dies at once: its handler says retrying cannot help.
    const doomed = {
      type: 'test.doomed', payload: z.object({}).strict(), async handle () { throw new PermanentJobError('no such account') }
    }
    const runtime = await jobsRuntime(t, sql, [flaky, doomed])
    const { jobId } = await runtime.jobs.schedule('test.flaky_show', { invoice: 'inv_7' })
    await untilJobEvent(runtime.store, jobId, ['job.attempt.succeeded'])
    await settledJobs(runtime)

    const json = await ledgerline(runtime, ['jobs', 'show', jobId, '--json'])
    t.equal(json.code, 0, json.stderr)
    const job = JSON.parse(json.stdout)
    t.match(job, { jobId, state: 'succeeded', attempt: 2, maxAttempts: 2, payload: { invoice: 'inv_7' }, lastError: { code: 'http.503' } })
    t.same(job.attempts.map((a: { outcome: string, error: { code: string } | null }) => [a.outcome, a.error?.code ?? null]),
      [['failed', 'http.503'], ['succeeded', null]], 'two attempts: failed, then succeeded')
    t.ok(job.attempts.every((a: { node: string, startedAt: string, endedAt: string }) =>
      a.node === runtime.jobs.runner.node && Date.parse(a.endedAt) >= Date.parse(a.startedAt)), 'each with its node, start and end')
    t.same(job.history.map((h: { type: string }) => h.type), ['job.scheduled'])

    const text = await ledgerline(runtime, ['jobs', 'show', jobId])
    t.match(text.stdout, new RegExp(`^job ${jobId}: succeeded, type test\\.flaky_show\\n`))
    t.match(text.stdout, /payload {7}\{"invoice":"inv_7"\}/)
    t.match(text.stdout, /#1 {2}failed {6}on .+ {2}http\.503: upstream unavailable {2}\(next at /)
    t.match(text.stdout, /#2 {2}succeeded {3}on /)

    const unknown = await ledgerline(runtime, ['jobs', 'show', 'no_such_job'])
    t.same([unknown.code, unknown.stderr], [1, 'ledgerline: job no_such_job not found\n'])

    const dead = await runtime.jobs.schedule('test.doomed', {})
    await untilJobEvent(runtime.store, dead.jobId, ['job.dead'])
    await settledJobs(runtime)
    const shown = JSON.parse((await ledgerline(runtime, ['jobs', 'show', dead.jobId, '--json'])).stdout)
    t.match(shown, { state: 'dead', deadReason: 'do_not_retry', attempts: [{ outcome: 'failed', error: { code: 'job.permanent' } }] })
    t.same(shown.history.map((h: { type: string }) => h.type), ['job.scheduled', 'job.dead'])
  })
})

t.test('bad flags exit 2 with a clear message, before anything is opened or written', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const runtime = await jobsRuntime(t, sql)
    await scheduledJob(runtime, { jobId: 'kept', jobType: 'test.kept', scheduledAt: '2024-01-01T00:00:00.000Z' })
    const head = await logHead(sql)
    const window = ['--type', 'test.kept', '--from', '2024-01-01', '--to', '2024-01-02']
    const cases: Array<[string[], RegExp]> = [
      [['jobs', 'list', '--state', 'lost'], /--state must be one of waiting, running, succeeded, dead, cancelled/],
      [['jobs', 'list', '--type', 'Not A Type'], /--type is not a job type/],
      [['jobs', 'list', '--org', 'a b'], /--org is not an organization id/],
      [['jobs', 'list', '--limit', '0'], /--limit must be a whole number from 1 to 100000/],
      [['jobs', 'list', '--limit', 'ten'], /--limit must be a whole number/],
      [['jobs', 'list', '--limit', '100001'], /--limit must be a whole number/],
      [['jobs', 'show', 'a b'], /not a job id: "a b"/],
      [['jobs', 'show', 'x'.repeat(65)], /not a job id/],
      [['jobs', 'retry', '../etc'], /not a job id/],
      [['jobs', 'cancel', 'a;b', '--reason', 'x'], /not a job id/],
      [['jobs', 'replay', ...window, '--state', 'cancelled'], /--state: a replay retries dead jobs: --state dead/],
      [['jobs', 'replay', ...window, '--state', 'lost'], /--state: a replay retries dead jobs/],
      [['jobs', 'replay', '--type', 'test.kept', '--from', '2024-02-30', '--to', '2024-03-02'], /--from: a date \(2026-03-01/],
      [['jobs', 'replay', '--type', 'test.kept', '--from', '2024-01-01', '--to', 'yesterday'], /--to: a date/],
      [['jobs', 'replay', '--type', 'test.kept', '--from', '2024-01-02', '--to', '2024-01-01'], /--to: from must be before to/],
      [['jobs', 'replay', '--type', 'test.kept', '--from', '2024-01-01', '--to', '2024-01-01T00:00:00Z'], /from must be before to/],
      [['jobs', 'replay', '--type', 'Bad', '--from', '2024-01-01', '--to', '2024-01-02'], /--type is not a job type: Bad/],
      [['jobs', 'replay', '--from', '2024-01-01', '--to', '2024-01-02'], /required option '--type <type>' not specified/],
      [['jobs', 'frobnicate'], /unknown command 'frobnicate'/]
    ]
    for (const [args, message] of cases) {
      const result = await ledgerline(runtime, args)
      // Commander's own refusals (a missing option, an unknown command) exit 1; the commands' checks exit 2, like the others'.
      t.equal(result.code, /required option|unknown command/.test(message.source) ? 1 : 2, `${args.join(' ')}: a usage error`)
      t.match(result.stderr, message, args.join(' '))
      t.equal(result.stdout, '', 'nothing on standard output')
    }
    t.equal(await logHead(sql), head, 'nothing written')
  })
})
