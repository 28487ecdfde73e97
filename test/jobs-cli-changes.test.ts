/**
 * `ledgerline jobs retry | cancel | replay`, as a CLI call runs inside a
 * server, on each database, with the runtime's job runner running:
 *
 * - a retry of a dead job makes it run again (its handler failed for good
 *   the first time); retry is refused for a job that runs or has succeeded;
 * - cancel of a waiting job, and of a running one (its handler is aborted
 *   at the next heartbeat); refused for a job that has succeeded or died;
 * - a replay retries exactly the dead jobs of its type that died within
 *   [from, to), a page at a time; a dry run lists them and writes nothing
 *   (the log's head does not move); a second replay retries nothing, and
 *   two racing replays retry each job once;
 * - the progress bar shows on a terminal only, never with --json.
 */
import t, { type Test } from 'tap'
import { z } from 'zod'
import { PermanentJobError, type JobHandler } from '../src/application/jobs/handlers.ts'
import { replayDeadJobs } from '../src/application/jobs/operations.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import type { Runtime } from '../src/runtime.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { jobEventsOf, until, untilJobEvent } from './helpers/jobs-harness.ts'
import { deadJob, inBatches, jobsRuntime, ledgerline, logHead, scheduledJob, settledJobs } from './helpers/jobs-ops.ts'

const empty = z.object({}).strict()

/** Fails for good on its first run, succeeds on the next. */
function failsOnce (): JobHandler<unknown> & { runs: number } {
  return {
    type: 'test.fails_once',
    payload: empty,
    maxAttempts: 1,
    runs: 0,
    async handle () {
      if (++this.runs === 1) throw new PermanentJobError('the account was not there yet')
    }
  }
}

/** Runs until its signal aborts; `started` resolves when it runs, `aborted` when it was aborted. */
function blocking () {
  let started!: () => void
  let aborted!: (reason: unknown) => void
  const handler = {
    type: 'test.blocking',
    payload: empty,
    started: new Promise<void>((resolve) => { started = resolve }),
    aborted: new Promise<unknown>((resolve) => { aborted = resolve }),
    async handle (_payload: unknown, context: { signal: AbortSignal }) {
      started()
      await new Promise<void>((resolve) => context.signal.addEventListener('abort', () => { aborted(context.signal.reason); resolve() }))
    }
  }
  return handler
}

const types = async (runtime: Runtime, jobId: string): Promise<string[]> => (await jobEventsOf(runtime.store, jobId)).map((e) => e.type)

t.test('retry and cancel', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const flaky = failsOnce()
    const block = blocking()
    const runtime = await jobsRuntime(t, sql, [flaky, block])
    await t.test('a retried dead job runs again', (t) => retryDead(t, runtime, flaky))
    await t.test('cancel a waiting job; retry it; refusals', (t) => cancelWaiting(t, runtime, sql))
    await t.test('a running job: retry refused, cancel aborts its handler', (t) => cancelRunning(t, runtime, block))
  })
})

async function retryDead (t: Test, runtime: Runtime, flaky: ReturnType<typeof failsOnce>): Promise<void> {
  const { jobId } = await runtime.jobs.schedule(flaky.type, {})
  await untilJobEvent(runtime.store, jobId, ['job.dead'])
  await settledJobs(runtime)

  const head = await logHead(runtime.sql)
  const dry = await ledgerline(runtime, ['jobs', 'retry', jobId, '--dry-run', '--json'])
  t.equal(dry.code, 0, dry.stderr)
  t.match(JSON.parse(dry.stdout), { jobId, dryRun: true, changed: true, state: 'waiting', position: null })
  t.equal(await logHead(runtime.sql), head, 'a dry run writes nothing')
  t.equal(flaky.runs, 1)

  const retried = await ledgerline(runtime, ['jobs', 'retry', jobId])
  t.equal(retried.code, 0, retried.stderr)
  t.match(retried.stdout, new RegExp(`^retried ${jobId}: waiting, due `))
  await untilJobEvent(runtime.store, jobId, ['job.attempt.succeeded'])
  t.equal(flaky.runs, 2, 'the handler ran again, and succeeded')
  t.same(await types(runtime, jobId), ['job.scheduled', 'job.attempt.started', 'job.attempt.failed', 'job.dead', 'job.retried',
    'job.attempt.started', 'job.attempt.succeeded'])
  const retry = (await jobEventsOf(runtime.store, jobId)).find((e) => e.type === 'job.retried')!
  t.match(retry.data, { by: 'cli:jobs', maxAttempts: 2 }, 'retried by the CLI, with one more attempt')

  await settledJobs(runtime)
  const again = await ledgerline(runtime, ['jobs', 'retry', jobId])
  t.same([again.code, again.stderr], [1,
    `ledgerline: job ${jobId} is succeeded: only a dead, cancelled or failed job waiting for its retry can be retried\n`],
  'a job that succeeded is not retried')
  const cancel = await ledgerline(runtime, ['jobs', 'cancel', jobId])
  t.same([cancel.code, cancel.stderr], [1, `ledgerline: job ${jobId}: the job has succeeded\n`], 'nor cancelled')
}

