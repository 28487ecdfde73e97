/**
 * The job decider: one example per rule, then properties over random command
 * sequences from three nodes, on a clock that runs past leases, timeouts and
 * retry times.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import t from 'tap'
import { fold, type DecisionContext } from '../decider.ts'
import { LedgerlineError } from '../errors.ts'
import { EventRegistry } from '../registry.ts'
import { spec } from '../testing.ts'
import { backoffCeiling, type BackoffPolicy } from './backoff.ts'
import { jobEvents, type JobEvent } from './events.ts'
import { holdsKey, jobDecider, RESULT_LIMIT_BYTES, type JobCommand, type JobState } from './job.ts'

const job = spec(jobDecider)
const T0 = Date.parse('2026-01-01T00:00:00.000Z')
const SECOND = 1000
const iso = (seconds: number): string => new Date(T0 + seconds * SECOND).toISOString()
const clock = (ms: number): DecisionContext => ({ now: new Date(ms), actor: { type: 'system', id: 'jobs' } })
/** The context `seconds` after the job was scheduled. */
const at = (seconds: number): DecisionContext => clock(T0 + seconds * SECOND)

type Of<Type extends JobEvent['type']> = Extract<JobEvent, { type: Type }>
/** 1 s doubling, capped at 8 s. */
const doubling: BackoffPolicy = { baseMs: 1000, factor: 2, capMs: 8000 }
const TOP = 1 - Number.EPSILON

const scheduled = (changes: Partial<Of<'job.scheduled'>['data']> = {}): Of<'job.scheduled'> => ({
  type: 'job.scheduled',
  data: {
    jobId: 'j1', jobType: 'webhook.deliver', payload: { deliveryId: 'd1' }, runAt: iso(0), maxAttempts: 3, backoff: doubling,
    timeoutSeconds: 120, scheduledAt: iso(0), ...changes
  }
})
const started = (attempt: number, node: string, from: number, lease = 30): JobEvent => ({
  type: 'job.attempt.started', data: { attempt, node, startedAt: iso(from), leaseUntil: iso(from + lease) }
})
const failed = (
  attempt: number, node: string, when: number, retryAt: number | null, code = 'http.503', message = 'unavailable'
): JobEvent => ({
  type: 'job.attempt.failed', data: { attempt, node, code, message, failedAt: iso(when), retryAt: retryAt === null ? null : iso(retryAt) }
})
const dead = (attempts: number, when: number, reason: 'attempts_exhausted' | 'do_not_retry' = 'attempts_exhausted'): JobEvent => ({
  type: 'job.dead', data: { attempts, reason, at: iso(when) }
})
const cancelled = (when: number, changes: Partial<Of<'job.cancelled'>['data']> = {}): JobEvent => ({
  type: 'job.cancelled', data: { by: 'ada', reason: 'cancelled', at: iso(when), ...changes }
})
const retried = (when: number, maxAttempts: number, runAt = when): JobEvent => ({
  type: 'job.retried', data: { by: 'ada', runAt: iso(runAt), maxAttempts, at: iso(when) }
})

const schedule = (changes: Partial<Extract<JobCommand, { type: 'ScheduleJob' }>['data']> = {}): JobCommand => ({
  type: 'ScheduleJob',
  data: {
    jobId: 'j1', jobType: 'webhook.deliver', payload: { deliveryId: 'd1' }, maxAttempts: 3, backoff: doubling, timeoutSeconds: 120,
    ...changes
  }
})
const start = (node: string, leaseSeconds = 30): JobCommand => ({ type: 'StartAttempt', data: { node, leaseSeconds } })
const renew = (node: string, attempt: number, leaseSeconds = 30): JobCommand => ({
  type: 'RenewLease', data: { node, attempt, leaseSeconds }
})
const succeed = (node: string, attempt: number, result?: Record<string, unknown>): JobCommand => ({
  type: 'SucceedAttempt', data: { node, attempt, ...(result === undefined ? {} : { result }) }
})
const fail = (node: string, attempt: number, random = 0, retryable = true): JobCommand => ({
  type: 'FailAttempt',
  data: { node, attempt, code: retryable ? 'http.503' : 'http.410', message: retryable ? 'unavailable' : 'gone', retryable, random }
})
const cancel: JobCommand = { type: 'CancelJob', data: { by: 'ada' } }
const retry: JobCommand = { type: 'RetryJob', data: { by: 'ada' } }

/** Scheduled at 0, attempt 1 running on n1 from 0 with a lease to 30. */
const running = [scheduled(), started(1, 'n1', 0)]
/** Three attempts failed: dead at 60. */
const exhausted = [
  scheduled(), started(1, 'n1', 0), failed(1, 'n1', 1, 2), started(2, 'n1', 2), failed(2, 'n1', 3, 5), started(3, 'n2', 5),
  failed(3, 'n2', 60, null), dead(3, 60)
]

