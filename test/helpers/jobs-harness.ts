/**
 * The jobs engine on a test database, without a whole runtime: an event store
 * whose registry knows the job events (and a test effect), the `jobs`
 * projection running, and any number of nodes, each with its own command
 * queue and state cache as separate processes would have.
 */
import { pino } from 'pino'
import type { Test } from 'tap'
import { z } from 'zod'
import { StreamQueue, type CommandServices } from '../../src/application/commands.ts'
import type { JobContext } from '../../src/application/jobs/handlers.ts'
import { Jobs, type JobsOptions } from '../../src/application/jobs/jobs.ts'
import { createRegistry } from '../../src/domain/events.ts'
import { metadataFor } from '../../src/domain/envelope.ts'
import { jobEvents } from '../../src/domain/jobs/events.ts'
import { jobStreamId } from '../../src/domain/jobs/job.ts'
import { jobKeyEvents } from '../../src/domain/jobs/key.ts'
import { defineEvent } from '../../src/domain/registry.ts'
import { createPostgresEventStore } from '../../src/eventstore/postgres.ts'
import type { EventStore, RecordedEvent } from '../../src/eventstore/types.ts'
import { jobsProjection } from '../../src/projections/jobs/projection.ts'
import { ProjectionRunner } from '../../src/projections/runner.ts'
import type { SqlClient } from '../../src/sql/client.ts'

export const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })

/** What a test handler records: once per job, whatever happens. */
export const effectRecorded = defineEvent({
  type: 'test.effect.recorded',
  schema: z.object({ jobId: z.string() }).strict()
})

export function jobsRegistry () {
  return createRegistry([...jobEvents, ...jobKeyEvents, effectRecorded])
}

export function services (store: EventStore): CommandServices {
  return { store, queue: new StreamQueue(), states: new Map(), directory: { observe () {} } }
}

export interface JobsWorld {
  readonly store: EventStore
  readonly projections: ProjectionRunner
  /** A node: its own queue and cache; stopped (grace 0) at teardown unless the test stopped it. */
  node(name: string, options?: Partial<JobsOptions>): Jobs
}

export async function openJobsWorld (t: Test, sql: SqlClient): Promise<JobsWorld> {
  const store = createPostgresEventStore(sql, jobsRegistry())
  const projections = new ProjectionRunner({ sql, store, logger, projections: [jobsProjection], standbyRetryMs: 100 })
  projections.start()
  // The jobs view exists once the first generation is swapped in. A NOTIFY sent while that first build applies comes
  // before the view does, so a runner started earlier would find nothing to claim until its next poll.
  await until('the jobs view', async () => sql.query('SELECT 1 FROM jobs LIMIT 0').then(() => true, () => false))
  const nodes: Jobs[] = []
  t.teardown(async () => {
    await Promise.all(nodes.map((node) => node.stop({ graceMs: 0 })))
    await projections.stop()
    await store.close()
  })
  return {
    store,
    projections,
    node (name, options = {}) {
      const jobs = new Jobs({ sql, services: services(store), logger, node: name, pollIntervalMs: 50, ...options })
      nodes.push(jobs)
      return jobs
    }
  }
}

/** Records the job's effect keyed by its id: a second run appends the same event id, which the store does not write again. */
export async function recordEffect (store: EventStore, context: JobContext): Promise<void> {
  const command = context.command('effect')
  const metadata = metadataFor(command, 0)
  const event = { id: metadata.eventId, type: effectRecorded.type, data: { jobId: context.jobId }, metadata }
  await store.append(`effect-${context.jobId}`, [event])
}

export async function until<T> (what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = await probe()
    if (found !== undefined && found !== false) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

export function jobEventsOf (store: EventStore, jobId: string): Promise<RecordedEvent[]> {
  return store.readStream(jobStreamId(jobId))
}

/** Resolves once the job's stream ends in one of the given event types. */
export function untilJobEvent (store: EventStore, jobId: string, types: readonly string[], timeoutMs?: number): Promise<RecordedEvent[]> {
  return until(`job ${jobId} to reach ${types.join(' or ')}`, async () => {
    const events = await jobEventsOf(store, jobId)
    return types.includes(events.at(-1)?.type ?? '') ? events : undefined
  }, timeoutMs)
}

/** A clock the test moves. */
export function testClock (start = '2030-01-01T00:00:00.000Z'): { now: () => Date, set(at: Date | string): void } {
  let current = new Date(start)
  return { now: () => current, set (at) { current = new Date(at) } }
}