async function cancelWaiting (t: Test, runtime: Runtime, sql: Runtime['sql']): Promise<void> {
  await scheduledJob(runtime, { jobId: 'later', jobType: 'test.later', scheduledAt: '2024-01-01T00:00:00.000Z' })
  const waiting = await ledgerline(runtime, ['jobs', 'retry', 'later'])
  t.same([waiting.code, waiting.stderr], [1,
    'ledgerline: job later is waiting: only a dead, cancelled or failed job waiting for its retry can be retried\n'],
  'a job waiting for its first run is not retried')

  const head = await logHead(sql)
  const dry = await ledgerline(runtime, ['jobs', 'cancel', 'later', '--dry-run'])
  t.same([dry.code, dry.stdout], [0, 'would cancel later: cancelled (dry run: nothing written)\n'])
  t.equal(await logHead(sql), head, 'a dry run writes nothing')

  const cancelled = await ledgerline(runtime, ['jobs', 'cancel', 'later', '--reason', 'customer asked', '--json'])
  t.equal(cancelled.code, 0, cancelled.stderr)
  t.match(JSON.parse(cancelled.stdout), { jobId: 'later', changed: true, state: 'cancelled', dryRun: false, position: /^\d+\.\d+$/ })
  t.match((await jobEventsOf(runtime.store, 'later')).at(-1), { type: 'job.cancelled', data: { by: 'cli:jobs', note: 'customer asked' } })
  const twice = await ledgerline(runtime, ['jobs', 'cancel', 'later'])
  t.same([twice.code, twice.stdout], [0, 'later is cancelled already: nothing to do\n'], 'cancelling again changes nothing')

  // A cancelled job may be retried: it waits again (far in the future no more: due now).
  const back = await ledgerline(runtime, ['jobs', 'retry', 'later', '--json'])
  t.match(JSON.parse(back.stdout), { changed: true, state: 'waiting' })

  await deadJob(runtime, 'gone', 'test.gone', '2024-01-01T00:00:00.000Z')
  const dead = await ledgerline(runtime, ['jobs', 'cancel', 'gone'])
  t.same([dead.code, dead.stderr], [1, 'ledgerline: job gone: the job is dead\n'], 'a dead job is not cancelled')
  const missing = await ledgerline(runtime, ['jobs', 'retry', 'never_scheduled'])
  t.same([missing.code, missing.stderr], [1, 'ledgerline: job never_scheduled not found\n'])
}

