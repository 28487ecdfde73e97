/**
 * The due queue's projection applies a batch a statement per round and event
 * type (projection.ts), on every database driver: a rebuild, whose batches
 * hold each job's whole history, gives the rows the live projection gave
 * event by event, for jobs that succeeded (with a result), died, were
 * replaced (cancelled) and still wait.
 */
import t from 'tap'
import { z } from 'zod'
import { PermanentJobError } from '../src/application/jobs/handlers.ts'
import { jobsProjection } from '../src/projections/jobs/projection.ts'
import { rebuildProjection } from '../src/projections/rebuild.ts'
import type { SqlClient } from '../src/sql/client.ts'
import { lastWritten } from './helpers/assertions.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { openJobsWorld, untilJobEvent } from './helpers/jobs-harness.ts'

const payload = z.object({ i: z.number().int() }).strict()

/** Every column the log decides (the claim marks are the claimers'), as text, by job. */
async function rows (sql: SqlClient): Promise<unknown[]> {
  const { rows } = await sql.query(`
    SELECT job_id, job_type, state, run_at::text, attempt, max_attempts, job_key, key_mode, org_id, timeout_seconds, last_error_code,
           last_error_message, dead_reason, lease_node, lease_until::text, result::text, scheduled_at::text, started_at::text,
           finished_at::text, updated_at::text
      FROM jobs ORDER BY job_id`)
  return rows
}

t.test('a rebuild applies whole histories in a batch to the rows the live projection wrote', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openJobsWorld(t, sql)
    const jobs = world.node('batch')
    jobs.registerJobHandler({ type: 'test.ok', payload, async handle ({ i }) { return { i } } })
    jobs.registerJobHandler({ type: 'test.dead', payload, async handle () { throw new PermanentJobError('never', 'test.never') } })
    await jobs.start()
    const ended: Array<Promise<unknown>> = []
    for (let i = 0; i < 6; i++) {
      const { jobId } = await jobs.schedule(i % 2 === 0 ? 'test.ok' : 'test.dead', { i })
      ended.push(untilJobEvent(world.store, jobId, ['job.attempt.succeeded', 'job.dead']))
    }
    const later = new Date(Date.now() + 3_600_000)
    await jobs.schedule('test.ok', { i: 10 }, { key: 'k', runAt: later })
    await jobs.schedule('test.ok', { i: 11 }, { key: 'k', runAt: later }) // replaces (cancels) the first
    await Promise.all(ended)
    await jobs.stop()
    await world.projections.waitFor(await lastWritten(sql), 20_000)
    const live = await rows(sql)
    t.equal(live.length, 8)
    t.same(new Set(live.map((row) => (row as { state: string }).state)), new Set(['succeeded', 'dead', 'cancelled', 'waiting']))
    const { generation } = await rebuildProjection({ sql, store: world.store, projection: jobsProjection })
    t.ok(generation > 1, 'a new generation was swapped in')
    t.same(await rows(sql), live)
  })
})
