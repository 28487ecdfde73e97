/**
 * A checkpointed consumer of the log, run on one instance at a time: the one
 * holding its advisory lock; the others stand by and take over when it goes.
 * Projections (runner.ts) and reactors (application/reactors/) are both run
 * by it: the lock, the standby, the retry with backoff, the status, the lag,
 * and waiting for a position are the same; what a batch does and how its
 * checkpoint moves is the consumer's (`CheckpointedConsumer`). Checkpoints are
 * rows of the `projections` table (state.ts).
 */
import type { Logger } from 'pino'
import { ProjectionTimeout } from '../domain/errors.ts'
import { comparePositions, formatPosition } from '../eventstore/position.ts'
import { pause, retrying } from '../eventstore/subscription.ts'
import { START, type EventStore, type LogPosition, type SubscriptionBatch } from '../eventstore/types.ts'
import { lockKey, type Lease, type SqlClient } from '../sql/client.ts'
import { readState, type ProjectionState } from './state.ts'

/** What a worker runs: a projection or a reactor. */
export interface CheckpointedConsumer {
  /** Its name in logs, status and metrics. */
  readonly name: string
  /** The name of its checkpoint row. */
  readonly checkpoint: string
  /** The name of the advisory lock its leader holds. */
  readonly lock: string
  /** The checkpoint's version a position counts for in `reach` (a projection's version; 1 for a reactor). */
  readonly version: number
  /** The event types it reads; undefined for all. */
  readonly types: readonly string[] | undefined
  /** Logged with the error of a failed batch, before the retry. */
  readonly failureMessage: string
  /** The state to follow the log from, read (or built) while this instance holds the lock. */
  prepare(signal: AbortSignal): Promise<ProjectionState>
  /**
   * Handles a batch and moves the checkpoint past it; answers the new state, or undefined when another writer moved
   * it first. `signal` aborts when the worker stops.
   */
  advance(state: ProjectionState, batch: SubscriptionBatch, signal: AbortSignal): Promise<ProjectionState | undefined>
}

export interface WorkerOptions {
  readonly sql: SqlClient
  readonly store: EventStore
  readonly logger: Logger
  readonly batchSize?: number
  /** Live, read the log at most once per this many ms (see SubscribeOptions.liveIntervalMs). */
  readonly liveIntervalMs?: number
  /** How often a standby instance tries to take over (default 2000 ms). */
  readonly standbyRetryMs?: number
}

export interface WorkerStatus {
  readonly name: string
  /** This instance runs it now (others stand by). */
  readonly leader: boolean
  readonly state: ProjectionState | undefined
  /** Events handled per second, smoothed over about a minute. */
  readonly eventsPerSecond: number
  readonly lastBatchAt: Date | undefined
  readonly running: boolean
  readonly lastError: string | undefined
  /** Failures since this instance started, each followed by a retry. */
  readonly errors: number
}

export interface CheckpointLag {
  readonly name: string
  /** Unprocessed events of its types, counted up to `cap`. */
  readonly events: number
  readonly capped: boolean
  /** Age of the oldest unprocessed event, 0 when caught up. */
  readonly seconds: number
}

const LAG_CAP = 1000

/** The checkpoint once `batch` is applied or handled. */
export function checkpointAfter (state: ProjectionState, batch: SubscriptionBatch): ProjectionState {
  return { ...state, position: batch.position, eventsApplied: state.eventsApplied + BigInt(batch.events.length) }
}

/** How far a checkpoint is behind the log, as of the checkpoint row (so every instance, leader or not, reports the same). */
export async function checkpointLag (sql: SqlClient, store: EventStore, name: string, checkpoint: string): Promise<CheckpointLag> {
  const state = await readState(sql, checkpoint)
  // Unfiltered: how far the checkpoint is behind the log. A filtered consumer moves its checkpoint past events it does
  // not read, so this is its lag too, and it cannot hide behind a stretch of the log without a match.
  const pending = await store.readAll(state?.position ?? START, { limit: LAG_CAP })
  const oldest = pending.events[0]
  return {
    name,
    events: pending.events.length,
    capped: !pending.isEnd,
    seconds: oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest.recordedAt.getTime()) / 1000)
  }
}

export class CheckpointWorker<C extends CheckpointedConsumer = CheckpointedConsumer> {
  readonly consumer: C
  readonly #options: WorkerOptions
  readonly #log: Logger
  #state: ProjectionState | undefined
  #leader = false
  #stopping = false
  #loop: Promise<void> | undefined
  #abort = new AbortController()
  #waiters = new Set<() => void>()
  #rate = 0
  #lastBatchAt: Date | undefined
  #lastError: string | undefined
  #errors = 0

  constructor (consumer: C, options: WorkerOptions, logger: Logger) {
    this.consumer = consumer
    this.#options = options
    this.#log = logger
  }

