/**
 * Ledgerline's jobs engine for the jobs benchmark, built as the runtime builds
 * it (src/runtime.ts) but without the rest of the runtime: the application's
 * event registry (job events included), the runtime's state cache, the
 * projection runner with the `jobs` projection at the configuration's
 * defaults (batch size, live read interval), and `Jobs` nodes at the
 * configuration's defaults (lease, concurrency, poll interval) unless a
 * scenario says otherwise.
 *
 * Decisions:
 * - The defaults come from `loadConfig({})`, so the bench follows them if
 *   they change.
 * - `openNode` is also what the recovery scenario's child process runs: a
 *   node of its own (queue, cache) on the same database, without the
 *   projection, which runs once per database like a deployment's leader.
 * - Attempts are counted through the runner's observer, which hears of an
 *   attempt once its outcome is appended: a job counts as done when that is
 *   durable, not when its handler returns.
 */
import { pino } from 'pino'
import { z } from 'zod'
import { StreamQueue } from '../../src/application/commands.ts'
import { stateCache } from '../../src/application/cache.ts'
import type { JobHandler } from '../../src/application/jobs/handlers.ts'
import { Jobs, type JobsOptions } from '../../src/application/jobs/jobs.ts'
import type { AttemptOutcome, JobRunnerObserver } from '../../src/application/jobs/runner.ts'
import { loadConfig } from '../../src/config.ts'
import { createRegistry } from '../../src/domain/events.ts'
import { createPostgresEventStore } from '../../src/eventstore/postgres.ts'
import type { EventStore } from '../../src/eventstore/types.ts'
import { jobsProjection } from '../../src/projections/jobs/projection.ts'
import { ProjectionRunner } from '../../src/projections/runner.ts'
import type { SqlClient } from '../../src/sql/client.ts'

export const logger = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' })

/** The configuration's defaults: what a deployment runs unless told otherwise. */
export const DEFAULTS = (() => {
  const config = loadConfig({})
  return {
    leaseSeconds: config.jobs.leaseSeconds,
    concurrency: config.jobs.concurrency,
    pollIntervalMs: config.jobs.pollIntervalMs,
    claimBatch: config.jobs.claimBatch,
    prefetch: config.jobs.prefetch,
    projectionBatchSize: config.projectionBatchSize,
    liveReadIntervalMs: config.liveReadIntervalMs,
    poolSize: config.databasePoolSize
  }
})()

/** The bench's job: a sequence number, so a handler can tell which job it runs. */
export const BENCH_JOB = 'bench.noop'
export const benchPayload = z.object({ n: z.number().int().nonnegative() }).strict()
export type BenchPayload = z.infer<typeof benchPayload>

/** A handler of the bench's job type; `handle` gets the sequence number. */
export function benchHandler (handle: (n: number, signal: AbortSignal) => Promise<void> | void): JobHandler<BenchPayload> {
  return { type: BENCH_JOB, payload: benchPayload, async handle (payload, context) { await handle(payload.n, context.signal) } }
}

export function openStore (sql: SqlClient): EventStore {
  return createPostgresEventStore(sql, createRegistry())
}

/** A node: its own command queue and state cache, as a process of its own has. */
export function openNode (sql: SqlClient, store: EventStore, options: Partial<JobsOptions> = {}): Jobs {
  return new Jobs({
    sql,
    services: { store, queue: new StreamQueue(), states: stateCache(), directory: { observe () {} } },
    logger,
    concurrency: DEFAULTS.concurrency,
    claimBatch: DEFAULTS.claimBatch,
    ...(DEFAULTS.prefetch === undefined ? {} : { prefetch: DEFAULTS.prefetch }),
    leaseSeconds: DEFAULTS.leaseSeconds,
    pollIntervalMs: DEFAULTS.pollIntervalMs,
    ...options
  })
}

/** Starts the `jobs` projection and resolves once its table can be claimed from. */
export async function startProjection (sql: SqlClient, store: EventStore): Promise<ProjectionRunner> {
  const runner = new ProjectionRunner({
    sql,
    store,
    logger,
    projections: [jobsProjection],
    batchSize: DEFAULTS.projectionBatchSize,
    liveIntervalMs: DEFAULTS.liveReadIntervalMs
  })
  runner.start()
  // The view exists once the first generation is swapped in; a runner started before it would wait for its next poll.
  const deadline = Date.now() + 30_000
  while (!await sql.query('SELECT 1 FROM jobs LIMIT 0').then(() => true, () => false)) {
    if (Date.now() > deadline) throw new Error('the jobs projection did not expose its table within 30 s')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return runner
}

/** Counts attempts by outcome; `until(outcome, n)` resolves once that many have been recorded. */
export class AttemptCounter implements JobRunnerObserver {
  readonly counts = new Map<AttemptOutcome, number>()
  lostLeases = 0
  #waiters: Array<{ outcome: AttemptOutcome, n: number, resolve: () => void }> = []

  attempt (_jobType: string, outcome: AttemptOutcome): void {
    this.counts.set(outcome, (this.counts.get(outcome) ?? 0) + 1)
    this.#waiters = this.#waiters.filter((w) => {
      if (this.count(w.outcome) < w.n) return true
      w.resolve()
      return false
    })
  }

  leaseLost (): void {
    this.lostLeases++
  }

  count (outcome: AttemptOutcome): number {
    return this.counts.get(outcome) ?? 0
  }

  until (outcome: AttemptOutcome, n: number, timeoutMs: number): Promise<void> {
    if (this.count(outcome) >= n) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.count(outcome)} of ${n} attempts ${outcome} after ${timeoutMs} ms`)),
        timeoutMs)
      this.#waiters.push({ outcome, n, resolve: () => { clearTimeout(timer); resolve() } })
    })
  }
}