async function cancelRunning (t: Test, runtime: Runtime, block: ReturnType<typeof blocking>): Promise<void> {
  const { jobId } = await runtime.jobs.schedule(block.type, {})
  await block.started
  const retry = await ledgerline(runtime, ['jobs', 'retry', jobId])
  t.same([retry.code, retry.stderr], [1,
    `ledgerline: job ${jobId} is running: only a dead, cancelled or failed job waiting for its retry can be retried\n`])
  const cancel = await ledgerline(runtime, ['jobs', 'cancel', jobId, '--reason', 'runaway'])
  t.same([cancel.code, cancel.stdout], [0, `cancelled ${jobId}: cancelled\n`], cancel.stderr)
  // The heartbeat (every second with 3 s leases) finds the job cancelled and aborts the handler.
  const reason = await Promise.race([block.aborted, new Promise((resolve) => setTimeout(() => resolve('not aborted'), 15_000))])
  t.match(reason, { outcome: 'lost' }, 'the handler was aborted')
  await until('the runner to let go', async () => runtime.jobs.runner.active === 0)
  t.same(await types(runtime, jobId), ['job.scheduled', 'job.attempt.started', 'job.cancelled'], 'and no outcome was recorded after')
}

const FROM = '2024-03-01T00:00:00.000Z'
const TO = '2024-03-02T00:00:00.000Z'
const ms = (time: string, delta: number): string => new Date(Date.parse(time) + delta).toISOString()

t.test('replay retries exactly the dead jobs of the window; a dry run writes nothing; again, nothing new', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const runtime = await jobsRuntime(t, sql)
    const inside = ['at-from', 'mid-1', 'mid-2', 'mid-3', 'tie-a', 'tie-B', 'last-ms']
    const deaths: Array<[string, string, string]> = [
      ['before', 'test.replayed', ms(FROM, -1)], ['at-from', 'test.replayed', FROM], ['mid-1', 'test.replayed', ms(FROM, 3_600_000)],
      ['mid-2', 'test.replayed', ms(FROM, 7_200_000)], ['mid-3', 'test.replayed', ms(FROM, 7_200_001)],
      ['tie-a', 'test.replayed', ms(FROM, 9_000_000)], ['tie-B', 'test.replayed', ms(FROM, 9_000_000)],
      ['last-ms', 'test.replayed', ms(TO, -1)], ['at-to', 'test.replayed', TO], ['after', 'test.replayed', ms(TO, 86_400_000)],
      ['other-type', 'test.other', ms(FROM, 60_000)]
    ]
    await inBatches(deaths, 6, ([jobId, type, at]) => deadJob(runtime, jobId, type, at))
    await scheduledJob(runtime, { jobId: 'alive', jobType: 'test.replayed', scheduledAt: ms(FROM, 60_000) })
    const expected = ['at-from', 'mid-1', 'mid-2', 'mid-3', 'tie-B', 'tie-a', 'last-ms'] // by death, then id bytes
    t.same([...expected].sort(), [...inside].sort())
    const window = ['--type', 'test.replayed', '--from', FROM, '--to', TO]

    const head = await logHead(sql)
    const dry = await ledgerline(runtime, ['jobs', 'replay', ...window, '--dry-run'])
    t.equal(dry.code, 0, dry.stderr)
    const lines = dry.stdout.trim().split('\n')
    t.same(lines.slice(0, -1).map((line) => line.split(' ')[0]), expected,
      'the dry run lists exactly the window\'s dead jobs, oldest death first')
    t.match(lines[0], /^at-from {2}died 2024-03-01T00:00:00\.000Z after 1 attempts {2}http\.410: gone {2}→ would retry$/)
    t.equal(lines.at(-1), 'dry run: would retry 7 dead test.replayed jobs; 0 no longer dead; nothing written')
    const dryJson = JSON.parse((await ledgerline(runtime, ['jobs', 'replay', ...window, '--dry-run', '--json'])).stdout)
    t.match(dryJson, { jobType: 'test.replayed', dryRun: true, retried: 0, wouldRetry: 7, skipped: 0 })
    t.equal(await logHead(sql), head, 'dry runs write nothing: the log\'s head did not move')

    const real = await ledgerline(runtime, ['jobs', 'replay', ...window, '--json'])
    t.equal(real.code, 0, real.stderr)
    const report = JSON.parse(real.stdout)
    t.match(report, { dryRun: false, retried: 7, wouldRetry: 0, skipped: 0 })
    t.same(report.jobs.map((job: { jobId: string, outcome: string }) => [job.jobId, job.outcome]), expected.map((id) => [id, 'retried']))
    for (const [jobId] of deaths) {
      const retried = (await types(runtime, jobId)).filter((type) => type === 'job.retried').length
      t.equal(retried, inside.includes(jobId) ? 1 : 0, `${jobId}: ${inside.includes(jobId) ? 'retried once' : 'left alone'}`)
    }
    t.same(await types(runtime, 'alive'), ['job.scheduled'], 'a job that is not dead is left alone')

    const moved = await logHead(sql)
    const again = await ledgerline(runtime, ['jobs', 'replay', ...window])
    t.same([again.code, again.stdout], [0, 'retried 0 dead test.replayed jobs; 0 were no longer dead\n'], 'a second replay: nothing new')
    t.equal(await logHead(sql), moved)
  })
})