t.test('a job is scheduled to run now, with 25 attempts, the default backoff and a 5 minute timeout unless told otherwise', async (t) => {
  job.given([]).when({ type: 'ScheduleJob', data: { jobId: 'j1', jobType: 'webhook.deliver', payload: { deliveryId: 'd1' } } }, at(0))
    .then(t, [scheduled({
    maxAttempts: 25, backoff: { baseMs: 1000, factor: Math.E, capMs: 22_026_466 }, timeoutSeconds: 300
  })])
  job.given([]).when(schedule({ runAt: iso(60), key: 'org-acme', keyMode: 'preserve' }), at(0))
    .then(t, [scheduled({ runAt: iso(60), key: 'org-acme', keyMode: 'preserve' })])
  job.given([scheduled()]).when(schedule({ maxAttempts: 9 }), at(5)).then(t, [], 'scheduling a job id again changes nothing')
})

t.test('an attempt starts when the job is due, leased for the lease or the timeout, whichever ends first', async (t) => {
  job.given([scheduled({ runAt: iso(60) })]).when(start('n1'), clock(T0 + 60 * SECOND - 1)).thenThrows(t, 'job.not_due')
  job.given([scheduled({ runAt: iso(60) })]).when(start('n1'), at(60)).then(t, [started(1, 'n1', 60)], 'at its run time')
  job.given([scheduled({ timeoutSeconds: 10 })]).when(start('n1'), at(0))
    .then(t, [started(1, 'n1', 0, 10)], 'a 10 second timeout caps the lease')
})

t.test('while the lease is live nobody else starts the job; once it has expired the next node takes it, ' +
  'and the lost attempt counts as failed', async (t) => {
  job.given(running).when(start('n2'), clock(T0 + 30 * SECOND - 1)).thenThrows(t, 'job.leased')
  job.given(running).when(start('n1'), at(29)).thenThrows(t, 'job.leased', 'not even the holder starts it twice')
  job.given(running).when(start('n2'), at(30)).then(t, [
    failed(1, 'n1', 30, 30, 'job.lease_lost', `the lease expired at ${iso(30)} before the attempt reported`), started(2, 'n2', 30)
  ], 'at the expiry')
  const last = [scheduled({ maxAttempts: 1 }), started(1, 'n1', 0)]
  job.given(last).when(start('n2'), at(45)).then(t, [
    failed(1, 'n1', 45, null, 'job.lease_lost', `the lease expired at ${iso(30)} before the attempt reported`), dead(1, 45)
  ], 'a lost last attempt makes the job dead, and nothing starts')
})

t.test('the holder renews its lease before the expiry, never past the timeout; nobody else does', async (t) => {
  job.given(running).when(renew('n1', 1), at(20))
    .then(t, [{ type: 'job.lease.renewed', data: { attempt: 1, node: 'n1', leaseUntil: iso(50) } }])
  job.given(running).when(renew('n2', 1), at(20)).thenThrows(t, 'job.lease_lost', 'another node')
  job.given(running).when(renew('n1', 2), at(20)).thenThrows(t, 'job.lease_lost', 'another attempt')
  job.given(running).when(renew('n1', 1), at(30)).thenThrows(t, 'job.lease_lost', 'at the expiry')
  job.given(running).when(renew('n1', 1, 10), at(5)).then(t, [], 'a renewal that would not move the lease on writes nothing')
  const renewed = (until: number): JobEvent => ({ type: 'job.lease.renewed', data: { attempt: 1, node: 'n1', leaseUntil: iso(until) } })
  job.given([...running, renewed(50), renewed(80), renewed(110)]).when(renew('n1', 1), at(100))
    .then(t, [renewed(120)], 'up to the 120 second timeout')
  job.given([...running, renewed(50), renewed(80), renewed(110), renewed(120)]).when(renew('n1', 1), at(115)).then(t, [], 'and no further')
  job.given([...running, renewed(50)]).when(start('n2'), at(45)).thenThrows(t, 'job.leased', 'a renewed lease holds off a takeover')
})

t.test('only the holder of the current attempt\'s lease reports its outcome', async (t) => {
  job.given(running).when(succeed('n1', 1), at(3))
    .then(t, [{ type: 'job.attempt.succeeded', data: { attempt: 1, node: 'n1', finishedAt: iso(3) } }])
  job.given(running).when(succeed('n2', 1), at(3)).thenThrows(t, 'job.lease_lost', 'not another node')
  job.given(running).when(succeed('n1', 2), at(3)).thenThrows(t, 'job.lease_lost', 'not for another attempt')
  const takenOver = [...running, failed(1, 'n1', 30, 30, 'job.lease_lost', 'lost'), started(2, 'n2', 30)]
  job.given(takenOver).when(succeed('n1', 1), at(31)).thenThrows(t, 'job.lease_lost', 'a late report after a takeover')
  job.given(takenOver).when(fail('n1', 1), at(31)).thenThrows(t, 'job.lease_lost', 'a late failure after a takeover')
  job.given(running).when(succeed('n1', 1), at(40))
    .then(t, [{ type: 'job.attempt.succeeded', data: { attempt: 1, node: 'n1', finishedAt: iso(40) } }],
    'after the expiry but before any takeover, the work is done: it is taken')
  job.given([...running, failed(1, 'n1', 3, 5)]).when(fail('n1', 1), at(4)).thenThrows(t, 'job.lease_lost', 'an attempt reported twice')
  job.given([...running, { type: 'job.attempt.succeeded', data: { attempt: 1, node: 'n1', finishedAt: iso(3) } }])
    .when(succeed('n1', 1), at(4))
    .thenThrows(t, 'job.closed')
})

