/**
 * The job runner of one node: claims due jobs from the due queue
 * (src/projections/jobs/), starts each attempt through the job's decider,
 * runs its handler with a timeout and a lease heartbeat, and records the
 * outcome.
 *
 * - Claiming: in batches of up to `claimBatch`, with `FOR UPDATE SKIP
 *   LOCKED`, of the types whose handler's own `concurrency` is not reached
 *   on this node (a row of a type that reaches it within the batch is
 *   unmarked at once, for any node to take). The node claims ahead: up to
 *   `prefetch` claimed jobs wait in a local queue beyond the `concurrency`
 *   running ones, so a slot that frees starts the next job at once instead
 *   of waiting for a claim, and the next claim runs while jobs do. A job
 *   that waited there half its claim's term (long handlers hold every slot)
 *   is unmarked for any node to take, and the node claims ahead no more
 *   until a slot frees; at stop, every waiting job is unmarked. The row is a hint (the projection lags the log);
 *   `job.attempt.started` is appended with the stream's expected version,
 *   so of two nodes racing for one job one starts it and the other is
 *   refused (JobLeased, JobNotDue, JobClosed) and moves on.
 * - Waking: LISTEN on the projection's channel (a NOTIFY when a job becomes
 *   due, on PostgreSQL from any node, on PGlite in-process), `wake()` from
 *   this process, a freed slot, and a poll every `pollIntervalMs` as the
 *   backstop (future run times and expired leases need no event).
 * - Leases: an attempt holds its job for `leaseSeconds`; a heartbeat every
 *   leaseSeconds / 3 renews it (never past the job's timeout, the decider's
 *   rule). A node that dies stops renewing; once the lease has passed any
 *   node's claim takes the job, and the decider records the lost attempt
 *   (`job.lease_lost`). A heartbeat refused with LeaseLost aborts the
 *   handler; its outcome is not recorded.
 * - Slots: a slot is a running handler. It is given back as the handler
 *   ends, before its outcome is written, so the next job's start and this
 *   one's outcome go to the store together (the engine's appends share
 *   commits: src/eventstore/group-commit.ts); `stop` still waits for every
 *   outcome.
 * - Outcomes: success, with the handler's answer as the result when it is a
 *   plain object (handlers.ts, `resultOf`); a result over 64 KiB as JSON is
 *   a failure without retry (`job.result_too_large`: the work ran, but its
 *   answer cannot be kept, and would be as large again); an error marked
 *   permanent (handlers.ts) is a failure without retry (dead); any other
 *   error, or the timeout (the handler's signal aborts), is a failure
 *   retried after the job's backoff, drawn with the injected `random`, or
 *   after the error's `retryAfterMs` when that is longer (a Retry-After).
 * - stop({ graceMs }): no new claims; running handlers get the grace period
 *   to finish; the rest are aborted and their attempts released: recorded as
 *   failed (`job.shutdown`) with a zero backoff draw, so the job is due again
 *   at once, on another node or after the restart (on the last allowed
 *   attempt the decider makes it dead, like any failure).
 *
 * Time: `now()` is the clock of every decision and of "due"; timers
 * (heartbeat, timeout, polling) run on real time.
 */
import type { Logger } from 'pino'
import { handleCommand } from '../../domain/decider.ts'
import { systemCommand } from '../../domain/envelope.ts'
import { JobClosed, JobLeased, JobNotDue, JobNotFound, LeaseLost } from '../../domain/jobs/errors.ts'
import type { JobEvent } from '../../domain/jobs/events.ts'
import {
  DEFAULT_LEASE_SECONDS, jobDecider, jobStreamId, RESULT_LIMIT_BYTES, resultBytes, type JobCommand, type JobState
} from '../../domain/jobs/job.ts'
import { JOBS_CHANNEL } from '../../projections/jobs/projection.ts'
import { claimDueJobs, releaseClaim, type ClaimedJob } from '../../projections/jobs/queries.ts'
import { isUndefinedTable, type SqlClient } from '../../sql/client.ts'
import type { CommandServices } from '../commands.ts'
import { failureOf, isPermanent, jobCommand, resultOf, retryAfterOf, type JobHandler, type JobHandlers } from './handlers.ts'

export type AttemptOutcome = 'succeeded' | 'failed' | 'dead' | 'timeout' | 'released' | 'lost'

/** What the runner reports; src/application/jobs/metrics.ts implements it. */
export interface JobRunnerObserver {
  attempt(jobType: string, outcome: AttemptOutcome, seconds: number): void
  /** A lease this node held was lost (`holder`), or this node took over a job whose lease had expired (`taker`). */
  leaseLost(jobType: string, side: 'holder' | 'taker'): void
}

