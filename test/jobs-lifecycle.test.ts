/**
 * A runner's lifecycle and leases, on every database driver:
 *
 * - a sleeping runner wakes on the projection's NOTIFY when another node
 *   schedules a job (its polling backstop set to ten minutes);
 * - a handler that runs past its lease keeps the job: the heartbeat renews
 *   the lease, and another node running beside it does not take the job;
 * - graceful stop: a handler that finishes within the grace period
 *   succeeds; one that does not is aborted and its attempt released (failed
 *   with `job.shutdown`, due again at once), and another node then runs it;
 * - a node that stopped renewing its lease (it died) loses the job once the
 *   lease has passed: another node takes it, the decider records the lost
 *   attempt, and the metrics count the lease lost;
 * - the metrics: jobs by state and type from the table, attempts by outcome;
 * - scheduleMany: none, one, the most a call takes and one more; a refused
 *   payload schedules none; a repeat writes nothing; every job runs.
 */
import { Registry } from 'prom-client'
import t, { type Test } from 'tap'
import { z } from 'zod'
import { execute } from '../src/application/commands.ts'
import { JobMetrics } from '../src/application/jobs/metrics.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { jobDecider, jobStreamId } from '../src/domain/jobs/job.ts'
import type { SqlClient } from '../src/sql/client.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { jobEventsOf, openJobsWorld, services, until, untilJobEvent, type JobsWorld } from './helpers/jobs-harness.ts'

const payload = z.object({ name: z.string() }).strict()

t.test('lifecycle', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openJobsWorld(t, sql)
    await t.test('a sleeping runner wakes when another node schedules a job', (t) => wakeOnNotify(t, world))
    await t.test('a long handler keeps its lease by heartbeat', (t) => heartbeat(t, world))
    await t.test('graceful stop: finish within the grace period, or be aborted and released', (t) => gracefulStop(t, world))
    await t.test('a lease that is not renewed is lost, and another node takes the job', (t) => leaseTakeover(t, world, sql))
    await t.test('scheduleMany: 0, 1, 1,000 and 1,001 jobs; one refused payload schedules none; a repeat writes nothing',
      (t) => scheduleMany(t, world, sql))
  })
})

async function countEvents (sql: SqlClient, type: string): Promise<number> {
  const { rows } = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE type = $1', [type])
  return rows[0]!.n
}

async function scheduleMany (t: Test, world: JobsWorld, sql: SqlClient): Promise<void> {
  const ran = new Set<string>()
  const handler = { type: 'test.bulk', payload, async handle ({ name }: { name: string }) { ran.add(name) } }
  const node = world.node('bulk')
  node.registerJobHandler(handler)
  const jobs = (n: number, prefix: string): Array<{ type: string, payload: unknown, options: { jobId: string } }> =>
    Array.from({ length: n }, (_, i) => ({ type: 'test.bulk', payload: { name: `${prefix}${i}` }, options: { jobId: `${prefix}${i}` } }))

  t.same(await node.scheduleMany([]), [], 'none given, none scheduled')
  const scheduledBefore = await countEvents(sql, 'job.scheduled')
  const tooMany = await node.scheduleMany(jobs(1001, 'over-')).catch((e: unknown) => e)
  t.ok(tooMany instanceof RangeError, '1,001 jobs in one call are refused')
  const refused = await node.scheduleMany([...jobs(5, 'bad-'), { type: 'test.bulk', payload: { name: 7 }, options: { jobId: 'bad-x' } }])
    .catch((e: unknown) => e)
  t.equal((refused as { code?: string }).code, 'job.invalid_payload', 'one payload its schema refuses')
  t.equal(await countEvents(sql, 'job.scheduled'), scheduledBefore, 'neither call wrote a job')

  const one = await node.scheduleMany(jobs(1, 'one-'))
  t.same(one.map((s) => [s.jobId, s.scheduled]), [['one-0', true]])
  const many = jobs(1000, 'many-')
  const scheduled = await node.scheduleMany(many)
  t.same(scheduled.map((s) => s.jobId), many.map((j) => j.options.jobId), '1,000 answers, in the order given')
  t.ok(scheduled.every((s) => s.scheduled && s.position !== null), 'each one written')
  const written = await countEvents(sql, 'job.scheduled')
  t.equal(written, scheduledBefore + 1001)
  const again = await node.scheduleMany(many)
  t.same(again.map((s) => s.position), scheduled.map((s) => s.position), 'a repeat answers each first outcome')
  t.equal(await countEvents(sql, 'job.scheduled'), written, 'and writes nothing')

  await node.start()
  await until('1,001 bulk jobs run', async () => ran.size === 1001, 120_000)
  await until('their outcomes recorded', async () => node.runner.idle, 60_000)
  t.equal(ran.size, 1001, 'every job ran')
  await node.stop()
}

async function wakeOnNotify (t: Test, world: JobsWorld): Promise<void> {
  const ran: string[] = []
  const handler = { type: 'test.wake', payload, async handle ({ name }: { name: string }) { ran.push(name) } }
  const sleeper = world.node('sleeper', { pollIntervalMs: 600_000 })
  const scheduler = world.node('scheduler')
  sleeper.registerJobHandler(handler)
  scheduler.registerJobHandler(handler)
  await sleeper.start() // claims once (nothing is due), then sleeps
  for (const name of ['first', 'second']) {
    const { jobId } = await scheduler.schedule('test.wake', { name })
    await untilJobEvent(world.store, jobId, ['job.attempt.succeeded'])
  }
  t.same(ran, ['first', 'second'], 'woken by the NOTIFY, not by its poll')
  await sleeper.stop()
}