t.test('a success keeps the handler\'s result, a JSON object of at most 64 KiB; one larger is refused', async (t) => {
  const report = { ok: false, mismatch: { seq: 23, column: 'ip', expected: null, found: '203.0.113.9' }, rows: [1, 2.5, 'x', true] }
  const succeeded = (result?: Of<'job.attempt.succeeded'>['data']['result']): Of<'job.attempt.succeeded'> => ({
    type: 'job.attempt.succeeded', data: { attempt: 1, node: 'n1', finishedAt: iso(3), ...(result === undefined ? {} : { result }) }
  })
  job.given(running).when(succeed('n1', 1, report), at(3)).then(t, [succeeded(report)])
  job.given(running).when(succeed('n1', 1, {}), at(3)).then(t, [succeeded({})], 'an empty object is a result too')
  job.given(running).when(succeed('n1', 1), at(3)).then(t, [succeeded()], 'no result: the event has none')
  /** A result whose JSON, {"x":"…"}, takes `bytes` bytes: eight of them are the braces, key and quotes. */
  const sized = (bytes: number, char = 'a'): Record<string, unknown> => ({ x: char.repeat((bytes - 8) / Buffer.byteLength(char)) })
  t.equal(Buffer.byteLength(JSON.stringify(sized(RESULT_LIMIT_BYTES))), 65_536, 'the limit is 64 KiB')
  job.given(running).when(succeed('n1', 1, sized(RESULT_LIMIT_BYTES)), at(3)).then(t, [succeeded(sized(RESULT_LIMIT_BYTES) as never)],
    'exactly 64 KiB is kept')
  job.given(running).when(succeed('n1', 1, sized(RESULT_LIMIT_BYTES + 1)), at(3)).thenThrows(t, 'job.result_too_large', 'one byte more')
  job.given(running).when(succeed('n1', 1, sized(RESULT_LIMIT_BYTES + 2, 'é')), at(3))
    .thenThrows(t, 'job.result_too_large', 'bytes count, not characters: 32,765 é are 65,538 bytes')
  job.given(running).when(succeed('n2', 1, report), at(3)).thenThrows(t, 'job.lease_lost', 'a result does not pass for the holder')

  t.same(fold(jobDecider, [...running, succeeded(report)]), { status: 'succeeded', job: scheduled().data, attempts: 1, result: report },
    'the succeeded state holds the result')
  const before = { type: 'job.attempt.succeeded', data: { attempt: 1, node: 'n1', finishedAt: iso(3) } } as const
  const registry = new EventRegistry(jobEvents)
  t.same(registry.validate(before.type, before.data), before.data, 'a success recorded before results were kept still parses')
  t.match(fold(jobDecider, [...running, before]), { status: 'succeeded', result: null }, 'and folds to no result')
  t.throws(() => registry.validate(before.type, { ...before.data, result: ['not', 'an', 'object'] }), { code: 'store.invalid_event_data' },
    'a result is an object, never an array')
  // As JSON.parse makes it (the runner's copy of a handler's answer): an own key named __proto__, which a rebuilt copy drops.
  const odd = JSON.parse('{"":{"__proto__":""},"n":[1,{"__proto__":{"a":null}}]}') as Record<string, unknown>
  const withOdd = { ...before.data, result: odd }
  t.same(registry.validate(before.type, withOdd), withOdd, 'a key named __proto__ is kept as it was')
  const kept = registry.validate(before.type, withOdd) as { result: Record<string, object> }
  t.ok(Object.hasOwn(kept.result['']!, '__proto__'), 'as an own key')
  for (const [label, result] of [['NaN', { x: Number.NaN }], ['a date', { at: new Date(0) }], ['a function', { f: () => 1 }],
    ['65 levels deep', JSON.parse(`${'{"a":'.repeat(65)}1${'}'.repeat(65)}`) as unknown]] as const) {
    t.throws(() => registry.validate(before.type, { ...before.data, result }), { code: 'store.invalid_event_data' }, `not JSON: ${label}`)
  }
  const deep = JSON.parse(`${'{"a":'.repeat(64)}1${'}'.repeat(64)}`) as Record<string, unknown>
  t.same((registry.validate(before.type, { ...before.data, result: deep }) as { result: unknown }).result, deep, '64 levels deep is kept')
})

