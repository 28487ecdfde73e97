/**
 * The runner's local queue (src/application/jobs/runner.ts, `prefetch`), on
 * every database driver:
 * - a node runs `concurrency` jobs and holds `prefetch` more claimed (0, 1
 *   and 3 with a concurrency of 2), each marked as its own in the due queue;
 *   once the handlers finish, every job has run once;
 * - a stop unmarks the jobs waiting there at once, and another node runs them;
 * - jobs that wait there half their claim's term (long handlers hold every
 *   slot) are unmarked for other nodes, and the node claims ahead no more
 *   until a slot frees.
 */
import t, { type Test } from 'tap'
import { z } from 'zod'
import type { Jobs } from '../src/application/jobs/jobs.ts'
import type { SqlClient } from '../src/sql/client.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { openJobsWorld, until, untilJobEvent, type JobsWorld } from './helpers/jobs-harness.ts'

const TYPE = 'test.ahead'
const payload = z.object({ i: z.number().int() }).strict()

/** A handler that holds each job until `open()`; `runs` counts each job's entries by node. */
function gatedHandler () {
  let open: () => void = () => {}
  const gate = new Promise<void>((resolve) => { open = resolve })
  const runs: string[] = []
  return {
    runs,
    open: () => open(),
    handler: {
      type: TYPE,
      payload,
      async handle ({ i }: { i: number }, { node }: { node: string }) {
        runs.push(`${i}@${node}`)
        await gate
      }
    }
  }
}

/** Rows of waiting jobs this node marked as claimed (those in its local queue, once the running ones' starts are applied). */
async function markedWaiting (sql: SqlClient, node: string): Promise<number> {
  const { rows } = await sql.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM jobs WHERE state = 'waiting' AND claimed_by = $1 AND claimed_attempt > attempt`, [node])
  return rows[0]!.n
}

async function scheduleAll (node: Jobs, n: number): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < n; i++) ids.push((await node.schedule(TYPE, { i })).jobId)
  return ids
}

t.test('the local queue of claimed jobs', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openJobsWorld(t, sql)
    for (const prefetch of [0, 1, 3]) {
      await t.test(`concurrency 2, prefetch ${prefetch}: 2 run, ${prefetch} wait, all run once`, (t) => holds(t, world, sql, prefetch))
    }
    await t.test('a stop unmarks the waiting jobs at once; another node runs them', (t) => stopReleases(t, world, sql))
    await t.test('jobs that wait half their claim\'s term go back to other nodes', (t) => staleReleased(t, world, sql))
  })
})

async function holds (t: Test, world: JobsWorld, sql: SqlClient, prefetch: number): Promise<void> {
  const name = `ahead-${prefetch}`
  const { runs, open, handler } = gatedHandler()
  const node = world.node(name, { concurrency: 2, prefetch })
  node.registerJobHandler(handler)
  const ids = await scheduleAll(node, 8)
  await node.start()
  await until(`2 running and ${prefetch} waiting`, async () => node.runner.active === 2 && node.runner.waiting === prefetch)
  await until(`${prefetch} rows marked by the node`, async () => (await markedWaiting(sql, name)) === prefetch)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same([node.runner.active, node.runner.waiting], [2, prefetch], 'no more claimed while the slots stay busy')
  t.equal(runs.length, 2, 'only the running ones entered their handler')
  open()
  for (const jobId of ids) await untilJobEvent(world.store, jobId, ['job.attempt.succeeded'])
  t.same([...runs].sort(), ids.map((_, i) => `${i}@${name}`).sort(), 'each job ran once, on this node')
  t.equal(node.runner.waiting, 0, 'nothing left waiting')
  await node.stop()
}

async function stopReleases (t: Test, world: JobsWorld, sql: SqlClient): Promise<void> {
  const first = gatedHandler()
  const node = world.node('ahead-stop', { concurrency: 1, prefetch: 3 })
  node.registerJobHandler(first.handler)
  const ids = await scheduleAll(node, 4)
  await node.start()
  await until('1 running and 3 waiting', async () => node.runner.active === 1 && node.runner.waiting === 3)
  const stopped = node.stop({ graceMs: 5000 })
  await until('the waiting jobs unmarked', async () => (await markedWaiting(sql, 'ahead-stop')) === 0 && node.runner.waiting === 0)
  t.pass('the 3 waiting jobs are unmarked before the running one ends')
  const second = gatedHandler()
  second.open()
  const other = world.node('after-stop', { concurrency: 3 })
  other.registerJobHandler(second.handler)
  await other.start()
  first.open()
  await stopped
  for (const jobId of ids) await untilJobEvent(world.store, jobId, ['job.attempt.succeeded'])
  t.same(first.runs, ['0@ahead-stop'], 'the stopped node ran only the job it had started')
  t.same([...second.runs].sort(), ['1@after-stop', '2@after-stop', '3@after-stop'], 'the other node ran the 3 it had held')
  await other.stop()
}

async function staleReleased (t: Test, world: JobsWorld, sql: SqlClient): Promise<void> {
  const slow = gatedHandler()
  // A 2 s claim: waiting jobs go back after 1 s.
  const node = world.node('ahead-stale', { concurrency: 1, prefetch: 2, leaseSeconds: 2 })
  node.registerJobHandler(slow.handler)
  const ids = await scheduleAll(node, 3)
  await node.start()
  await until('1 running and 2 waiting', async () => node.runner.active === 1 && node.runner.waiting === 2)
  await until('the 2 unmarked after half the term',
    async () => node.runner.waiting === 0 && (await markedWaiting(sql, 'ahead-stale')) === 0)
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(node.runner.waiting, 0, 'not claimed again while its only slot stays busy')
  const helper = gatedHandler()
  helper.open()
  const other = world.node('helper', { concurrency: 2 })
  other.registerJobHandler(helper.handler)
  await other.start()
  for (const jobId of ids.slice(1)) await untilJobEvent(world.store, jobId, ['job.attempt.succeeded'])
  t.same([...helper.runs].sort(), ['1@helper', '2@helper'], 'another node ran them')
  slow.open()
  await untilJobEvent(world.store, ids[0]!, ['job.attempt.succeeded'])
  t.same(slow.runs, ['0@ahead-stale'], 'the busy node finished its own')
  await Promise.all([node.stop(), other.stop()])
}
