/**
 * Runs projections live (DESIGN.md §5). Each projection runs on one instance
 * at a time: the one holding its advisory lock; the others stand by and take
 * over when it goes. A batch and its checkpoint commit in one transaction.
 */
import type { Logger } from 'pino'
import { ProjectionTimeout } from '../domain/errors.ts'
import { comparePositions, formatPosition } from '../eventstore/position.ts'
import { START, type EventStore, type LogPosition } from '../eventstore/types.ts'
import { lockKey, type Lease, type SqlClient } from '../sql/client.ts'
import { assertProjection, typesFilter, type Projection } from './projection.ts'
import { rebuildProjection } from './rebuild.ts'
import { applyTo, readState, writeState, type ProjectionState } from './state.ts'

/** How long a batch waits for a lock before it fails and is retried. */
const BATCH_LOCK_TIMEOUT_MS = 5000

/** A rebuild swapped generations (or another writer moved the checkpoint) while a batch was applied: it is rolled back. */
class BatchSuperseded extends Error {}

export interface ProjectionStatus {
  readonly name: string
  readonly version: number
  readonly generation: number | undefined
  /** This instance runs it now (others stand by). */
  readonly leader: boolean
  readonly position: LogPosition | undefined
  readonly eventsApplied: number
  /** Events applied per second, smoothed over about a minute. */
  readonly eventsPerSecond: number
  readonly lastBatchAt: Date | undefined
  readonly running: boolean
  readonly lastError: string | undefined
  /** Failures since this instance started, each followed by a retry. */
  readonly errors: number
}

export interface ProjectionLag {
  readonly name: string
  /** Unprocessed events of its types, counted up to `cap`. */
  readonly events: number
  readonly capped: boolean
  /** Age of the oldest unprocessed event, 0 when caught up. */
  readonly seconds: number
}

export interface RunnerOptions {
  readonly sql: SqlClient
  readonly store: EventStore
  readonly projections: readonly Projection[]
  readonly logger: Logger
  readonly batchSize?: number
  /** Live, read the log at most once per this many ms (see SubscribeOptions.liveIntervalMs). */
  readonly liveIntervalMs?: number
  /** How often a standby instance tries to take over (default 2000 ms). */
  readonly standbyRetryMs?: number
}

const LAG_CAP = 1000

export class ProjectionRunner {
  readonly #options: RunnerOptions
  readonly #workers: Worker[]
  #started = false

  constructor (options: RunnerOptions) {
    options.projections.forEach(assertProjection)
    this.#options = options
    this.#workers = options.projections.map((projection) => new Worker(projection, options))
  }

  start (): void {
    if (this.#started) return
    this.#started = true
    for (const worker of this.#workers) worker.start()
  }

  async stop (): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.stop()))
    this.#started = false
  }

  status (): ProjectionStatus[] {
    return this.#workers.map((worker) => worker.status())
  }

  /** Resolves when every projection (or those named) has processed the log up to `position`. */
  async waitFor (position: LogPosition, timeoutMs: number, names?: readonly string[]): Promise<void> {
    const deadline = Date.now() + timeoutMs
    const workers = names === undefined ? this.#workers : this.#workers.filter((w) => names.includes(w.projection.name))
    const reached = await Promise.all(workers.map((worker) => worker.reach(position, deadline)))
    if (reached.includes(false)) throw new ProjectionTimeout(formatPosition(position), timeoutMs)
  }

  async lag (): Promise<ProjectionLag[]> {
    const { store, sql } = this.#options
    return Promise.all(this.#workers.map(async (worker) => {
      const state = await readState(sql, worker.projection.name)
      // Unfiltered: how far the checkpoint is behind the log. A filtered projection moves its
      // checkpoint past events it does not read, so this is its lag too, and it cannot hide
      // behind a stretch of the log without a match.
      const pending = await store.readAll(state?.position ?? START, { limit: LAG_CAP })
      const oldest = pending.events[0]
      return {
        name: worker.projection.name,
        events: pending.events.length,
        capped: !pending.isEnd,
        seconds: oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest.recordedAt.getTime()) / 1000)
      }
    }))
  }
}

class Worker {
  readonly projection: Projection
  readonly #options: RunnerOptions
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

  constructor (projection: Projection, options: RunnerOptions) {
    this.projection = projection
    this.#options = options
    this.#log = options.logger.child({ projection: projection.name })
  }

  start (): void {
    this.#stopping = false
    this.#abort = new AbortController()
    this.#loop = this.#run()
  }

  async stop (): Promise<void> {
    this.#stopping = true
    this.#abort.abort()
    await this.#loop
    this.#loop = undefined
  }