t.test('a failure waits a jittered backoff for the next attempt; the last one, or a do-not-retry, makes the job dead', async (t) => {
  job.given(running).when(fail('n1', 1, 0), at(10)).then(t, [failed(1, 'n1', 10, 10)], 'a draw of 0: due at once')
  job.given(running).when(fail('n1', 1, TOP), at(10))
    .then(t, [failed(1, 'n1', 10, 12)], 'the top draw: the whole ceiling after attempt 1, 2 s')
  job.given([scheduled({ maxAttempts: 9 }), started(1, 'n1', 0), failed(1, 'n1', 1, 1), started(2, 'n1', 1), failed(2, 'n1', 2, 2),
    started(3, 'n1', 2), failed(3, 'n1', 3, 3), started(4, 'n1', 3)])
    .when(fail('n1', 4, TOP), at(4)).then(t, [failed(4, 'n1', 4, 12)], 'after attempt 4 the 8 s cap')
  job.given([scheduled({ maxAttempts: 1 }), started(1, 'n1', 0)]).when(fail('n1', 1, 0.5), at(10))
    .then(t, [failed(1, 'n1', 10, null), dead(1, 10)], 'the last attempt')
  job.given(running).when(fail('n1', 1, 0.5, false), at(10))
    .then(t, [failed(1, 'n1', 10, null, 'http.410', 'gone'), dead(1, 10, 'do_not_retry')], 'a 410 on attempt 1')
  job.given([...running, failed(1, 'n1', 10, 12)]).when(start('n2'), clock(T0 + 12 * SECOND - 1))
    .thenThrows(t, 'job.not_due', 'not before the retry time')
  job.given([...running, failed(1, 'n1', 10, 12)]).when(start('n2'), at(12)).then(t, [started(2, 'n2', 12)], 'any node at it')
})

t.test('a schedule backoff gives one attempt more than its delays, and each retry waits its delay within the jitter', async (t) => {
  const svixLike = { delaysMs: [5000, 300_000], jitter: 0.2 }
  job.given([]).when(schedule({ maxAttempts: undefined, backoff: svixLike }), at(0))
    .then(t, [scheduled({ maxAttempts: 3, backoff: svixLike })], 'two delays: three attempts')
  job.given([]).when(schedule({ maxAttempts: 10, backoff: svixLike }), at(0))
    .then(t, [scheduled({ maxAttempts: 10, backoff: svixLike })], 'unless the job says otherwise')
  const onSchedule = [scheduled({ backoff: svixLike }), started(1, 'n1', 0)]
  job.given(onSchedule).when(fail('n1', 1, 0.5), at(10)).then(t, [failed(1, 'n1', 10, 15)], 'the middle draw: 5 s')
  job.given(onSchedule).when(fail('n1', 1, 0), at(10)).then(t, [failed(1, 'n1', 10, 14)], 'the lowest: 4 s')
  job.given([...onSchedule, failed(1, 'n1', 10, 15), started(2, 'n1', 15)]).when(fail('n1', 2, 0.5), at(20))
    .then(t, [failed(2, 'n1', 20, 320)], 'after attempt 2: 5 min')
})

const failLater = (attempt: number, retryAfterMs: number, random = 0.5, retryable = true): JobCommand => {
  const command = fail('n1', attempt, random, retryable) as Extract<JobCommand, { type: 'FailAttempt' }>
  return { ...command, data: { ...command.data, retryAfterMs } }
}
const failedAfter = (attempt: number, when: number, retryAt: number | null, retryAfterMs: number, code = 'http.503'): JobEvent => {
  const event = failed(attempt, 'n1', when, retryAt, code, code === 'http.503' ? 'unavailable' : 'gone') as Of<'job.attempt.failed'>
  return { ...event, data: { ...event.data, retryAfterMs } }
}

t.test('a Retry-After longer than the backoff delays the retry to it, a shorter one does not, and a day is the most', async (t) => {
  // doubling: the middle draw after attempt 1 waits 1 s (half of [0, 2 s], rounded down).
  job.given(running).when(failLater(1, 60_000), at(10)).then(t, [failedAfter(1, 10, 70, 60_000)], 'longer: 60 s')
  job.given(running).when(failLater(1, 200), at(10)).then(t, [failedAfter(1, 10, 11, 200)], 'shorter: the backoff\'s 1 s')
  const justOver = failedAfter(1, 10, 11, 1001) as Of<'job.attempt.failed'>
  job.given(running).when(failLater(1, 1000.2), at(10))
    .then(t, [{ ...justOver, data: { ...justOver.data, retryAt: new Date(T0 + 11_001).toISOString() } }], 'whole milliseconds, rounded up')
  job.given(running).when(failLater(1, 86_400_000), at(10)).then(t, [failedAfter(1, 10, 10 + 86_400, 86_400_000)], 'a day exactly')
  job.given(running).when(failLater(1, 86_400_001), at(10)).then(t, [failedAfter(1, 10, 10 + 86_400, 86_400_000)], 'capped at a day')
  job.given(running).when(failLater(1, Number.POSITIVE_INFINITY), at(10))
    .then(t, [failedAfter(1, 10, 10 + 86_400, 86_400_000)], 'for ever is a day')
  job.given(running).when(failLater(1, -5), at(10)).then(t, [failedAfter(1, 10, 11, 0)], 'a negative wait is none')
  job.given(running).when(failLater(1, 60_000, 0.5, false), at(10))
    .then(t, [failedAfter(1, 10, null, 60_000, 'http.410'), dead(1, 10, 'do_not_retry')], 'a do-not-retry still wins')
  job.given([scheduled({ maxAttempts: 1 }), started(1, 'n1', 0)]).when(failLater(1, 60_000), at(10))
    .then(t, [failedAfter(1, 10, null, 60_000), dead(1, 10)], 'the last attempt is still the last')
  job.given([...running, failedAfter(1, 10, 70, 60_000)]).when(start('n2'), clock(T0 + 70 * SECOND - 1))
    .thenThrows(t, 'job.not_due', 'not due before the Retry-After')
  job.given([...running, failedAfter(1, 10, 70, 60_000)]).when(start('n2'), at(70)).then(t, [started(2, 'n2', 70)], 'due at it')
})

