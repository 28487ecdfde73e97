import fc from 'fast-check'
import t from 'tap'
import { TokenBuckets } from './rate-limit.ts'

t.test('a bucket lets a burst of twice the rate through, refuses the next, and refills at the rate', async (t) => {
  let now = 1_000_000
  const buckets = new TokenBuckets(5, () => now)
  const burst = Array.from({ length: 10 }, () => buckets.take('s').allowed)
  t.same(burst, Array(10).fill(true), 'burst of 10 at rate 5')
  t.same(buckets.take('s'), { allowed: false, retryAfterSeconds: 1 }, 'the 11th is refused, told to come back in a second')
  t.ok(buckets.take('other').allowed, 'each source has its own bucket')
  now += 199
  t.notOk(buckets.take('s').allowed, '199 ms refill less than one token')
  now += 1
  t.ok(buckets.take('s').allowed, '200 ms refill one')
  now += 60_000
  const after = Array.from({ length: 11 }, () => buckets.take('s').allowed)
  t.equal(after.filter(Boolean).length, 10, 'a long pause refills to the burst, no more')
})

t.test('over any schedule of takes, no more pass than the burst plus what the rate refilled', async (t) => {
  const gapsOf = fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 300 })
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 50 }), gapsOf, (rate, gaps) => {
    let now = 0
    const buckets = new TokenBuckets(rate, () => now)
    let passed = 0
    for (const gap of gaps) {
      now += gap
      if (buckets.take('s').allowed) passed++
    }
    return passed <= 2 * rate + Math.floor((now / 1000) * rate) + 1 && passed >= Math.min(gaps.length, 2 * rate)
  })))
})
