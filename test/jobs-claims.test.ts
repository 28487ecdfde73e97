/**
 * Claiming from the due queue, on every database driver:
 *
 * - two runners on one database: no job runs on both at once (concurrent
 *   entries per job id are counted), and each of 200 jobs succeeds once
 *   (on the server when there is one; 40 on the other database);
 * - the claim batch at its boundaries (0, 1, batch − 1, batch, batch + 1
 *   due jobs): a claim takes at most a batch, a second claim takes the rest
 *   and not the rows the first marked, and a runner runs every job once;
 * - job keys: `replace` cancels the pending holder, `preserve` keeps it and
 *   schedules nothing;
 * - a job's row: its type, state, run time, key and organization;
 * - a rebuild of the jobs projection in the middle keeps jobs working.
 */
import t, { type Test } from 'tap'
import { z } from 'zod'
import { rebuildProjection } from '../src/projections/rebuild.ts'
import { jobsProjection } from '../src/projections/jobs/projection.ts'
import { claimDueJobs, jobView } from '../src/projections/jobs/queries.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import type { SqlClient } from '../src/sql/client.ts'
import { forEachDatabase, scaleDriver } from './helpers/databases.ts'
import { jobEventsOf, openJobsWorld, recordEffect, until, untilJobEvent, type JobsWorld } from './helpers/jobs-harness.ts'

const payload = z.object({ i: z.number().int() }).strict()

t.test('claiming', async (t) => {
  await forEachDatabase(t, async (t, { driver, sql }) => {
    const world = await openJobsWorld(t, sql)
    await t.test('two runners on one database: each job runs once at a time, and once',
      (t) => twoRunners(t, world, driver === scaleDriver() ? 200 : 40))
    await t.test('claim batch boundaries', (t) => batchBoundaries(t, world, sql))
    await t.test('key modes', (t) => keyModes(t, world))
    await t.test('the row of a job', (t) => theRow(t, world, sql))
    await t.test('a projection rebuild in the middle keeps jobs working', (t) => rebuildInTheMiddle(t, world, sql))
  })
})

/** Counts handler entries per job id: `max` is the most runs of one job at the same moment. */
function entries (): { enter(jobId: string): void, leave(jobId: string): void, max: () => number, runs: Map<string, number> } {
  const now = new Map<string, number>()
  const runs = new Map<string, number>()
  let max = 0
  return {
    enter (jobId) {
      now.set(jobId, (now.get(jobId) ?? 0) + 1)
      runs.set(jobId, (runs.get(jobId) ?? 0) + 1)
      max = Math.max(max, now.get(jobId)!)
    },
    leave (jobId) { now.set(jobId, now.get(jobId)! - 1) },
    max: () => max,
    runs
  }
}

async function twoRunners (t: Test, world: JobsWorld, count: number): Promise<void> {
  const counted = entries()
  const nodes = ['a', 'b'].map((name) => world.node(`two-${name}`, { concurrency: 8, claimBatch: 8 }))
  const ranOn = new Map<string, number>()
  for (const jobs of nodes) {
    jobs.registerJobHandler({
      type: 'test.two',
      payload,
      async handle (_payload, context) {
        counted.enter(context.jobId)
        ranOn.set(context.node, (ranOn.get(context.node) ?? 0) + 1)
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5))
        await recordEffect(world.store, context)
        counted.leave(context.jobId)
      }
    })
  }
  await Promise.all(nodes.map((jobs) => jobs.start()))
  const ids: string[] = []
  for (let i = 0; i < count; i++) ids.push((await nodes[i % 2]!.schedule('test.two', { i })).jobId)
  await until(`${count} jobs to succeed`, async () => {
    for (const id of ids) if ((await jobEventsOf(world.store, id)).at(-1)?.type !== 'job.attempt.succeeded') return false
    return true
  }, 120_000)
  t.equal(counted.max(), 1, 'no job ran on two nodes at once')
  t.same([...new Set(counted.runs.values())], [1], 'each job ran once')
  t.equal(counted.runs.size, count)
  for (const id of ids.slice(0, 20)) t.equal((await world.store.readStream(`effect-${id}`)).length, 1, 'its effect is recorded once')
  t.comment(`runs per node: ${JSON.stringify(Object.fromEntries(ranOn))}`)
  await Promise.all(nodes.map((jobs) => jobs.stop()))
}

