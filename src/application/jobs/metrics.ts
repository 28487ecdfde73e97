/**
 * The jobs' metrics, on the runtime's registry (src/metrics.ts makes it; the
 * runtime hands it here): what the due queue holds, read from the jobs table
 * when scraped (the same figure on every node), and what this node's runner
 * did (attempts, durations, lost leases), counted as it happens. Labels are
 * the job type (a bounded set: types are registered in code), the state and
 * the outcome; never a job or organization id.
 *
 *   ledgerline_jobs{type, state}                     gauge: jobs by state and type (from the table)
 *   ledgerline_jobs_oldest_due_seconds               gauge: age of the oldest due job, 0 when none is due
 *   ledgerline_job_attempts_total{type, outcome}     counter: succeeded | failed | dead | timeout | released | lost
 *   ledgerline_job_duration_seconds{type, outcome}   histogram: handler run time per attempt
 *   ledgerline_job_leases_lost_total{type, side}     counter: holder (this node's heartbeat or report was refused),
 *                                                    taker (it took over an expired lease)
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { countJobs, JOB_STATES, oldestDueSeconds } from '../../projections/jobs/queries.ts'
import type { SqlExecutor } from '../../sql/client.ts'
import type { AttemptOutcome, JobRunnerObserver } from './runner.ts'

const OUTCOMES: readonly AttemptOutcome[] = ['succeeded', 'failed', 'dead', 'timeout', 'released', 'lost']

export class JobMetrics implements JobRunnerObserver {
  readonly #attempts: Counter<'type' | 'outcome'>
  readonly #duration: Histogram<'type' | 'outcome'>
  readonly #leasesLost: Counter<'type' | 'side'>

  /** `types`: the registered job types, whose series exist from the start at 0 (increase() cannot see the first increment). */
  constructor (registry: Registry, sql: SqlExecutor, types: readonly string[] = [], now: () => Date = () => new Date()) {
    this.#attempts = new Counter({
      name: 'ledgerline_job_attempts_total', help: 'Job attempts ended on this node, by job type and outcome',
      labelNames: ['type', 'outcome'], registers: [registry]
    })
    this.#duration = new Histogram({
      name: 'ledgerline_job_duration_seconds', help: 'How long job handlers ran per attempt, by job type and outcome',
      labelNames: ['type', 'outcome'], buckets: [0.005, 0.025, 0.1, 0.5, 1, 2.5, 10, 30, 120, 600], registers: [registry]
    })
    this.#leasesLost = new Counter({
      name: 'ledgerline_job_leases_lost_total',
      help: 'Job leases lost: held by this node and refused (holder), or expired and taken over by this node (taker)',
      labelNames: ['type', 'side'], registers: [registry]
    })
    new Gauge({
      name: 'ledgerline_jobs', help: 'Jobs in the due queue by job type and state', labelNames: ['type', 'state'], registers: [registry],
      async collect () {
        const counts = await countJobs(sql).catch(() => undefined)
        if (counts === undefined) return
        this.reset()
        for (const type of types) for (const state of JOB_STATES) this.set({ type, state }, 0)
        for (const c of counts) this.set({ type: c.jobType, state: c.state }, c.count)
      }
    })
    new Gauge({
      name: 'ledgerline_jobs_oldest_due_seconds',
      help: 'Seconds since the oldest due job became due (0 when none is waiting past its time)',
      registers: [registry],
      async collect () {
        const seconds = await oldestDueSeconds(sql, now()).catch(() => undefined)
        if (seconds !== undefined) this.set(seconds)
      }
    })
    for (const type of types) {
      for (const outcome of OUTCOMES) this.#attempts.inc({ type, outcome }, 0)
      for (const side of ['holder', 'taker']) this.#leasesLost.inc({ type, side }, 0)
    }
  }

  attempt (jobType: string, outcome: AttemptOutcome, seconds: number): void {
    this.#attempts.inc({ type: jobType, outcome })
    this.#duration.observe({ type: jobType, outcome }, seconds)
  }

  leaseLost (jobType: string, side: 'holder' | 'taker'): void {
    this.#leasesLost.inc({ type: jobType, side })
  }
}
