/**
 * Job outcomes on every database driver, with an injected clock and random:
 *
 * - a handler that fails 3 times, then succeeds, follows the backoff
 *   schedule (each retry due exactly at the decider's full-jitter delay);
 * - an error marked "do not retry" (a permanent flag, an http.410 code) is
 *   dead after one attempt;
 * - attempts never exceed maxAttempts;
 * - a timeout aborts the handler's signal and counts as a failed attempt.
 */
import t, { type Test } from 'tap'
import { z } from 'zod'
import { PermanentJobError } from '../src/application/jobs/handlers.ts'
import { backoffDelay, type BackoffPolicy } from '../src/domain/jobs/backoff.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { jobEventsOf, openJobsWorld, type JobsWorld, testClock, until, untilJobEvent } from './helpers/jobs-harness.ts'

interface Failed { failedAt: string, retryAt: string, code: string }

const payload = z.object({ n: z.number() }).strict()

// One database per driver for the whole file (opening one is slow under load); each case has its own job type and node.
t.test('job outcomes', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openJobsWorld(t, sql)
    await t.test('a handler that fails 3 times, then succeeds, follows the backoff schedule', (t) => backoffSchedule(t, world))
    await t.test('a "do not retry" error is dead at once; attempts never exceed maxAttempts', (t) => doNotRetry(t, world))
    await t.test('a timeout aborts the handler\'s signal and counts as a failed attempt', (t) => timeout(t, world))
  })
})

async function backoffSchedule (t: Test, world: JobsWorld): Promise<void> {
  const clock = testClock()
  const draws = [0.25, 0.5, 0.75]
  let draw = 0
  const jobs = world.node('a', { now: clock.now, random: () => draws[draw++ % draws.length]! })
  const policy: BackoffPolicy = { baseMs: 1000, factor: 2, capMs: 60_000 }
  let calls = 0
  jobs.registerJobHandler({
    type: 'test.flaky',
    payload,
    backoff: policy,
    maxAttempts: 10,
    async handle () {
      calls++
      if (calls <= 3) throw Object.assign(new Error(`failure ${calls}`), { code: 'test.flaky' })
    }
  })
  await jobs.start()
  const { jobId } = await jobs.schedule('test.flaky', { n: 1 })
  for (let failure = 1; failure <= 3; failure++) {
    const events = await until(`failure ${failure}`, async () => {
      const all = await jobEventsOf(world.store, jobId)
      return all.filter((e) => e.type === 'job.attempt.failed').length === failure ? all : undefined
    })
    const failed = events.filter((e) => e.type === 'job.attempt.failed').at(-1)!.data as Failed
    const expected = Date.parse(failed.failedAt) + backoffDelay(failure, policy, draws[failure - 1]!)
    t.equal(failed.code, 'test.flaky')
    t.equal(Date.parse(failed.retryAt), expected, `retry ${failure} is due after backoffDelay(${failure}), draw ${draws[failure - 1]}`)
    // Not due a millisecond before: nothing starts.
    clock.set(new Date(expected - 1))
    jobs.runner.wake()
    await new Promise((resolve) => setTimeout(resolve, 100))
    t.equal(calls, failure, 'no attempt before its retry time')
    clock.set(failed.retryAt)
    jobs.runner.wake()
  }
  const events = await untilJobEvent(world.store, jobId, ['job.attempt.succeeded'])
  t.equal(calls, 4)
  t.same(events.filter((e) => e.type === 'job.attempt.started').map((e) => (e.data as { attempt: number }).attempt), [1, 2, 3, 4])
  await jobs.stop()
}

async function doNotRetry (t: Test, world: JobsWorld): Promise<void> {
  const jobs = world.node('b', { random: () => 0.5 })
  const calls = new Map<number, number>()
  jobs.registerJobHandler({
    type: 'test.failing',
    payload,
    backoff: { baseMs: 0, factor: 1, capMs: 0 },
    maxAttempts: 3,
    async handle ({ n }) {
      calls.set(n, (calls.get(n) ?? 0) + 1)
      if (n === 1) throw new PermanentJobError('the subscription is gone')
      if (n === 2) throw Object.assign(new Error('Gone'), { code: 'http.410' })
      throw Object.assign(new Error('try again'), { code: 'http.503' })
    }
  })
  await jobs.start()
  const permanent = await jobs.schedule('test.failing', { n: 1 })
  const gone = await jobs.schedule('test.failing', { n: 2 })
  const transient = await jobs.schedule('test.failing', { n: 3 })
  for (const [scheduled, reason, attempts, code] of [
    [permanent, 'do_not_retry', 1, 'job.permanent'], [gone, 'do_not_retry', 1, 'http.410'],
    [transient, 'attempts_exhausted', 3, 'http.503']
  ] as const) {
    const events = await untilJobEvent(world.store, scheduled.jobId, ['job.dead'])
    const dead = events.at(-1)!.data as { reason: string, attempts: number }
    t.equal(dead.reason, reason)
    t.equal(dead.attempts, attempts)
    t.equal(events.filter((e) => e.type === 'job.attempt.started').length, attempts, 'attempts started never exceed the maximum')
    t.equal((events.filter((e) => e.type === 'job.attempt.failed').at(-1)!.data as { code: string }).code, code)
  }
  t.same([...calls.entries()].sort(), [[1, 1], [2, 1], [3, 3]])
  await jobs.stop()
}

async function timeout (t: Test, world: JobsWorld): Promise<void> {
  const jobs = world.node('c')
  const reasons: string[] = []
  jobs.registerJobHandler({
    type: 'test.slow',
    payload,
    timeoutSeconds: 1,
    maxAttempts: 2,
    backoff: { baseMs: 0, factor: 1, capMs: 0 },
    handle: (_payload, { signal }) => new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => {
        reasons.push((signal.reason as Error).message)
        reject(signal.reason)
      })
    })
  })
  await jobs.start()
  const { jobId } = await jobs.schedule('test.slow', { n: 1 })
  const events = await untilJobEvent(world.store, jobId, ['job.dead'])
  const failures = events.filter((e) => e.type === 'job.attempt.failed').map((e) => (e.data as { code: string }).code)
  t.same(failures, ['job.timeout', 'job.timeout'], 'each attempt ran into its timeout and failed')
  t.equal(reasons.length, 2, 'the signal was aborted in each attempt')
  t.match(reasons[0], /timeout/)
  t.equal((events.at(-1)!.data as { reason: string }).reason, 'attempts_exhausted')
  await jobs.stop()
}