const BATCH = 4

async function batchBoundaries (t: Test, world: JobsWorld, sql: SqlClient): Promise<void> {
  const scheduler = world.node('batch-scheduler')
  for (const n of [0, 1, BATCH - 1, BATCH, BATCH + 1]) {
    scheduler.registerJobHandler({ type: `test.batch_${n}`, payload, async handle () {} })
  }
  for (const n of [0, 1, BATCH - 1, BATCH, BATCH + 1]) {
    const type = `test.batch_${n}`
    const ids: string[] = []
    for (let i = 0; i < n; i++) ids.push((await scheduler.schedule(type, { i })).jobId)
    await until(`${n} rows of ${type}`, async () => {
      for (const id of ids) if ((await jobView(sql, id)) === undefined) return false
      return true
    })
    const claim = (node: string) => claimDueJobs(sql, { node, types: [type], limit: BATCH, now: new Date(), claimSeconds: 1 })
    const first = await claim('first')
    t.equal(first.length, Math.min(n, BATCH), `${n} due: the first claim takes ${Math.min(n, BATCH)}`)
    const second = await claim('second')
    t.equal(second.length, Math.max(0, n - BATCH), `${n} due: a second claim takes the rest, not the rows the first marked`)
    t.same(new Set([...first, ...second].map((c) => c.jobId)), new Set(ids))
  }
  // A runner with a claim batch of BATCH runs each of them once, once the claim marks (1 s) have run out.
  const counted = entries()
  const runner = world.node('batch-runner', { concurrency: 8, claimBatch: BATCH })
  for (const n of [0, 1, BATCH - 1, BATCH, BATCH + 1]) {
    runner.registerJobHandler({
      type: `test.batch_${n}`,
      payload,
      async handle (_payload, { jobId }) { counted.enter(jobId); counted.leave(jobId) }
    })
  }
  await runner.start()
  await until('every batch job to run', async () => counted.runs.size === 1 + (BATCH - 1) + BATCH + (BATCH + 1))
  t.same([...new Set(counted.runs.values())], [1], 'each ran once')
  await runner.stop()
}

async function keyModes (t: Test, world: JobsWorld): Promise<void> {
  const jobs = world.node('keys')
  jobs.registerJobHandler({ type: 'test.keyed', payload, async handle () {} })
  const later = new Date(Date.now() + 3_600_000)
  // replace (the default): the pending holder is cancelled, the new job takes the key.
  const first = await jobs.schedule('test.keyed', { i: 1 }, { key: 'customer-1', runAt: later })
  const second = await jobs.schedule('test.keyed', { i: 2 }, { key: 'customer-1', runAt: later })
  t.not(second.jobId, first.jobId)
  t.ok(second.scheduled)
  const cancelled = (await jobEventsOf(world.store, first.jobId)).at(-1)!
  t.equal(cancelled.type, 'job.cancelled')
  t.match(cancelled.data, { reason: 'replaced', replacedBy: second.jobId })
  t.equal((await jobEventsOf(world.store, second.jobId)).at(-1)!.type, 'job.scheduled')
  // preserve: the pending holder stays; nothing new is scheduled.
  const kept = await jobs.schedule('test.keyed', { i: 3 }, { key: 'customer-1', keyMode: 'preserve', runAt: later })
  t.same({ jobId: kept.jobId, scheduled: kept.scheduled }, { jobId: second.jobId, scheduled: false })
  t.equal((await jobEventsOf(world.store, second.jobId)).at(-1)!.type, 'job.scheduled', 'the holder is untouched')
  // Another key, or the same key of another type, is free.
  const other = await jobs.schedule('test.keyed', { i: 4 }, { key: 'customer-2', keyMode: 'preserve', runAt: later })
  t.ok(other.scheduled)
  // Once the holder no longer waits (here: cancelled by a replace), preserve schedules anew.
  const third = await jobs.schedule('test.keyed', { i: 5 }, { key: 'customer-2', runAt: later })
  const fourth = await jobs.schedule('test.keyed', { i: 6 }, { key: 'customer-3', keyMode: 'preserve', runAt: later })
  t.ok(third.scheduled && fourth.scheduled)
  // Racing schedules on one key (replace and preserve mixed): one pending job remains, in every round.
  for (let round = 0; round < 4; round++) {
    const racing = await Promise.all([0, 1, 2, 3].map((i) =>
      jobs.schedule('test.keyed', { i }, { key: `race-${round}`, keyMode: i === 3 ? 'preserve' : 'replace', runAt: later })))
    const ids = [...new Set(racing.map((r) => r.jobId))]
    const states = await Promise.all(ids.map(async (id) => (await jobEventsOf(world.store, id)).at(-1)!.type))
    t.equal(states.filter((type) => type === 'job.scheduled').length, 1, `round ${round}: one pending job per key (${states.join(', ')})`)
  }
}