t.test('a cancel stops a waiting or running job; its holder hears of it at the next heartbeat', async (t) => {
  job.given([scheduled()]).when(cancel, at(1)).then(t, [cancelled(1)])
  job.given(running).when(cancel, at(1)).then(t, [cancelled(1)])
  job.given([...running, cancelled(1)]).when(renew('n1', 1), at(2)).thenThrows(t, 'job.closed')
  job.given([...running, cancelled(1)]).when(succeed('n1', 1), at(2)).thenThrows(t, 'job.closed')
  job.given([...running, cancelled(1)]).when(start('n2'), at(40)).thenThrows(t, 'job.closed', 'nothing starts a cancelled job')
  job.given([...running, cancelled(1)]).when(cancel, at(2)).then(t, [], 'cancelling again changes nothing')
  job.given(exhausted).when(cancel, at(61)).thenThrows(t, 'job.closed', 'a dead job is not cancelled')
  job.given([scheduled()]).when({ type: 'CancelJob', data: { by: 'system', reason: 'replaced', replacedBy: 'j2' } }, at(1))
    .then(t, [cancelled(1, { by: 'system', reason: 'replaced', replacedBy: 'j2' })], 'a pending job is replaced by one with its key')
  job.given(running).when({ type: 'CancelJob', data: { by: 'system', reason: 'replaced', replacedBy: 'j2' } }, at(1))
    .thenThrows(t, 'job.leased', 'a running one is not')
})

t.test('a manual retry makes the job due now with at least one more attempt; attempt numbers go on', async (t) => {
  job.given(exhausted).when(retry, at(100)).then(t, [retried(100, 4)], 'a dead job: one attempt more')
  job.given([...exhausted, retried(100, 4)]).when(start('n3'), at(100)).then(t, [started(4, 'n3', 100)], 'attempt 4')
  job.given([...exhausted, retried(100, 4), started(4, 'n3', 100)]).when(fail('n3', 4), at(101))
    .then(t, [failed(4, 'n3', 101, null), dead(4, 101)], 'and if it fails, dead again')
  job.given([scheduled(), cancelled(1)]).when(retry, at(5)).then(t, [retried(5, 3)], 'a job cancelled before it ran keeps its budget')
  job.given([...running, cancelled(1)]).when(retry, at(5))
    .then(t, [retried(5, 3, 30)], 'cancelled while running: due when the interrupted lease runs out')
  job.given([...running, failed(1, 'n1', 2, 6)]).when(retry, at(3)).then(t, [retried(3, 3)], 'failed and waiting: due now')
  job.given([scheduled()]).when(retry, at(1)).thenThrows(t, 'job.not_retryable', 'a job that never ran')
  job.given(running).when(retry, at(1)).thenThrows(t, 'job.not_retryable', 'a running job')
  job.given([...running, { type: 'job.attempt.succeeded', data: { attempt: 1, node: 'n1', finishedAt: iso(3) } }]).when(retry, at(4))
    .thenThrows(t, 'job.not_retryable', 'a job that succeeded')
})

t.test('a command on a job never scheduled is refused', async (t) => {
  for (const command of [start('n1'), renew('n1', 1), succeed('n1', 1), fail('n1', 1), cancel, retry]) {
    job.given([]).when(command, at(0)).thenThrows(t, 'job.not_found', command.type)
  }
})

t.test('a job holds its key only while it waits', async (t) => {
  const cases: Array<[string, JobEvent[], boolean]> = [
    ['scheduled', [scheduled()], true],
    ['waiting for its retry', [...running, failed(1, 'n1', 2, 6)], true],
    ['running', running, false],
    ['dead', exhausted, false],
    ['cancelled', [scheduled(), cancelled(1)], false],
    ['never scheduled', [], false]
  ]
  for (const [what, history, holds] of cases) t.equal(holdsKey(fold(jobDecider, history)), holds, what)
})