export interface JobRunnerOptions {
  readonly sql: SqlClient
  readonly services: CommandServices
  readonly handlers: JobHandlers
  readonly logger: Logger
  /** This node's name in leases (default: host and pid). */
  readonly node: string
  /** Handlers running at once on this node (default 8). */
  readonly concurrency?: number
  /** Jobs claimed per query (default: `concurrency`). */
  readonly claimBatch?: number
  /** Claimed jobs waiting in the local queue for a slot, at most (default: `claimBatch`; 0 claims only for free slots). */
  readonly prefetch?: number
  /** JOB_LEASE_SECONDS (default 30). */
  readonly leaseSeconds?: number
  /** The polling backstop (default 1000 ms). */
  readonly pollIntervalMs?: number
  readonly now?: () => Date
  /** Draws in [0, 1) for the backoff's jitter. */
  readonly random?: () => number
  readonly observer?: JobRunnerObserver
}

class Aborted extends Error {
  constructor (readonly outcome: 'timeout' | 'released' | 'lost', message: string) {
    super(message)
  }
}

/** A refusal of StartAttempt: the row was stale, another node got there first. */
function refusedStart (error: unknown): boolean {
  return error instanceof JobLeased || error instanceof JobNotDue || error instanceof JobClosed || error instanceof JobNotFound
}

interface Running {
  readonly jobId: string
  readonly jobType: string
  readonly controller: AbortController
  done: Promise<void>
}

export class JobRunner {
  readonly #o: Required<Omit<JobRunnerOptions, 'observer'>> & { observer: JobRunnerObserver | undefined }
  readonly #running = new Map<string, Running>()
  /** Every attempt begun and not yet recorded (a handler that ended keeps its entry until its outcome is written). */
  readonly #attempts = new Set<Promise<void>>()
  /** Jobs whose handler ended and whose outcome is being recorded: no claim of this node takes them meanwhile. */
  readonly #recording = new Set<string>()
  /** Claimed, not started yet: the local queue, in claim order, each with when it was claimed (performance.now()). */
  readonly #ready: Array<{ job: ClaimedJob, claimedAt: number }> = []
  /** Waiting jobs went stale (long handlers hold every slot): claim only for free slots until one frees. */
  #holdBack = false
  #stopping = false
  #loop: Promise<void> | undefined
  #wakeUp: (() => void) | undefined
  #woken = false
  #unlisten: (() => Promise<void>) | undefined

