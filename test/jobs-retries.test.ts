/**
 * Job outcomes on every database driver, with an injected clock and random:
 *
 * - a handler that fails 3 times, then succeeds, follows the backoff
 *   schedule (each retry due exactly at the decider's full-jitter delay);
 * - an error marked "do not retry" (a permanent flag, an http.410 code) is
 *   dead after one attempt;
 * - attempts never exceed maxAttempts;
 * - a timeout aborts the handler's signal and counts as a failed attempt;
 * - Svix's whole schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) is
 *   followed to the eighth and last attempt, each retry due at its jittered
 *   delay and not a millisecond before;
 * - a Retry-After longer than the schedule's delay postpones the retry to it,
 *   a shorter one changes nothing, and one over a day is cut to a day.
 */
import t, { type Test } from 'tap'
import { z } from 'zod'
import { PermanentJobError, RetryLaterError } from '../src/application/jobs/handlers.ts'
import type { Jobs } from '../src/application/jobs/jobs.ts'
import { backoffDelay, scheduleMaxAttempts, SVIX_BACKOFF, type BackoffPolicy } from '../src/domain/jobs/backoff.ts'
import type { RecordedEvent } from '../src/eventstore/types.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { jobEventsOf, openJobsWorld, type JobsWorld, testClock, until, untilJobEvent } from './helpers/jobs-harness.ts'

interface Failed { failedAt: string, retryAt: string | null, code: string, retryAfterMs?: number }

const payload = z.object({ n: z.number() }).strict()

// One database per driver for the whole file (opening one is slow under load); each case has its own job type and node.
t.test('job outcomes', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openJobsWorld(t, sql)
    await t.test('a handler that fails 3 times, then succeeds, follows the backoff schedule', (t) => backoffSchedule(t, world))
    await t.test('a "do not retry" error is dead at once; attempts never exceed maxAttempts', (t) => doNotRetry(t, world))
    await t.test('a timeout aborts the handler\'s signal and counts as a failed attempt', (t) => timeout(t, world))
    await t.test('Svix\'s whole schedule is followed to the last attempt, each retry at its jittered delay', (t) => svixSchedule(t, world))
    await t.test('Retry-After postpones a retry past the schedule, never before it, and at most a day', (t) => retryAfter(t, world))
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
    const { last } = await failures(world, jobId, failure)
    const expected: number = Date.parse(last.failedAt) + backoffDelay(failure, policy, draws[failure - 1]!)
    t.equal(last.code, 'test.flaky')
    t.equal(Date.parse(last.retryAt!), expected, `retry ${failure} is due after backoffDelay(${failure}), draw ${draws[failure - 1]}`)
    await dueExactlyAt(t, jobs, clock, expected, () => calls)
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

/** The job's events once `count` attempts have failed, and the last failure. */
async function failures (world: JobsWorld, jobId: string, count: number): Promise<{ events: RecordedEvent[], last: Failed }> {
  const events = await until(`failure ${count}`, async () => {
    const all = await jobEventsOf(world.store, jobId)
    return all.filter((e) => e.type === 'job.attempt.failed').length === count ? all : undefined
  })
  const failed = events.filter((e) => e.type === 'job.attempt.failed').at(-1)!
  // The due queue must show the failure before the test moves its frozen clock: a claim from a row still showing the
  // attempt running would be refused as not due and marked until now + a poll interval, a time the clock never reaches.
  await world.projections.waitFor(failed.position, 20_000)
  return { events, last: failed.data as Failed }
}

/** Moves the clock to 1 ms before `at` (nothing may start), then to `at`. */
async function dueExactlyAt (t: Test, jobs: Jobs, clock: ReturnType<typeof testClock>, at: number, calls: () => number): Promise<void> {
  const before = calls()
  clock.set(new Date(at - 1))
  jobs.runner.wake()
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(calls(), before, 'no attempt a millisecond before its retry time')
  clock.set(new Date(at))
  jobs.runner.wake()
}

async function svixSchedule (t: Test, world: JobsWorld): Promise<void> {
  const clock = testClock()
  // A different draw per retry, both ends of the jitter included.
  const draws = [0, 0.5, 1 - Number.EPSILON, 0.25, 0.75, 0.1, 0.9]
  let draw = 0
  const jobs = world.node('svix', { now: clock.now, random: () => draws[draw++]! })
  let calls = 0
  jobs.registerJobHandler({
    type: 'test.delivery',
    payload,
    backoff: SVIX_BACKOFF,
    async handle () {
      calls++
      throw Object.assign(new Error('the receiver answered 500'), { code: 'http.500' })
    }
  })
  await jobs.start()
  const { jobId } = await jobs.schedule('test.delivery', { n: 1 })
  t.equal(scheduleMaxAttempts(SVIX_BACKOFF), 8)
  const waited: number[] = []
  for (let failure = 1; failure < 8; failure++) {
    const { last } = await failures(world, jobId, failure)
    const delay = Date.parse(last.retryAt!) - Date.parse(last.failedAt)
    t.equal(delay, backoffDelay(failure, SVIX_BACKOFF, draws[failure - 1]!),
      `retry ${failure}: the schedule's delay, draw ${draws[failure - 1]}`)
    waited.push(delay)
    await dueExactlyAt(t, jobs, clock, Date.parse(last.retryAt!), () => calls)
  }
  const events = await untilJobEvent(world.store, jobId, ['job.dead'])
  t.same(waited, [4000, 300_000, 2_160_000, 6_480_000, 19_800_000, 30_240_000, 41_760_000],
    '5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, each within 20%')
  t.equal(calls, 8, 'eight attempts')
  t.same(events.at(-1)!.data, { attempts: 8, reason: 'attempts_exhausted', at: clock.now().toISOString() })
  t.equal((events.filter((e) => e.type === 'job.attempt.failed').at(-1)!.data as Failed).retryAt, null, 'the eighth failure has no retry')
  await jobs.stop()
}

async function retryAfter (t: Test, world: JobsWorld): Promise<void> {
  const clock = testClock()
  const jobs = world.node('later', { now: clock.now, random: () => 0.5 })
  const asked = [60_000, 1, 3 * 86_400_000]
  let calls = 0
  jobs.registerJobHandler({
    type: 'test.throttled',
    payload,
    backoff: { delaysMs: [5000], jitter: 0.2 },
    maxAttempts: 5,
    async handle () {
      const retryAfterMs = asked[calls++]
      if (retryAfterMs !== undefined) throw new RetryLaterError('the receiver answered 429', 'http.429', retryAfterMs)
    }
  })
  await jobs.start()
  const { jobId } = await jobs.schedule('test.throttled', { n: 1 })
  const expected = [
    { retryAfterMs: 60_000, delay: 60_000, why: 'longer than the 5 s delay: 60 s' },
    { retryAfterMs: 1, delay: 5000, why: 'shorter: the 5 s delay' },
    { retryAfterMs: 86_400_000, delay: 86_400_000, why: 'three days asked: a day' }
  ]
  for (const [index, { retryAfterMs, delay, why }] of expected.entries()) {
    const { last } = await failures(world, jobId, index + 1)
    t.equal(last.code, 'http.429')
    t.equal(last.retryAfterMs, retryAfterMs, 'the failure records what was honoured')
    t.equal(Date.parse(last.retryAt!) - Date.parse(last.failedAt), delay, why)
    await dueExactlyAt(t, jobs, clock, Date.parse(last.retryAt!), () => calls)
  }
  await untilJobEvent(world.store, jobId, ['job.attempt.succeeded'])
  t.equal(calls, 4)
  await jobs.stop()
}
