/**
 * Backoff: the ceiling at the first attempts, around the cap and at the last
 * default attempt, the draw at both ends of [0, 1), then properties; then
 * schedules: Svix's, the attempts at and past the schedule's end, the
 * jitter's bounds, and what the policy's schema accepts.
 */
import fc from 'fast-check'
import t from 'tap'
import {
  backoffCeiling, backoffDelay, backoffFloor, BackoffPolicy, DEFAULT_BACKOFF, DEFAULT_MAX_ATTEMPTS, scheduleMaxAttempts, SVIX_BACKOFF,
  type ExponentialBackoff, type ScheduleBackoff
} from './backoff.ts'

/** 100 ms doubling, capped at 1.6 s: the cap is reached exactly at attempt 4. */
const doubling: BackoffPolicy = { baseMs: 100, factor: 2, capMs: 1600 }
/** Just below 1: the top of the draw. */
const TOP = 1 - Number.EPSILON

t.test('the ceiling grows by the factor per attempt from the base, up to the cap', async (t) => {
  t.equal(backoffCeiling(0, doubling), 100, 'attempt 0: the base')
  t.equal(backoffCeiling(1, doubling), 200, 'attempt 1')
  t.equal(backoffCeiling(3, doubling), 800, 'one before the cap')
  t.equal(backoffCeiling(4, doubling), 1600, 'at the cap')
  t.equal(backoffCeiling(5, doubling), 1600, 'one past it: capped')
  t.equal(backoffCeiling(25, doubling), 1600, 'attempt 25')
  t.equal(backoffCeiling(10_000, doubling), 1600, 'an attempt whose power overflows is capped too')
})

t.test('the default follows graphile-worker: exp(min(attempt, 10)) seconds, 25 attempts', async (t) => {
  t.equal(DEFAULT_MAX_ATTEMPTS, 25)
  t.equal(backoffCeiling(0, DEFAULT_BACKOFF), 1000, 'attempt 0: 1 s')
  t.equal(backoffCeiling(1, DEFAULT_BACKOFF), Math.round(1000 * Math.E), 'attempt 1: e seconds')
  t.equal(backoffCeiling(9, DEFAULT_BACKOFF), Math.round(1000 * Math.exp(9)), 'attempt 9, below the cap')
  t.equal(backoffCeiling(10, DEFAULT_BACKOFF), Math.round(1000 * Math.exp(10)), 'attempt 10: the cap, e^10 s')
  t.equal(backoffCeiling(11, DEFAULT_BACKOFF), Math.round(1000 * Math.exp(10)), 'attempt 11: still e^10 s')
  t.equal(backoffCeiling(25, DEFAULT_BACKOFF), 22_026_466, 'attempt 25: about 6 h 7 min')
})

t.test('full jitter: a draw of 0 waits not at all, the top draw waits the whole ceiling', async (t) => {
  for (const attempt of [0, 1, 3, 4, 5, 25]) {
    t.equal(backoffDelay(attempt, doubling, 0), 0, `attempt ${attempt}, draw 0`)
    t.equal(backoffDelay(attempt, doubling, TOP), backoffCeiling(attempt, doubling), `attempt ${attempt}, top draw`)
  }
  t.equal(backoffDelay(1, doubling, 0.5), 100, 'a middle draw: half of [0, 200], rounded down')
  t.equal(backoffDelay(0, { baseMs: 0, factor: 1, capMs: 0 }, 0.99), 0, 'a zero policy never waits')
  t.equal(backoffDelay(2000, { baseMs: 0, factor: 2, capMs: 1000 }, 0.99), 0, 'a zero base never waits, even where the power overflows')
})

t.test('an attempt below 0 or fractional, or a draw outside [0, 1), is a programming error', async (t) => {
  t.throws(() => backoffCeiling(-1, doubling), RangeError)
  t.throws(() => backoffCeiling(1.5, doubling), RangeError)
  for (const random of [1, -0.1, Number.NaN, 2]) t.throws(() => backoffDelay(1, doubling, random), RangeError, `draw ${random}`)
})

const policy: fc.Arbitrary<ExponentialBackoff> = fc.oneof(
  fc.constant(DEFAULT_BACKOFF),
  fc.record({
    baseMs: fc.integer({ min: 0, max: 86_400_000 }), factor: fc.double({ min: 1, max: 10, noNaN: true }),
    capMs: fc.integer({ min: 0, max: 604_800_000 })
  })
)
const draw = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })

t.test('every delay is a whole number of milliseconds in [0, min(cap, base · factor^attempt)], the same for the same draw', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 2000 }), policy, draw, (attempt, policy, random) => {
    const delay = backoffDelay(attempt, policy, random)
    const ceiling = policy.baseMs === 0 ? 0 : Math.min(policy.capMs, Math.round(policy.baseMs * policy.factor ** attempt))
    return Number.isInteger(delay) && delay >= 0 && delay <= ceiling && delay <= policy.capMs
      && backoffDelay(attempt, policy, random) === delay
  }), { numRuns: 2000 })
  t.pass('2000 random attempts, policies and draws: within bounds, never negative, deterministic')
})

t.test('a larger draw never waits less, and a later attempt never has a lower ceiling', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 60 }), policy, draw, draw, (attempt, policy, a, b) => {
    const [low, high] = a <= b ? [a, b] : [b, a]
    return backoffDelay(attempt, policy, low) <= backoffDelay(attempt, policy, high) &&
      backoffCeiling(attempt, policy) <= backoffCeiling(attempt + 1, policy)
  }), { numRuns: 1000 })
  t.pass('1000 random cases: monotone in the draw and in the attempt')
})

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
/** Three delays, 10% jitter. */
const three: ScheduleBackoff = { delaysMs: [1000, 2000, 4000], jitter: 0.1 }