t.test('evolve ignores events that do not apply', async (t) => {
  const none = jobDecider.initialState()
  const waiting = fold(jobDecider, [scheduled()])
  const live = fold(jobDecider, running)
  const over = fold(jobDecider, exhausted)
  const cases: Array<[string, JobState, JobEvent]> = [
    ['a start of nothing', none, started(1, 'n1', 0)],
    ['a second schedule', waiting, scheduled({ maxAttempts: 9 })],
    ['a start while running', live, started(2, 'n2', 1)],
    ['a success while waiting', waiting, { type: 'job.attempt.succeeded', data: { node: 'n1', attempt: 1, finishedAt: iso(1) } }],
    ['a renewal while waiting', waiting, { type: 'job.lease.renewed', data: { attempt: 1, node: 'n1', leaseUntil: iso(60) } }],
    ['a start after death', over, started(4, 'n1', 70)],
    ['a retry while running', live, retried(5, 9)],
    ['a cancel after death', over, cancelled(70)]
  ]
  for (const [what, state, event] of cases) t.strictSame(jobDecider.evolve(state, event), state, what)
})

// ── properties ──────────────────────────────────────────────────────────────

/** Who a command comes from: the current holder (so attempts get reported), or any of three nodes. */
const who = fc.oneof({ arbitrary: fc.constant('holder' as const), weight: 3 }, { arbitrary: fc.constantFrom('n1', 'n2', 'n3'), weight: 2 })
/** Which attempt a report names: the current one mostly, else any from 1 to 6 (late, early, made up). */
const which = fc.oneof({ arbitrary: fc.constant('current' as const), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 6 }), weight: 1 })
const leaseSeconds = fc.oneof({ arbitrary: fc.constant(30), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 90 }), weight: 1 })
const draw = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })
type Who = 'holder' | string
type Which = 'current' | number
/** A command before its node and attempt are resolved against the state it meets. */
type Planned =
  | { type: 'start', node: Who, leaseSeconds: number }
  | { type: 'renew', node: Who, attempt: Which, leaseSeconds: number }
  | { type: 'succeed', node: Who, attempt: Which, result: Record<string, unknown> | null }
  | { type: 'fail', node: Who, attempt: Which, retryable: boolean, random: number }
  | { type: 'cancel' | 'retry' }
const planned: fc.Arbitrary<Planned> = fc.oneof(
  { arbitrary: fc.record({ type: fc.constant('start' as const), node: who, leaseSeconds }), weight: 8 },
  { arbitrary: fc.record({ type: fc.constant('renew' as const), node: who, attempt: which, leaseSeconds }), weight: 5 },
  {
    arbitrary: fc.record({
      type: fc.constant('succeed' as const), node: who, attempt: which,
      // Through JSON, as the runner hands results on (fast-check's dictionaries have no prototype).
      result: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 })
        .map((value) => JSON.parse(JSON.stringify(value)) as Record<string, unknown>))
    }),
    weight: 2
  },
  {
    arbitrary: fc.record({
      type: fc.constant('fail' as const), node: who, attempt: which, retryable: fc.constantFrom(true, true, true, true, false), random: draw
    }),
    weight: 6
  },
  { arbitrary: fc.record({ type: fc.constantFrom('cancel' as const, 'retry' as const) }), weight: 2 }
)
/** How far the clock moves before a command: often nothing, mostly seconds, sometimes past any lease and timeout. */
const advance = fc.oneof(
  { arbitrary: fc.constant(0), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: 10 * SECOND }), weight: 6 },
  { arbitrary: fc.integer({ min: 0, max: 40 }).map((s) => s * SECOND), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: 300 * SECOND }), weight: 1 }
)
const opening = fc.record({
  maxAttempts: fc.integer({ min: 1, max: 4 }),
  timeoutSeconds: fc.constantFrom(20, 60, 300),
  runAt: fc.constantFrom(0, 0, 10).map(iso),
  backoff: fc.constant(doubling)
}).map((changes) => schedule(changes))
const scenario = fc.tuple(opening, fc.array(fc.tuple(planned, advance), { minLength: 1, maxLength: 40, size: 'large' }))
const RUNS = 1000

function resolve (plan: Planned, state: JobState): JobCommand {
  const node = (chosen: Who): string => chosen === 'holder' ? (state.status === 'running' ? state.node : 'n1') : chosen
  const attempt = (chosen: Which): number => chosen === 'current' ? ('attempts' in state ? Math.max(1, state.attempts) : 1) : chosen
  switch (plan.type) {
    case 'start': return start(node(plan.node), plan.leaseSeconds)
    case 'renew': return renew(node(plan.node), attempt(plan.attempt), plan.leaseSeconds)
    case 'succeed': return succeed(node(plan.node), attempt(plan.attempt), plan.result ?? undefined)
    case 'fail': return fail(node(plan.node), attempt(plan.attempt), plan.random, plan.retryable)
    case 'cancel': return cancel
    case 'retry': return retry
  }
}

interface Step {
  readonly command: JobCommand
  readonly now: number
  readonly before: JobState
  readonly events: JobEvent[]
  readonly after: JobState
  readonly refused: string | undefined
  readonly logged: number
  readonly untouched: boolean
}