  status (): ProjectionStatus {
    return {
      name: this.projection.name,
      version: this.projection.version,
      generation: this.#state?.generation,
      leader: this.#leader,
      position: this.#state?.position,
      eventsApplied: Number(this.#state?.eventsApplied ?? 0n),
      eventsPerSecond: this.#rate,
      lastBatchAt: this.#lastBatchAt,
      running: this.#loop !== undefined && !this.#stopping,
      lastError: this.#lastError,
      errors: this.#errors
    }
  }

  /** True once the projection's checkpoint is at or past `position`; false at the deadline. */
  async reach (position: LogPosition, deadline: number): Promise<boolean> {
    for (;;) {
      const current = this.#leader ? this.#state : await readState(this.#options.sql, this.projection.name)
      if (current !== undefined && current.version === this.projection.version && comparePositions(current.position, position) >= 0) return true
      const left = deadline - Date.now()
      if (left <= 0) return false
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(timer); this.#waiters.delete(done); resolve() }
        const timer = setTimeout(done, this.#leader ? left : Math.min(left, 50))
        this.#waiters.add(done)
      })
    }
  }

  async #run (): Promise<void> {
    let failures = 0
    while (!this.#stopping) {
      const lease = await this.#options.sql.tryLock(lockKey(`projection:${this.projection.name}`)).catch(() => null)
      if (lease === null) {
        await this.#standby(this.#options.standbyRetryMs ?? 2000)
        continue
      }
      try {
        this.#leader = true
        await this.#lead(lease)
        failures = 0
      } catch (error) {
        if (this.#stopping) break
        failures++
        this.#errors++
        this.#lastError = (error as Error).message
        this.#log.error({ err: error }, 'projection failed; retrying')
        await this.#standby(Math.min(30_000, 250 * 2 ** Math.min(failures, 7)))
      } finally {
        this.#leader = false
        await lease.release()
      }
    }
  }

  #standby (ms: number): Promise<void> {
    const signal = this.#abort.signal
    if (signal.aborted) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
      function done (): void {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        resolve()
      }
    })
  }

  /** Runs the projection while this instance holds its lock; returns to re-read its state when another writer moved it. */
  async #lead (lease: Lease): Promise<void> {
    const { sql, store } = this.#options
    let state = await readState(sql, this.projection.name)
    if (state === undefined || state.version !== this.projection.version) {
      this.#log.info({ from: state?.version, to: this.projection.version }, 'building projection beside the active one')
      await rebuildProjection({ sql, store, projection: this.projection, signal: this.#abort.signal })
      state = (await readState(sql, this.projection.name))!
    }
    this.#state = state
    this.#notifyWaiters()
    const subscription = store.subscribe(state.position, {
      ...typesFilter(this.projection),
      batchSize: this.#options.batchSize ?? 500,
      liveIntervalMs: this.#options.liveIntervalMs ?? 0,
      signal: this.#abort.signal
    })
    try {
      for await (const batch of subscription) {
        if (this.#stopping || !lease.held) return
        if (batch.events.length === 0 && comparePositions(batch.position, state.position) === 0) continue
        const expected = state
        const next: ProjectionState = { ...expected, position: batch.position, eventsApplied: expected.eventsApplied + BigInt(batch.events.length) }
        const applied = await sql.transaction(async (tx) => {
          // A batch that waits on a lock must not wait for long: once it has written, its transaction id holds
          // back what every reader of the log sees (DESIGN §3). It fails instead, and is retried.
          await tx.exec(`SET LOCAL lock_timeout = ${BATCH_LOCK_TIMEOUT_MS}`)
          // Applied first, checked after: the checkpoint row is locked (which takes a transaction id) only at the end.
          await applyTo(tx, this.projection, expected.generation, batch.events)
          const current = await readState(tx, this.projection.name, true)
          if (current === undefined || current.generation !== expected.generation || comparePositions(current.position, expected.position) !== 0) {
            throw new BatchSuperseded()
          }
          await writeState(tx, next)
          return true
        }).catch((error: unknown) => {
          if (error instanceof BatchSuperseded) return false
          throw error
        })
        if (!applied) return // a rebuild swapped generations: start again from the new state
        state = next
        this.#state = next
        this.#record(batch.events.length)
        this.#notifyWaiters()
      }
    } finally {
      await subscription.close()
    }
  }

  #record (count: number): void {
    const now = new Date()
    const seconds = this.#lastBatchAt === undefined ? 1 : Math.max(0.001, (now.getTime() - this.#lastBatchAt.getTime()) / 1000)
    const weight = Math.min(1, seconds / 60)
    this.#rate = this.#rate * (1 - weight) + (count / seconds) * weight
    this.#lastBatchAt = now
    this.#lastError = undefined
  }

  #notifyWaiters (): void {
    for (const waiter of [...this.#waiters]) waiter()
  }
}
