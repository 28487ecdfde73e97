/**
 * The jobs engine of one runtime, in one object: register handlers, schedule
 * jobs, run them. Composes handlers.ts (the registry), schedule.ts (writing
 * `job.scheduled`, keys) and runner.ts (claiming, leases, outcomes); the due
 * queue is the `jobs` projection (src/projections/jobs/), which must run
 * beside it, and the job events must be in the store's registry
 * (`jobEvents` and `jobKeyEvents` from src/domain/jobs/). Its appends go
 * through one group commit (src/eventstore/group-commit.ts).
 */
import { hostname } from 'node:os'
import { groupCommit } from '../../eventstore/group-commit.ts'
import { JobHandlers, type JobHandler } from './handlers.ts'
import { JobRunner, type JobRunnerObserver, type JobRunnerOptions } from './runner.ts'
import { scheduleJob, scheduleJobs, type JobToSchedule, type ScheduleContext, type ScheduleOptions, type Scheduled } from './schedule.ts'

/** The runner's options; the handlers are the Jobs' own, and the node name defaults to host name and pid. */
export type JobsOptions = Omit<JobRunnerOptions, 'handlers' | 'node'> & { readonly node?: string }

export function defaultNodeName (): string {
  return `${hostname()}:${process.pid}`.slice(0, 200)
}

export class Jobs {
  readonly handlers = new JobHandlers()
  readonly runner: JobRunner
  /** What scheduling needs: the services (through the group commit), the handlers, the clock. */
  readonly #context: ScheduleContext

  constructor (options: JobsOptions) {
    // Every job is a stream of its own, and a node writes to many at once: their appends share commits.
    const services = { ...options.services, store: groupCommit(options.services.store) }
    this.#context = { services, handlers: this.handlers, now: options.now ?? (() => new Date()) }
    this.runner = new JobRunner({ ...options, services, node: options.node ?? defaultNodeName(), handlers: this.handlers })
  }

  /** Reports attempts and lost leases to `observer` (the runtime's JobMetrics). */
  observe (observer: JobRunnerObserver): void {
    this.runner.observe(observer)
  }

  registerJobHandler<P> (handler: JobHandler<P>): void {
    this.handlers.register(handler)
  }

  /** Validates the payload against its handler's schema and writes `job.scheduled` (see schedule.ts for keys). */
  async schedule (type: string, payload: unknown, options: ScheduleOptions = {}): Promise<Scheduled> {
    const scheduled = await scheduleJob(this.#context, type, payload, options)
    this.runner.wake()
    return scheduled
  }

  /** Schedules up to 1,000 jobs in one call, in a few commits (see schedule.ts, `scheduleJobs`); none when one is refused. */
  async scheduleMany (jobs: readonly JobToSchedule[]): Promise<Scheduled[]> {
    const scheduled = await scheduleJobs(this.#context, jobs)
    this.runner.wake()
    return scheduled
  }

  start (): Promise<void> {
    return this.runner.start()
  }

  stop (options?: { graceMs?: number }): Promise<void> {
    return this.runner.stop(options)
  }
}
