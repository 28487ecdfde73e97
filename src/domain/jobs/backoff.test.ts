/**
 * Backoff: the ceiling at the first attempts, around the cap and at the last
 * default attempt, the draw at both ends of [0, 1), then properties.
 */
import fc from 'fast-check'
import t from 'tap'
import { backoffCeiling, backoffDelay, DEFAULT_BACKOFF, DEFAULT_MAX_ATTEMPTS, type BackoffPolicy } from './backoff.ts'

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

const policy: fc.Arbitrary<BackoffPolicy> = fc.oneof(
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