  get signal (): AbortSignal {
    return this.#abort.signal
  }

  start (): void {
    if (this.#loop !== undefined && !this.#stopping) return
    this.#stopping = false
    this.#abort = new AbortController()
    this.#loop = this.#run(this.#abort.signal)
  }

  async stop (): Promise<void> {
    this.#stopping = true
    this.#abort.abort()
    const loop = this.#loop
    await loop
    if (this.#loop === loop) this.#loop = undefined
  }

  status (): WorkerStatus {
    return {
      name: this.consumer.name,
      leader: this.#leader,
      state: this.#state,
      eventsPerSecond: this.#rate,
      lastBatchAt: this.#lastBatchAt,
      running: this.#loop !== undefined && !this.#stopping,
      lastError: this.#lastError,
      errors: this.#errors
    }
  }

  /** True once the checkpoint is at or past `position`; false at the deadline. */
  async reach (position: LogPosition, deadline: number): Promise<boolean> {
    for (;;) {
      const current = this.#leader ? this.#state : await readState(this.#options.sql, this.consumer.checkpoint)
      const reached = current !== undefined && current.version === this.consumer.version
        && comparePositions(current.position, position) >= 0
      if (reached) return true
      const left = deadline - Date.now()
      if (left <= 0) return false
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(timer); this.#waiters.delete(done); resolve() }
        // The leader is woken by each batch and when it steps down; the second is a backstop against a wake it missed.
        const timer = setTimeout(done, Math.min(left, this.#leader ? 1000 : 50))
        this.#waiters.add(done)
      })
    }
  }

  async #run (signal: AbortSignal): Promise<void> {
    while (!signal.aborted) await this.#turn(signal)
  }

  /**
   * One turn: stand by for a while, or lead while the lock is held. A failed batch is retried with backoff, the
   * lock kept meanwhile (the leader stays the leader, and the alerts on a leader that applies nothing can see it).
   */
  async #turn (signal: AbortSignal): Promise<void> {
    const lease = await this.#options.sql.tryLock(lockKey(this.consumer.lock)).catch(() => null)
    if (lease === null) return pause(this.#options.standbyRetryMs ?? 2000, signal)
    try {
      this.#leader = true
      await retrying(async () => { if (lease.held) await this.#lead(lease) }, { signal, onFailure: (error) => this.#failed(error) })
    } finally {
      this.#leader = false
      // Whoever waits on this instance's progress reads the checkpoint from the database now.
      this.#wake()
      await lease.release()
    }
  }

  #failed (error: unknown): void {
    this.#errors++
    this.#lastError = (error as Error).message
    this.#log.error({ err: error }, this.consumer.failureMessage)
  }

  /** Follows the log while this instance holds the lock; returns to read the state again when another writer moved it. */
  async #lead (lease: Lease): Promise<void> {
    let state = await this.consumer.prepare(this.#abort.signal)
    this.#setState(state)
    const subscription = this.#options.store.subscribe(state.position, {
      ...(this.consumer.types === undefined ? {} : { types: this.consumer.types }),
      batchSize: this.#options.batchSize ?? 500,
      liveIntervalMs: this.#options.liveIntervalMs ?? 0,
      signal: this.#abort.signal
    })
    try {
      for await (const batch of subscription) {
        if (this.#stopping || !lease.held) return
        if (batch.events.length === 0 && comparePositions(batch.position, state.position) === 0) continue
        const next = await this.consumer.advance(state, batch, this.#abort.signal)
        if (next === undefined) return // superseded: start again from the state as it is now
        state = next
        this.#record(batch.events.length)
        this.#setState(next)
      }
    } finally {
      await subscription.close()
    }
  }

  #setState (state: ProjectionState): void {
    this.#state = state
    this.#wake()
  }

  #wake (): void {
    for (const waiter of [...this.#waiters]) waiter()
  }

  #record (count: number): void {
    const now = new Date()
    const seconds = this.#lastBatchAt === undefined ? 1 : Math.max(0.001, (now.getTime() - this.#lastBatchAt.getTime()) / 1000)
    const weight = Math.min(1, seconds / 60)
    this.#rate = this.#rate * (1 - weight) + (count / seconds) * weight
    this.#lastBatchAt = now
    this.#lastError = undefined
  }
}

/** Resolves when every worker (or those named) has handled the log up to `position`; fails with ProjectionTimeout at the deadline. */
export async function waitForWorkers (
  workers: readonly CheckpointWorker[], position: LogPosition, timeoutMs: number, names?: readonly string[]
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const chosen = names === undefined ? workers : workers.filter((w) => names.includes(w.consumer.name))
  const reached = await Promise.all(chosen.map((worker) => worker.reach(position, deadline)))
  if (reached.includes(false)) throw new ProjectionTimeout(formatPosition(position), timeoutMs)
}