t.test('Svix\'s schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the first attempt, 8 attempts', async (t) => {
  t.same(SVIX_BACKOFF.delaysMs, [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR])
  t.equal(scheduleMaxAttempts(SVIX_BACKOFF), 8)
  t.ok(BackoffPolicy.safeParse(SVIX_BACKOFF).success, 'a valid policy')
  const middle = [1, 2, 3, 4, 5, 6, 7].map((attempt) => backoffDelay(attempt, SVIX_BACKOFF, 0.5))
  t.same(middle, SVIX_BACKOFF.delaysMs, 'the middle draw waits each delay exactly')
  t.equal(backoffDelay(1, SVIX_BACKOFF, 0), 4 * SECOND, 'the lowest draw: 20% early')
  t.equal(backoffDelay(1, SVIX_BACKOFF, TOP), 6 * SECOND, 'the top draw: 20% late, rounded to the millisecond')
})

t.test('a schedule\'s delay after attempt n is its n-th; at its length the last, and past it the last again', async (t) => {
  const exact: ScheduleBackoff = { ...three, jitter: 0 }
  t.equal(backoffDelay(1, exact, 0.3), 1000, 'attempt 1: the first delay')
  t.equal(backoffDelay(2, exact, 0.3), 2000)
  t.equal(backoffDelay(3, exact, 0.3), 4000, 'attempt = length: the last delay')
  t.equal(backoffDelay(4, exact, 0.3), 4000, 'length + 1: the last again')
  t.equal(backoffDelay(1000, exact, 0.3), 4000, 'far beyond')
  t.equal(scheduleMaxAttempts(exact), 4, 'three delays: four attempts')
  t.equal(scheduleMaxAttempts(DEFAULT_BACKOFF), DEFAULT_MAX_ATTEMPTS, 'the exponential form keeps 25')
  t.same([backoffFloor(2, three), backoffCeiling(2, three)], [1800, 2200], 'attempt 2 within 10% of 2 s')
  t.same([backoffFloor(4, three), backoffCeiling(4, three)], [3600, 4400], 'past the end within 10% of the last')
  t.equal(backoffDelay(1, { delaysMs: [0], jitter: 0.5 }, TOP), 0, 'a zero delay stays zero whatever the jitter')
  t.throws(() => backoffDelay(0, three, 0.5), RangeError, 'a schedule counts attempts from 1')
  t.throws(() => backoffCeiling(1.5, three), RangeError)
})

t.test('a schedule policy has 1 to 50 delays of 0 to 7 days and a jitter in [0, 0.5]; old exponential policies still parse', async (t) => {
  const WEEK = 7 * 24 * HOUR
  const accepted = [
    { delaysMs: [0], jitter: 0 }, { delaysMs: Array.from({ length: 50 }, () => WEEK), jitter: 0.5 }, DEFAULT_BACKOFF,
    { baseMs: 1000, factor: Math.E, capMs: 22_026_466 }
  ]
  for (const policy of accepted) t.ok(BackoffPolicy.safeParse(policy).success, JSON.stringify(policy).slice(0, 80))
  const refused = [
    { delaysMs: [], jitter: 0 }, { delaysMs: Array.from({ length: 51 }, () => 1), jitter: 0 }, { delaysMs: [WEEK + 1], jitter: 0 },
    { delaysMs: [-1], jitter: 0 }, { delaysMs: [1.5], jitter: 0 }, { delaysMs: [1], jitter: 0.51 }, { delaysMs: [1], jitter: -0.1 },
    { delaysMs: [1] }, { delaysMs: [1], jitter: 0, baseMs: 1 }, { baseMs: 1, factor: 2 }
  ]
  for (const policy of refused) t.notOk(BackoffPolicy.safeParse(policy).success, JSON.stringify(policy).slice(0, 80))
})

const schedule: fc.Arbitrary<ScheduleBackoff> = fc.record({
  delaysMs: fc.array(fc.integer({ min: 0, max: 604_800_000 }), { minLength: 1, maxLength: 50 }),
  jitter: fc.double({ min: 0, max: 0.5, noNaN: true })
})

t.test('a schedule\'s delay is a whole number of milliseconds within its jitter of the attempt\'s delay', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 200 }), schedule, draw, (attempt, policy, random) => {
    const delay = backoffDelay(attempt, policy, random)
    const base = policy.delaysMs[Math.min(attempt, policy.delaysMs.length) - 1]!
    return Number.isInteger(delay) && delay >= Math.round(base * (1 - policy.jitter)) && delay <= Math.round(base * (1 + policy.jitter)) &&
      delay >= backoffFloor(attempt, policy) && delay <= backoffCeiling(attempt, policy) && backoffDelay(attempt, policy, random) === delay
  }), { numRuns: 2000 })
  fc.assert(fc.property(fc.integer({ min: 1, max: 60 }), schedule, draw, draw, (attempt, policy, a, b) => {
    const [low, high] = a <= b ? [a, b] : [b, a]
    return backoffDelay(attempt, policy, low) <= backoffDelay(attempt, policy, high)
  }), { numRuns: 1000 })
  t.pass('3000 random schedules, attempts and draws: within [delay · (1 - jitter), delay · (1 + jitter)], monotone in the draw')
})
