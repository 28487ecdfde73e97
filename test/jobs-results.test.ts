/**
 * What a handler answers, on every database driver: a plain object is the
 * job's result (through JSON, on `job.attempt.succeeded` and in the jobs
 * row); anything else is none; one over 64 KiB, or one JSON cannot write,
 * makes the job dead without retry. And a handler's own `concurrency`: a
 * node runs no more of its type at once, while other types and other nodes
 * go on.
 */
import t, { type Test } from 'tap'
import { z } from 'zod'
import { RESULT_LIMIT_BYTES } from '../src/domain/jobs/job.ts'
import { jobOutcome } from '../src/projections/jobs/results.ts'
import type { SqlClient } from '../src/sql/client.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { openJobsWorld, type JobsWorld, until, untilJobEvent } from './helpers/jobs-harness.ts'

const payload = z.object({ kind: z.string() }).strict()

/** A result whose JSON, {"x":"…"}, takes exactly `bytes` bytes. */
const sized = (bytes: number): Record<string, unknown> => ({ x: 'a'.repeat(bytes - 8) })

function answer (kind: string): unknown {
  switch (kind) {
    case 'report': return { ok: false, at: new Date('2026-01-02T03:04:05.000Z'), gone: undefined, mismatch: { seq: 7, found: null } }
    case 'empty': return {}
    case 'limit': return sized(RESULT_LIMIT_BYTES)
    case 'over': return sized(RESULT_LIMIT_BYTES + 1)
    case 'string': return 'done'
    case 'array': return [1, 2]
    case 'map': return new Map([['a', 1]])
    case 'cycle': { const cyclic: Record<string, unknown> = {}; cyclic.self = cyclic; return cyclic }
    default: return undefined
  }
}

t.test('job results', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openJobsWorld(t, sql)
    await t.test('a plain object is kept as the result, through JSON; anything else is no result', (t) => kept(t, world, sql))
    await t.test('a result over 64 KiB, or one JSON cannot write, makes the job dead at once', (t) => refused(t, world, sql))
    await t.test('a handler\'s concurrency caps its type on a node, not other types nor other nodes', (t) => capped(t, world))
  })
})

async function kept (t: Test, world: JobsWorld, sql: SqlClient): Promise<void> {
  const jobs = world.node('a')
  jobs.registerJobHandler({ type: 'test.answer', payload, async handle ({ kind }) { return answer(kind) } })
  await jobs.start()
  const expected: Record<string, unknown> = {
    report: { ok: false, at: '2026-01-02T03:04:05.000Z', mismatch: { seq: 7, found: null } },
    empty: {},
    limit: sized(RESULT_LIMIT_BYTES),
    string: null,
    array: null,
    map: null,
    nothing: null
  }
  for (const [kind, result] of Object.entries(expected)) {
    const { jobId } = await jobs.schedule('test.answer', { kind })
    const events = await untilJobEvent(world.store, jobId, ['job.attempt.succeeded'])
    t.same((events.at(-1)!.data as { result?: unknown }).result, result ?? undefined, `${kind}: the event's result`)
    const outcome = await until(`${kind} projected`, async () => {
      const found = await jobOutcome(sql, jobId)
      return found?.state === 'succeeded' ? found : undefined
    })
    t.same(outcome.result, result, `${kind}: the row's result`)
  }
  await jobs.stop()
}

async function refused (t: Test, world: JobsWorld, sql: SqlClient): Promise<void> {
  const jobs = world.node('b')
  let calls = 0
  jobs.registerJobHandler({
    type: 'test.unkept', payload, maxAttempts: 5, async handle ({ kind }) { calls++; return answer(kind) }
  })
  await jobs.start()
  for (const [kind, code, message] of [
    ['over', 'job.result_too_large', `the handler's result takes ${RESULT_LIMIT_BYTES + 1} bytes as JSON; at most 65536 are kept`],
    ['cycle', 'job.result_invalid', /^the job's result cannot be written as JSON: /]
  ] as const) {
    const before = calls
    const { jobId } = await jobs.schedule('test.unkept', { kind })
    const events = await untilJobEvent(world.store, jobId, ['job.dead'])
    t.same(events.map((e) => e.type), ['job.scheduled', 'job.attempt.started', 'job.attempt.failed', 'job.dead'], `${kind}: one attempt`)
    t.match(events[2]!.data, { code, message, retryAt: null })
    t.match(events[3]!.data, { reason: 'do_not_retry' })
    t.equal(calls - before, 1, `${kind}: the handler ran once`)
    const outcome = await until(`${kind} projected`, async () => {
      const found = await jobOutcome(sql, jobId)
      return found?.state === 'dead' ? found : undefined
    })
    t.match(outcome, { attempts: 1, result: null, lastError: { code, message } }, `${kind}: the row keeps the code and the message`)
  }
  await jobs.stop()
}

async function capped (t: Test, world: JobsWorld): Promise<void> {
  /** Per type: how many run now, and the most that ran at once. */
  const load = new Map<string, { now: number, most: number }>()
  const handler = (type: string, concurrency?: number) => ({
    type,
    payload,
    ...(concurrency === undefined ? {} : { concurrency }),
    async handle () {
      const seen = load.get(type) ?? { now: 0, most: 0 }
      load.set(type, seen)
      seen.now++
      seen.most = Math.max(seen.most, seen.now)
      await new Promise((resolve) => setTimeout(resolve, 150))
      seen.now--
    }
  })
  const one = world.node('c1', { concurrency: 8 })
  one.registerJobHandler(handler('test.single', 1))
  one.registerJobHandler(handler('test.free'))
  await one.start()
  const run = async (type: string, count: number): Promise<void> => {
    const ids = await Promise.all(Array.from({ length: count }, () => one.schedule(type, { kind: 'x' })))
    await Promise.all(ids.map(({ jobId }) => untilJobEvent(world.store, jobId, ['job.attempt.succeeded'])))
  }
  await Promise.all([run('test.single', 4), run('test.free', 4)])
  t.equal(load.get('test.single')!.most, 1, 'four capped jobs on one node: one at a time')
  t.ok(load.get('test.free')!.most >= 2, `four uncapped jobs beside them: ${load.get('test.free')!.most} at once`)

  load.clear()
  const two = world.node('c2', { concurrency: 8 })
  two.registerJobHandler(handler('test.single', 1))
  two.registerJobHandler(handler('test.free'))
  await two.start()
  await run('test.single', 6)
  t.equal(load.get('test.single')!.most, 2, 'with a second node, two at once: one on each')
  await Promise.all([one.stop(), two.stop()])
}