function outcome (command: JobCommand, state: JobState, now: number): JobEvent[] | string {
  try {
    return jobDecider.decide(command, state, clock(now))
  } catch (error) {
    if (!(error instanceof LedgerlineError)) throw error
    return error.code
  }
}

function play ([first, rest]: [JobCommand, Array<[Planned, number]>]): { steps: Step[], log: JobEvent[] } {
  let state = jobDecider.initialState()
  let now = T0
  const steps: Step[] = []
  const log: JobEvent[] = []
  const commands: Array<[JobCommand | Planned, number]> = [[first, 0], ...rest]
  for (const [next, forward] of commands) {
    now += forward
    const command = 'data' in next ? next : resolve(next, state)
    const before = structuredClone(state)
    const decided = outcome(command, state, now)
    const events = typeof decided === 'string' ? [] : decided
    const untouched = JSON.stringify(state) === JSON.stringify(before)
    for (const event of events) state = jobDecider.evolve(state, event)
    const refused = typeof decided === 'string' ? decided : undefined
    steps.push({ command, now, before, events, after: structuredClone(state), refused, logged: log.length, untouched })
    log.push(...events)
  }
  return { steps, log }
}

/** The log with the time each event was decided at. */
const timed = (steps: Step[]): Array<[JobEvent, number]> =>
  steps.flatMap((step) => step.events.map((event): [JobEvent, number] => [event, step.now]))

t.test('no job runs on two nodes at once: an attempt starts only when every other attempt has ended ' +
  'or its lease has run out', async (t) => {
  let takeovers = 0
  fc.assert(fc.property(scenario, (commands) => {
    const { steps } = play(commands)
    /** Each attempt's lease, and whether its node reported its end (a cancel does not end it: the node may not know yet). */
    const attempts = new Map<number, { leaseUntil: number, ended: boolean }>()
    for (const [event, now] of timed(steps)) {
      switch (event.type) {
        case 'job.attempt.started':
          for (const [number, other] of attempts) {
            assert.ok(other.ended || other.leaseUntil <= now, `attempt ${event.data.attempt} started at ${new Date(now).toISOString()} ` +
              `while attempt ${number} held a lease to ${new Date(other.leaseUntil).toISOString()}`)
            if (!other.ended) takeovers++
          }
          attempts.set(event.data.attempt, { leaseUntil: Date.parse(event.data.leaseUntil), ended: false })
          break
        case 'job.lease.renewed':
          attempts.get(event.data.attempt)!.leaseUntil = Date.parse(event.data.leaseUntil)
          break
        case 'job.attempt.succeeded':
          attempts.get(event.data.attempt)!.ended = true
          break
        case 'job.attempt.failed':
          // A lost lease is no end the node reported: the lease's expiry is what frees the job.
          if (event.data.code !== 'job.lease_lost') attempts.get(event.data.attempt)!.ended = true
          break
      }
    }
  }), { numRuns: RUNS })
  t.ok(takeovers > 0, `${RUNS} random sequences; ${takeovers} attempts started after an unreported attempt's lease ran out, none before`)
})

t.test('no attempt starts after dead or cancelled without a manual retry, and nothing follows a success', async (t) => {
  let closed = 0
  let reopened = 0
  fc.assert(fc.property(scenario, (commands) => {
    const { log } = play(commands)
    let shut: string | undefined
    for (const event of log) {
      if (event.type === 'job.attempt.started') assert.equal(shut, undefined, `an attempt started after ${shut}: ${JSON.stringify(log)}`)
      if (shut === 'job.attempt.succeeded') assert.fail(`${event.type} after a success`)
      if (event.type === 'job.dead' || event.type === 'job.cancelled' || event.type === 'job.attempt.succeeded') {
        shut = event.type
        closed++
      }
      if (event.type === 'job.retried') {
        if (shut !== undefined) reopened++
        shut = undefined
      }
    }
  }), { numRuns: RUNS })
  t.ok(closed > 0 && reopened > 0, `${RUNS} random sequences; ${closed} closed, ${reopened} retried by hand; no attempt in between`)
})

t.test('attempts are numbered 1, 2, 3… and never above the maximum in force', async (t) => {
  let atMaximum = 0
  fc.assert(fc.property(scenario, (commands) => {
    const { log } = play(commands)
    let maximum = 0
    let last = 0
    for (const event of log) {
      if (event.type === 'job.scheduled' || event.type === 'job.retried') maximum = event.data.maxAttempts
      if (event.type !== 'job.attempt.started') continue
      assert.equal(event.data.attempt, last + 1, 'the next number')
      assert.ok(event.data.attempt <= maximum, `attempt ${event.data.attempt} of at most ${maximum}: ${JSON.stringify(log)}`)
      if (event.data.attempt === maximum) atMaximum++
      last = event.data.attempt
    }
  }), { numRuns: RUNS })
  t.ok(atMaximum > 0, `${RUNS} random sequences; ${atMaximum} reached their last allowed attempt, none went past it`)
})

