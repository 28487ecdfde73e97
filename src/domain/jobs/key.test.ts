/**
 * The job key reservation: a claim names the new holder only if the holder
 * is still the one the caller judged; a repeated claim by the holder is a
 * no-op; and over random sequences of claims, the folded holder is always
 * the last accepted claim's job.
 */
import fc from 'fast-check'
import t from 'tap'
import { JobKeyTaken } from './errors.ts'
import { jobKeyDecider, jobKeyStreamId, type JobKeyCommand, type JobKeyState } from './key.ts'

const context = { now: new Date('2030-01-01T00:00:00.000Z'), actor: { type: 'system' as const, id: 'test' } }
const claim = (jobId: string, expectedHolder: string | null): JobKeyCommand =>
  ({ type: 'ClaimKey', data: { jobType: 'test.keyed', key: 'k', jobId, expectedHolder } })

t.test('a claim takes the key from the holder the caller judged, and from no other', async (t) => {
  const empty = jobKeyDecider.initialState()
  const [first] = jobKeyDecider.decide(claim('a', null), empty, context)
  t.match(first, { type: 'job.key.claimed', data: { jobId: 'a', jobType: 'test.keyed', key: 'k', at: context.now.toISOString() } })
  const held = jobKeyDecider.evolve(empty, first!)
  t.same(held, { holder: 'a' })
  t.same(jobKeyDecider.decide(claim('a', null), held, context), [], 'the holder claiming again changes nothing')
  t.throws(() => jobKeyDecider.decide(claim('b', null), held, context), JobKeyTaken, 'judged free, but a holds it')
  t.equal(jobKeyDecider.decide(claim('b', 'a'), held, context).length, 1, 'judged against a: taken')
})

t.test('the stream id is one per (type, key), whatever characters the key holds', async (t) => {
  t.match(jobKeyStreamId('webhook.deliver', 'customer/42 ü'), /^jobkey-[0-9a-f]{64}$/)
  t.not(jobKeyStreamId('a.b', 'c'), jobKeyStreamId('a', 'b.c'))
  t.equal(jobKeyStreamId('a', 'k'), jobKeyStreamId('a', 'k'))
})

t.test('property: the holder is the last accepted claim, and a claim judged on a stale holder is refused', async () => {
  const claims = fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.constantFrom<string | null>(null, 'a', 'b', 'c')))
  fc.assert(fc.property(claims, (claims) => {
    let state: JobKeyState = jobKeyDecider.initialState()
    let lastAccepted: string | null = null
    for (const [jobId, expected] of claims) {
      try {
        const events = jobKeyDecider.decide(claim(jobId, expected), state, context)
        if (events.length === 0 && state.holder !== jobId) return false
        if (events.length > 0 && state.holder !== expected) return false
        for (const event of events) state = jobKeyDecider.evolve(state, event)
        lastAccepted = jobId
      } catch (error) {
        if (!(error instanceof JobKeyTaken) || state.holder === expected || state.holder === jobId) return false
      }
    }
    return state.holder === lastAccepted
  }))
})