t.test('racing replays over pages of any size retry each dead job once, even while the table still says dead', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const runtime = await jobsRuntime(t, sql)
    const ids = Array.from({ length: 25 }, (_, i) => `race-${String(i).padStart(2, '0')}`)
    await inBatches(ids, 5, (jobId) => deadJob(runtime, jobId, 'test.raced', ms(FROM, ids.indexOf(jobId) * 1000)))
    await settledJobs(runtime)
    const window = { jobType: 'test.raced', from: FROM, to: TO }
    const deps = { sql: runtime.sql, services: runtime.identity }
    const outcomes = async (pageSize: number): Promise<Array<{ jobId: string, outcome: string }>> => {
      const met = []
      for await (const job of replayDeadJobs(deps, systemCommand('replay-test'), window, { pageSize })) met.push(job)
      return met
    }
    // The projections stand still while both replays run: the table says dead throughout, and the streams decide.
    await runtime.runner.stop()
    const [a, b] = await Promise.all([outcomes(5), outcomes(7)])
    runtime.runner.start()
    t.same(a.map((job) => job.jobId), ids, 'each replay met every job once, across pages of 5 (the last one full)')
    t.same(b.map((job) => job.jobId), ids, 'and of 7')
    for (const jobId of ids) {
      const retried = [a, b].filter((met) => met.find((job) => job.jobId === jobId)?.outcome === 'retried').length
      t.equal(retried, 1, `${jobId}: retried by one replay, skipped by the other`)
      t.equal((await types(runtime, jobId)).filter((type) => type === 'job.retried').length, 1)
    }
    await settledJobs(runtime)
    t.same(await outcomes(25), [], 'once the table has caught up, the window holds no dead job')
  })
})

t.test('the replay\'s progress bar shows on a terminal, not with --json, not elsewhere', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const runtime = await jobsRuntime(t, sql)
    await inBatches(['bar-1', 'bar-2', 'bar-3'], 3, (jobId) => deadJob(runtime, jobId, 'test.barred', ms(FROM, 1000)))
    // The CLI waits for the log's visible head, which an open transaction anywhere on the server (another test file's)
    // holds back: the test waits for the last event written, so each replay counts what the test wrote.
    await settledJobs(runtime)
    const window = ['jobs', 'replay', '--type', 'test.barred', '--from', FROM, '--to', TO]
    const json = await ledgerline(runtime, [...window, '--json'], { tty: true })
    t.equal(json.stderr, '', '--json: silent on a terminal')
    t.equal(JSON.parse(json.stdout).retried, 3)
    await inBatches(['bar-1', 'bar-2', 'bar-3'], 3, async (jobId) => {
      await deadJob(runtime, `${jobId}-again`, 'test.barred', ms(FROM, 2000))
    })
    await settledJobs(runtime)
    const shown = await ledgerline(runtime, window, { tty: true })
    t.match(shown.stderr, /replay \[.*\] 3\/3 jobs/, 'a bar on a terminal')
    t.equal(shown.stdout, 'retried 3 dead test.barred jobs; 0 were no longer dead\n')
    await deadJob(runtime, 'bar-4', 'test.barred', ms(FROM, 3000))
    await settledJobs(runtime)
    const piped = await ledgerline(runtime, window)
    t.same([piped.stderr, piped.stdout], ['', 'retried 1 dead test.barred jobs; 0 were no longer dead\n'], 'nothing when not a terminal')
  })
})