/** The attempt running now, by whom, and whether its outcome was reported. */
interface HeldAttempt { attempt: number, node: string, ended: boolean }

/** A report or heartbeat from a node without the current lease records nothing and is refused; true when it was one. */
function refusedUnlessHolder (step: Step): boolean {
  const { command } = step
  if (command.type !== 'SucceedAttempt' && command.type !== 'FailAttempt' && command.type !== 'RenewLease') return false
  const holder = step.before.status === 'running' && step.before.node === command.data.node && step.before.attempts === command.data.attempt
  if (holder) return false
  const what = `${command.type} by ${command.data.node} for attempt ${command.data.attempt}`
  assert.equal(step.events.length, 0, `${what} was recorded while ${JSON.stringify(step.before)}`)
  assert.ok(step.refused === 'job.lease_lost' || step.refused === 'job.closed', `refused with ${step.refused}`)
  return true
}

/** Follows the attempt held after `event`, asserting that only its holder renews it or reports its outcome, once. */
function heldBy (current: HeldAttempt | undefined, event: JobEvent): HeldAttempt | undefined {
  if (event.type === 'job.attempt.started') return { attempt: event.data.attempt, node: event.data.node, ended: false }
  const byHolder = event.type === 'job.lease.renewed' || event.type === 'job.attempt.succeeded' ||
    (event.type === 'job.attempt.failed' && event.data.code !== 'job.lease_lost')
  if (!byHolder) return current
  const holds = current !== undefined && !current.ended && current.attempt === event.data.attempt && current.node === event.data.node
  assert.ok(holds, `${event.type} not by the holder`)
  if (current === undefined) return current
  if (event.type !== 'job.lease.renewed') current.ended = true
  return current
}

t.test('only the holder of the current attempt\'s lease renews it or reports its outcome, once', async (t) => {
  let refused = 0
  fc.assert(fc.property(scenario, (commands) => {
    const { steps } = play(commands)
    let current: HeldAttempt | undefined
    for (const step of steps) {
      if (refusedUnlessHolder(step)) refused++
      for (const event of step.events) current = heldBy(current, event)
    }
  }), { numRuns: RUNS })
  t.ok(refused > 0, `${RUNS} random sequences; ${refused} reports or heartbeats from a node without the lease, every one refused`)
})

t.test('an attempt starts only when due, and a retry is due within the backoff\'s ceiling after the failure', async (t) => {
  let retries = 0
  fc.assert(fc.property(scenario, (commands) => {
    const { steps } = play(commands)
    let due = 0
    for (const [event, now] of timed(steps)) {
      if (event.type === 'job.scheduled' || event.type === 'job.retried') due = Date.parse(event.data.runAt)
      if (event.type === 'job.attempt.started') {
        assert.ok(now >= due, `started at ${new Date(now).toISOString()}, due ${new Date(due).toISOString()}`)
      }
      if (event.type === 'job.attempt.failed' && event.data.retryAt !== null) {
        const wait = Date.parse(event.data.retryAt) - Date.parse(event.data.failedAt)
        const ceiling = event.data.code === 'job.lease_lost' ? 0 : backoffCeiling(event.data.attempt, doubling)
        assert.ok(wait >= 0 && wait <= ceiling, `waits ${wait} ms after attempt ${event.data.attempt}; the ceiling is ${ceiling}`)
        due = Date.parse(event.data.retryAt)
        retries++
      }
    }
  }), { numRuns: RUNS })
  t.ok(retries > 0, `${RUNS} random sequences; ${retries} retries, each due within its ceiling, no start before its time`)
})

t.test('folding all events at once equals folding them step by step, and a decision does not depend on which', async (t) => {
  fc.assert(fc.property(scenario, (commands) => {
    const { steps, log } = play(commands)
    assert.deepEqual(fold(jobDecider, log), steps.at(-1)!.after)
    for (const step of steps) {
      assert.deepEqual(fold(jobDecider, log.slice(0, step.logged + step.events.length)), step.after)
      const replayed = fold(jobDecider, log.slice(0, step.logged))
      assert.deepEqual(replayed, step.before)
      assert.deepEqual(outcome(step.command, replayed, step.now), step.refused ?? step.events, 'the same decision on the replayed state')
    }
  }), { numRuns: RUNS })
  t.pass(`${RUNS} random sequences: every step's state equals the fold of the events so far`)
})

t.test('deciding never changes the state it reads, and every decided event fits its schema', async (t) => {
  const registry = new EventRegistry(jobEvents)
  fc.assert(fc.property(scenario, (commands) => {
    const { steps, log } = play(commands)
    for (const step of steps) assert.ok(step.untouched, `${step.command.type} changed the state it read`)
    for (const event of log) assert.deepEqual(registry.validate(event.type, event.data), event.data, `${event.type} as validated`)
  }), { numRuns: RUNS })
  t.pass(`${RUNS} random sequences: no decision mutated its state; every event validated unchanged`)
})