async function heartbeat (t: Test, world: JobsWorld): Promise<void> {
  const runs: string[] = []
  const handler = {
    type: 'test.long',
    payload,
    // Runs until the job's stream shows two renewals of its lease: longer than the 2 s lease, however slow the machine.
    async handle (_payload: unknown, { jobId, node }: { jobId: string, node: string }) {
      runs.push(node)
      await until('two lease renewals', async () =>
        (await jobEventsOf(world.store, jobId)).filter((e) => e.type === 'job.lease.renewed').length >= 2, 60_000)
    }
  }
  const nodes = ['long-a', 'long-b'].map((name) => world.node(name, { leaseSeconds: 2 }))
  for (const jobs of nodes) jobs.registerJobHandler(handler)
  await Promise.all(nodes.map((jobs) => jobs.start()))
  const { jobId } = await nodes[0]!.schedule('test.long', { name: 'long' })
  const events = await untilJobEvent(world.store, jobId, ['job.attempt.succeeded'], 90_000)
  t.equal(runs.length, 1, 'the other node never took it')
  t.same(events.filter((e) => e.type === 'job.attempt.started').length, 1, 'one attempt')
  const renewals = events.filter((e) => e.type === 'job.lease.renewed')
    .map((e) => Date.parse((e.data as { leaseUntil: string }).leaseUntil))
  t.ok(renewals.length >= 2 && renewals.every((until, i) => i === 0 || until > renewals[i - 1]!), 'each renewal moved the lease on')
  await Promise.all(nodes.map((jobs) => jobs.stop()))
}

async function gracefulStop (t: Test, world: JobsWorld): Promise<void> {
  let openGate: () => void = () => {}
  const gate = new Promise<void>((resolve) => { openGate = resolve })
  const entered = new Set<string>()
  const aborted: string[] = []
  const handler = {
    type: 'test.stop',
    payload,
    async handle ({ name }: { name: string }, { signal, attempt }: { signal: AbortSignal, attempt: number }) {
      entered.add(`${name}/${attempt}`)
      if (name === 'quick') return gate
      if (attempt > 1) return // on the next node: done at once
      await new Promise((_resolve, reject) => signal.addEventListener('abort', () => { aborted.push(name); reject(signal.reason) }))
    }
  }
  const first = world.node('stop-first')
  first.registerJobHandler(handler)
  await first.start()
  const quick = await first.schedule('test.stop', { name: 'quick' })
  const stubborn = await first.schedule('test.stop', { name: 'stubborn' })
  await until('both handlers to run', async () => entered.has('quick/1') && entered.has('stubborn/1'))
  const stopped = first.stop({ graceMs: 1500 })
  openGate() // the quick one finishes within the grace period
  await stopped
  t.equal(first.runner.active, 0, 'nothing runs after stop')
  t.equal((await jobEventsOf(world.store, quick.jobId)).at(-1)!.type, 'job.attempt.succeeded', 'the quick handler finished')
  t.same(aborted, ['stubborn'], 'the stubborn handler was aborted after the grace period')
  const events = await jobEventsOf(world.store, stubborn.jobId)
  const failed = events.at(-1)!
  t.equal(failed.type, 'job.attempt.failed')
  t.match(failed.data, { code: 'job.shutdown', node: 'stop-first' })
  const data = failed.data as { failedAt: string, retryAt: string }
  t.equal(data.retryAt, data.failedAt, 'released: due again at once')
  // Another node takes the released job.
  const second = world.node('stop-second')
  second.registerJobHandler(handler)
  await second.start()
  const done = await untilJobEvent(world.store, stubborn.jobId, ['job.attempt.succeeded'])
  t.match(done.at(-1)!.data, { attempt: 2, node: 'stop-second' })
  await second.stop()
}

async function leaseTakeover (t: Test, world: JobsWorld, sql: SqlClient): Promise<void> {
  const registry = new Registry()
  const metrics = new JobMetrics(registry, sql, ['test.takeover'])
  const taker = world.node('taker', { observer: metrics })
  let effects = 0
  taker.registerJobHandler({ type: 'test.takeover', payload, async handle () { effects++ } })
  const { jobId } = await taker.schedule('test.takeover', { name: 'x' })
  // A node that started the job with a 1 s lease and then died: nothing renews it.
  const ghost = services(world.store)
  await execute(ghost, jobDecider, jobStreamId(jobId), { type: 'StartAttempt', data: { node: 'ghost', leaseSeconds: 1 } },
    systemCommand('test'))
  await taker.start()
  const events = await untilJobEvent(world.store, jobId, ['job.attempt.succeeded'])
  t.same(events.map((e) => e.type),
    ['job.scheduled', 'job.attempt.started', 'job.attempt.failed', 'job.attempt.started', 'job.attempt.succeeded'])
  t.match(events[2]!.data, { attempt: 1, node: 'ghost', code: 'job.lease_lost' })
  t.match(events[3]!.data, { attempt: 2, node: 'taker' })
  const started = Date.parse((events[1]!.data as { leaseUntil: string }).leaseUntil)
  t.ok(Date.parse((events[3]!.data as { startedAt: string }).startedAt) >= started, 'taken only once the lease had passed')
  t.equal(effects, 1)
  await taker.stop()
  await until('the table to show it succeeded', async () => {
    const text = await registry.metrics()
    return text.includes('ledgerline_jobs{type="test.takeover",state="succeeded"} 1')
  })
  const text = await registry.metrics()
  t.match(text, 'ledgerline_job_leases_lost_total{type="test.takeover",side="taker"} 1')
  t.match(text, 'ledgerline_job_attempts_total{type="test.takeover",outcome="succeeded"} 1')
  t.match(text, 'ledgerline_job_duration_seconds_count{type="test.takeover",outcome="succeeded"} 1')
  t.match(text, /ledgerline_jobs_oldest_due_seconds \d/)
}