async function theRow (t: Test, world: JobsWorld, sql: SqlClient): Promise<void> {
  const jobs = world.node('rows')
  jobs.registerJobHandler({ type: 'test.row', payload: z.object({ orgId: z.string() }).strict(), async handle () {} })
  const runAt = new Date(Date.now() + 3_600_000)
  const { jobId } = await jobs.schedule('test.row', { orgId: 'org_payload' }, { runAt, key: 'k' })
  const fromMetadata = await jobs.schedule('test.row', { orgId: 'org_payload' }, {
    runAt, metadata: { ...systemCommand('test'), orgId: 'org_metadata' }
  })
  const row = await until('the row', () => jobView(sql, jobId))
  t.match(row, {
    jobId, jobType: 'test.row', state: 'waiting', attempt: 0, maxAttempts: 25, key: 'k', orgId: 'org_payload', leaseNode: null
  })
  t.equal(Date.parse(row.runAt), runAt.getTime())
  t.equal((await until('the other row', () => jobView(sql, fromMetadata.jobId))).orgId, 'org_metadata',
    'the metadata\'s organization first')
  await t.rejects(jobs.schedule('test.row', { orgId: 1 }), { code: 'job.invalid_payload' }, 'a payload its schema refuses')
  await t.rejects(jobs.schedule('test.nobody', {}), { code: 'job.unknown_type' })
}

async function rebuildInTheMiddle (t: Test, world: JobsWorld, sql: SqlClient): Promise<void> {
  const counted = entries()
  const jobs = world.node('rebuild', { concurrency: 4 })
  jobs.registerJobHandler({
    type: 'test.rebuild',
    payload,
    async handle (_payload, { jobId }) { counted.enter(jobId); counted.leave(jobId) }
  })
  await jobs.start()
  const ids: string[] = []
  for (let i = 0; i < 10; i++) ids.push((await jobs.schedule('test.rebuild', { i })).jobId)
  const rebuilt = rebuildProjection({ sql, store: world.store, projection: jobsProjection })
  for (let i = 10; i < 20; i++) ids.push((await jobs.schedule('test.rebuild', { i })).jobId)
  t.ok((await rebuilt).generation > 1, 'a new generation was swapped in')
  for (let i = 20; i < 30; i++) ids.push((await jobs.schedule('test.rebuild', { i })).jobId)
  for (const id of ids) await untilJobEvent(world.store, id, ['job.attempt.succeeded'])
  t.equal(counted.runs.size, 30)
  t.same([...new Set(counted.runs.values())], [1], 'each ran once')
  await until('the rebuilt table to show them all succeeded', async () => {
    const rows = await Promise.all(ids.map((id) => jobView(sql, id)))
    return rows.every((row) => row?.state === 'succeeded')
  })
  await jobs.stop()
}