  constructor (options: JobRunnerOptions) {
    const concurrency = options.concurrency ?? 8
    const claimBatch = options.claimBatch ?? concurrency
    this.#o = {
      ...options,
      concurrency,
      claimBatch,
      prefetch: options.prefetch ?? claimBatch,
      leaseSeconds: options.leaseSeconds ?? DEFAULT_LEASE_SECONDS,
      pollIntervalMs: options.pollIntervalMs ?? 1000,
      now: options.now ?? (() => new Date()),
      random: options.random ?? Math.random,
      observer: options.observer
    }
  }

  get node (): string { return this.#o.node }

  /** Reports attempts and lost leases to `observer` from now on (the metrics, made once the handlers are registered). */
  observe (observer: JobRunnerObserver): void {
    this.#o.observer = observer
  }

  /** Handlers this node runs now (an ended handler's outcome may still be on its way to the store). */
  get active (): number { return this.#running.size }

  /** Nothing running, waiting, or being recorded on this node. */
  get idle (): boolean { return this.#attempts.size === 0 && this.#ready.length === 0 }

  /** Jobs this node claimed and has not started yet (the local queue). */
  get waiting (): number { return this.#ready.length }

  async start (): Promise<void> {
    if (this.#loop !== undefined) return
    this.#stopping = false
    this.#unlisten = await this.#o.sql.listen(JOBS_CHANNEL, () => this.wake()).catch((error: unknown) => {
      this.#o.logger.warn({ err: error }, 'jobs: LISTEN failed; polling only')
      return undefined
    })
    this.#loop = this.#run()
  }

  /** Claims at once instead of at the next poll (after a schedule on this node, say). */
  wake (): void {
    this.#woken = true
    this.#wakeUp?.()
  }

  /**
   * Stops claiming; waits up to `graceMs` for running handlers; aborts the
   * rest and releases their attempts; resolves once every outcome is recorded.
   */
  async stop ({ graceMs = 10_000 }: { graceMs?: number } = {}): Promise<void> {
    this.#stopping = true
    this.wake()
    await this.#loop
    this.#loop = undefined
    const all = (): Promise<unknown> => Promise.all([...this.#running.values()].map((r) => r.done))
    let timer: NodeJS.Timeout | undefined
    const grace = new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs) })
    await Promise.race([all(), grace])
    clearTimeout(timer)
    for (const running of this.#running.values()) {
      running.controller.abort(new Aborted('released', 'the node is shutting down'))
    }
    await all()
    await Promise.all(this.#attempts)
    await this.#unlisten?.().catch(() => {})
    this.#unlisten = undefined
  }

  async #run (): Promise<void> {
    while (!this.#stopping) {
      this.#woken = false
      await this.#releaseStale()
      this.#startReady()
      const room = this.#o.concurrency + (this.#holdBack ? 0 : this.#o.prefetch) - this.#running.size - this.#ready.length
      const asked = Math.min(this.#o.claimBatch, room)
      let claimed: ClaimedJob[] = []
      if (asked > 0) {
        claimed = await this.#claim(asked)
        const claimedAt = performance.now()
        for (const job of claimed) {
          if (this.#atCap(job.jobType) || this.#stopping) await this.#unclaim(job.jobId)
          else this.#ready.push({ job, claimedAt })
        }
        this.#startReady()
      }
      // A full batch: there may be more due now.
      if (asked > 0 && claimed.length === asked) continue
      await this.#sleep()
    }
    // Stopping: what waits in the local queue goes back to any node at once.
    for (const { job } of this.#ready.splice(0)) await this.#unclaim(job.jobId)
  }

  /** Starts waiting jobs, in claim order, while slots are free; a job whose type is at its cap waits for one of its own. */
  #startReady (): void {
    for (let i = 0; i < this.#ready.length && this.#running.size < this.#o.concurrency && !this.#stopping;) {
      const { job } = this.#ready[i]!
      if (this.#atCap(job.jobType, false)) {
        i++
        continue
      }
      this.#ready.splice(i, 1)
      this.#begin(job)
    }
  }

  /**
   * Unmarks jobs that waited in the local queue for half their claim's term (long handlers hold every slot), so that
   * another node takes them while this node's claim would still keep it away.
   */
  async #releaseStale (): Promise<void> {
    const oldest = performance.now() - this.#o.leaseSeconds * 1000 / 2
    for (let i = 0; i < this.#ready.length;) {
      if (this.#ready[i]!.claimedAt > oldest) {
        i++
        continue
      }
      const { job } = this.#ready.splice(i, 1)[0]!
      this.#holdBack = true
      await this.#unclaim(job.jobId)
    }
  }

  async #claim (limit: number): Promise<ClaimedJob[]> {
    try {
      return await claimDueJobs(this.#o.sql, {
        node: this.#o.node,
        types: this.#o.handlers.types.filter((type) => !this.#atCap(type)),
        limit,
        now: this.#o.now(),
        claimSeconds: this.#o.leaseSeconds,
        exclude: [...this.#running.keys(), ...this.#recording, ...this.#ready.map(({ job }) => job.jobId)]
      })
    } catch (error) {
      // Until the jobs projection's first build exposes the table, there is nothing to claim.
      this.#o.logger[isUndefinedTable(error) ? 'debug' : 'error']({ err: error }, 'jobs: claim failed; trying again at the next poll')
      return []
    }
  }

  /**
   * Whether this node runs as many jobs of `type` as its handler allows at once, counting those waiting in the local queue
   * (`withWaiting`, for a claim: the queue holds no more of a type than its cap), or not (to start one from the queue).
   */
  #atCap (type: string, withWaiting = true): boolean {
    const cap = this.#o.handlers.get(type)?.concurrency
    if (cap === undefined) return false
    let held = 0
    for (const job of this.#running.values()) if (job.jobType === type) held++
    if (withWaiting) for (const { job } of this.#ready) if (job.jobType === type) held++
    return held >= cap
  }

  /** Takes this node's claim mark off a job it will not start now, so any node may claim it at once. */
  async #unclaim (jobId: string): Promise<void> {
    await releaseClaim(this.#o.sql, jobId, this.#o.node, null).catch((error: unknown) => {
      this.#o.logger.warn({ err: error, jobId }, 'jobs: could not release a claim; it lapses by itself')
    })
  }

  #sleep (): Promise<void> {
    if (this.#woken || this.#stopping) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        this.#wakeUp = undefined
        resolve()
      }
      const timer = setTimeout(done, this.#o.pollIntervalMs)
      this.#wakeUp = done
    })
  }

  /** Takes a slot at once (the claim loop counts it), then starts the attempt and runs it. */
  #begin (job: ClaimedJob): void {
    const running: Running = { jobId: job.jobId, jobType: job.jobType, controller: new AbortController(), done: Promise.resolve() }
    this.#running.set(job.jobId, running)
    const done = this.#attempt(job, running)
      .catch((error: unknown) => { this.#o.logger.error({ err: error, jobId: job.jobId }, 'jobs: attempt failed to run') })
      .finally(() => {
        this.#free(job.jobId)
        this.#attempts.delete(done)
      })
    running.done = done
    this.#attempts.add(done)
  }

  /**
   * Gives the job's slot back once its handler has ended (or it never started): the next waiting job starts now, and its
   * start goes to the store with this one's outcome, in one group commit. The claim loop refills the queue.
   */
  #free (jobId: string): void {
    if (!this.#running.delete(jobId)) return
    this.#holdBack = false
    this.#startReady()
    this.wake()
  }

  /** One command on the job's stream, as `execute` runs it (its queue, its cache, the observer), answering the events too. */
  async #command (jobId: string, command: JobCommand): Promise<{ state: JobState, events: readonly JobEvent[] }> {
    const { store, queue, states, directory } = this.#o.services
    const metadata = { ...systemCommand(`jobs:${this.#o.node}`.slice(0, 200), this.#o.now()), causationId: jobId }
    const streamId = jobStreamId(jobId)
    const result = await queue.run(streamId, () => handleCommand(store, jobDecider, streamId, command, metadata, { cache: states }))
    for (const event of result.events) directory.observe(streamId, event, result.position)
    return result
  }

  async #attempt (job: ClaimedJob, running: Running): Promise<void> {
    const handler = this.#o.handlers.get(job.jobType)
    if (handler === undefined || this.#stopping) {
      await releaseClaim(this.#o.sql, job.jobId, this.#o.node, null)
      return
    }
    let started: { state: JobState, events: readonly JobEvent[] }
    try {
      started = await this.#command(job.jobId, { type: 'StartAttempt', data: { node: this.#o.node, leaseSeconds: this.#o.leaseSeconds } })
    } catch (error) {
      if (!refusedStart(error)) throw error
      // The row was stale: look again once the projection has had a poll interval to catch up, not in a tight loop.
      await releaseClaim(this.#o.sql, job.jobId, this.#o.node, new Date(this.#o.now().getTime() + this.#o.pollIntervalMs))
      return
    }
    const { state, events } = started
    if (events.some((event) => event.type === 'job.attempt.failed')) this.#o.observer?.leaseLost(job.jobType, 'taker')
    // Nothing started (a replay), or the takeover found the last attempt exhausted: the job is dead.
    if (state.status !== 'running' || state.node !== this.#o.node || !events.some((e) => e.type === 'job.attempt.started')) return
    await this.#execute(handler, state, running)
  }

  async #execute (handler: JobHandler, state: Extract<JobState, { status: 'running' }>, running: Running): Promise<void> {
    const { job, attempts: attempt } = state
    const { controller } = running
    const started = performance.now()
    const timeoutMs = Math.max(0, Date.parse(state.startedAt) + job.timeoutSeconds * 1000 - this.#o.now().getTime())
    const timeout = setTimeout(() => controller.abort(new Aborted('timeout', `the attempt ran past its ${job.timeoutSeconds} s timeout`)),
      timeoutMs)
    const lease = { until: Date.parse(state.leaseUntil) }
    const heartbeat = setInterval(() => { void this.#renew(job.jobId, attempt, controller, lease) }, this.#o.leaseSeconds * 1000 / 3)
    let error: unknown
    let value: unknown
    try {
      value = await runHandler(handler, job.payload, {
        jobId: job.jobId,
        jobType: job.jobType,
        attempt,
        node: this.#o.node,
        signal: controller.signal,
        command: (key = 'effect') => jobCommand(job.jobId, key, this.#o.now())
      })
    } catch (caught) {
      error = caught
    } finally {
      clearTimeout(timeout)
      clearInterval(heartbeat)
    }
    const seconds = (performance.now() - started) / 1000
    this.#recording.add(job.jobId)
    this.#free(job.jobId)
    try {
      await this.#report(job.jobId, job.jobType, attempt, { error, value }, seconds)
    } finally {
      this.#recording.delete(job.jobId)
    }
  }

  /** Renews the lease; aborts the handler once the lease is lost, or has run out while the store could not be reached. */
  async #renew (jobId: string, attempt: number, controller: AbortController, lease: { until: number }): Promise<void> {
    if (controller.signal.aborted) return
    try {
      const { state } = await this.#command(jobId, {
        type: 'RenewLease', data: { node: this.#o.node, attempt, leaseSeconds: this.#o.leaseSeconds }
      })
      if (state.status === 'running') lease.until = Date.parse(state.leaseUntil)
    } catch (error) {
      const lost = error instanceof LeaseLost || error instanceof JobClosed
      if (lost || this.#o.now().getTime() >= lease.until) {
        // Past its lease another node may take the job: this one stops rather than run beside it.
        controller.abort(new Aborted('lost', 'this node lost the job\'s lease'))
        return
      }
      this.#o.logger.warn({ err: error, jobId }, 'jobs: heartbeat failed; the next one tries again')
    }
  }

  async #report (
    jobId: string, jobType: string, attempt: number, { error, value }: { error: unknown, value: unknown }, seconds: number
  ): Promise<void> {
    const node = this.#o.node
    const aborted = error instanceof Aborted ? error : undefined
    if (aborted?.outcome === 'lost') {
      this.#o.observer?.leaseLost(jobType, 'holder')
      this.#o.observer?.attempt(jobType, 'lost', seconds)
      return
    }
    try {
      const { state } = await this.#command(jobId, this.#outcome(node, attempt, error, value))
      this.#o.observer?.attempt(jobType, aborted?.outcome ?? outcomeOf(state), seconds)
    } catch (caught) {
      if (!(caught instanceof LeaseLost) && !(caught instanceof JobClosed)) throw caught
      this.#o.observer?.leaseLost(jobType, 'holder')
      this.#o.observer?.attempt(jobType, 'lost', seconds)
    }
  }

  /** The command recording an attempt's end; a release draws no backoff (the job is due again at once). */
  #outcome (node: string, attempt: number, error: unknown, value: unknown): JobCommand {
    if (error === undefined) return this.#succeeded(node, attempt, value)
    if (error instanceof Aborted) {
      const code = `job.${error.outcome === 'timeout' ? 'timeout' : 'shutdown'}`
      const random = error.outcome === 'released' ? 0 : this.#o.random()
      return { type: 'FailAttempt', data: { node, attempt, code, message: error.message, retryable: true, random } }
    }
    const retryAfterMs = retryAfterOf(error)
    return {
      type: 'FailAttempt',
      data: {
        node, attempt, ...failureOf(error), retryable: !isPermanent(error), random: this.#o.random(),
        ...(retryAfterMs === undefined ? {} : { retryAfterMs })
      }
    }
  }

  /** A success with the handler's answer as its result, or the failure that keeping it would be (too large, not JSON). */
  #succeeded (node: string, attempt: number, value: unknown): JobCommand {
    let result: Record<string, unknown> | undefined
    try {
      result = resultOf(value)
    } catch (invalid) {
      return this.#outcome(node, attempt, invalid, undefined)
    }
    if (result === undefined) return { type: 'SucceedAttempt', data: { node, attempt } }
    const bytes = resultBytes(result)
    if (bytes <= RESULT_LIMIT_BYTES) return { type: 'SucceedAttempt', data: { node, attempt, result } }
    const message = `the handler's result takes ${bytes} bytes as JSON; at most ${RESULT_LIMIT_BYTES} are kept`
    return { type: 'FailAttempt', data: { node, attempt, code: 'job.result_too_large', message, retryable: false, random: 0 } }
  }
}

function outcomeOf (state: JobState): AttemptOutcome {
  switch (state.status) {
    case 'succeeded': return 'succeeded'
    case 'dead': return 'dead'
    default: return 'failed'
  }
}

/** Runs the handler until it settles (answering what it answered) or its signal aborts (a handler that ignores it is left behind). */
async function runHandler (handler: JobHandler, rawPayload: unknown, context: Parameters<JobHandler['handle']>[1]): Promise<unknown> {
  const parsed = handler.payload.safeParse(rawPayload)
  if (!parsed.success) {
    throw Object.assign(new Error(`the stored payload no longer matches the schema of ${handler.type}`), { code: 'job.invalid_payload' })
  }
  const { signal } = context
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  const work = handler.handle(parsed.data, context)
  work.catch(() => {}) // settled after an abort: nobody awaits it any more
  try {
    return await Promise.race([work, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort!)
  }
}
