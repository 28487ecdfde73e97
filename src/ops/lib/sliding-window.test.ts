import fc from 'fast-check'
import t from 'tap'
import { SlidingWindowCounts } from './sliding-window.ts'

t.test('a key counts what was added within the window, slot by slot', async (t) => {
  let now = 0
  const counts = new SlidingWindowCounts(1000, 10, () => now)
  t.equal(counts.total('a'), 0)
  t.equal(counts.add('a'), 1)
  now = 500
  t.equal(counts.add('a', 2), 3)
  now = 999
  t.equal(counts.total('a'), 3)
  now = 1000
  t.equal(counts.total('a'), 2, 'the slot of t=0 left the window')
  now = 1500
  t.equal(counts.total('a'), 0)
  t.same(counts.summary(0), { max: 0, maxKey: undefined, over: 0 })
  t.equal(counts.size, 0, 'an empty key is dropped at the summary')
})

t.test('the summary: the highest key, and how many are above the threshold', async (t) => {
  const counts = new SlidingWindowCounts(1000, 100, () => 0)
  counts.add('a', 5)
  counts.add('b', 7)
  counts.add('c', 6)
  t.same(counts.summary(5), { max: 7, maxKey: 'b', over: 2 })
})

t.test('keys are bounded: the least recently touched goes first', async (t) => {
  const counts = new SlidingWindowCounts(1000, 3, () => 0)
  counts.add('a')
  counts.add('b')
  counts.add('c')
  counts.add('a') // a is now the most recent
  counts.add('d')
  t.equal(counts.size, 3)
  t.equal(counts.total('b'), 0, 'b went')
  t.equal(counts.total('a'), 2)
  for (let i = 0; i < 10_000; i++) counts.add(`k${i}`)
  t.equal(counts.size, 3)
})

t.test('property: the total equals a naive count of the additions in the last slots', async (t) => {
  const step = fc.record({
    key: fc.constantFrom('a', 'b', 'c'), gap: fc.integer({ min: 0, max: 300 }), count: fc.integer({ min: 1, max: 5 })
  })
  fc.assert(fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
    let now = 0
    const counts = new SlidingWindowCounts(1000, 100, () => now, 10)
    const added: Array<{ key: string, at: number, count: number }> = []
    for (const s of steps) {
      now += s.gap
      counts.add(s.key, s.count)
      added.push({ key: s.key, at: now, count: s.count })
    }
    const slot = Math.floor(now / 100)
    return ['a', 'b', 'c'].every((key) => counts.total(key) === added
      .filter((a) => a.key === key && Math.floor(a.at / 100) > slot - 10)
      .reduce((n, a) => n + a.count, 0))
  }))
  t.pass('held')
})
