/**
 * Runs projections live (DESIGN.md §5). Each projection runs on one instance
 * at a time: the one holding its advisory lock; the others stand by and take
 * over when it goes (worker.ts, shared with reactors). A batch and its
 * checkpoint commit in one transaction.
 */
import type { Logger } from 'pino'
import { comparePositions } from '../eventstore/position.ts'
import type { LogPosition, SubscriptionBatch } from '../eventstore/types.ts'
import { assertProjection, type Projection } from './projection.ts'
import { rebuildProjection } from './rebuild.ts'
import { applyTo, readState, writeState, type ProjectionState } from './state.ts'
import {
  CheckpointWorker, checkpointAfter, checkpointLag, waitForWorkers,
  type CheckpointLag, type CheckpointedConsumer, type WorkerOptions, type WorkerStatus
} from './worker.ts'

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

export type ProjectionLag = CheckpointLag

export interface RunnerOptions extends WorkerOptions {
  readonly projections: readonly Projection[]
}

export class ProjectionRunner {
  readonly #options: RunnerOptions
  readonly #workers: Array<CheckpointWorker<ProjectionConsumer>>
  #started = false

  constructor (options: RunnerOptions) {
    options.projections.forEach(assertProjection)
    this.#options = options
    this.#workers = options.projections.map((projection) =>
      new CheckpointWorker(new ProjectionConsumer(projection, options), options, options.logger.child({ projection: projection.name })))
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
    return this.#workers.map((worker) => projectionStatus(worker.consumer.projection, worker.status()))
  }

  /** Resolves when every projection (or those named) has processed the log up to `position`. */
  async waitFor (position: LogPosition, timeoutMs: number, names?: readonly string[]): Promise<void> {
    await waitForWorkers(this.#workers, position, timeoutMs, names)
  }

  async lag (): Promise<ProjectionLag[]> {
    const { store, sql } = this.#options
    return Promise.all(this.#workers.map(async ({ consumer }) => checkpointLag(sql, store, consumer.name, consumer.checkpoint)))
  }
}

function projectionStatus (projection: Projection, status: WorkerStatus): ProjectionStatus {
  const { state, ...rest } = status
  return {
    ...rest,
    version: projection.version,
    generation: state?.generation,
    position: state?.position,
    eventsApplied: Number(state?.eventsApplied ?? 0n)
  }
}

/** A projection as the worker runs it: rebuilt when its version changed, each batch applied with its checkpoint in one transaction. */
class ProjectionConsumer implements CheckpointedConsumer {
  readonly name: string
  readonly checkpoint: string
  readonly lock: string
  readonly version: number
  readonly types: readonly string[] | undefined
  readonly failureMessage = 'projection failed; retrying'
  readonly #log: Logger

  constructor (readonly projection: Projection, private readonly options: RunnerOptions) {
    this.name = this.checkpoint = projection.name
    this.lock = `projection:${projection.name}`
    this.version = projection.version
    this.types = projection.eventTypes === 'all' ? undefined : projection.eventTypes
    this.#log = options.logger.child({ projection: projection.name })
  }

  async prepare (signal: AbortSignal): Promise<ProjectionState> {
    const { sql, store } = this.options
    const state = await readState(sql, this.projection.name)
    if (state !== undefined && state.version === this.projection.version) return state
    this.#log.info({ from: state?.version, to: this.projection.version }, 'building projection beside the active one')
    await rebuildProjection({ sql, store, projection: this.projection, signal })
    return (await readState(sql, this.projection.name))!
  }

  async advance (expected: ProjectionState, batch: SubscriptionBatch): Promise<ProjectionState | undefined> {
    const next = checkpointAfter(expected, batch)
    return this.options.sql.transaction(async (tx) => {
      // A batch that waits on a lock must not wait for long: once it has written, its transaction id holds
      // back what every reader of the log sees (DESIGN §3). It fails instead, and is retried.
      await tx.exec(`SET LOCAL lock_timeout = ${BATCH_LOCK_TIMEOUT_MS}`)
      // Applied first, checked after: the checkpoint row is locked (which takes a transaction id) only at the end.
      await applyTo(tx, this.projection, expected.generation, batch.events)
      const current = await readState(tx, this.projection.name, true)
      const moved = current === undefined || current.generation !== expected.generation
        || comparePositions(current.position, expected.position) !== 0
      if (moved) throw new BatchSuperseded()
      await writeState(tx, next)
      return next
    }).catch((error: unknown) => {
      if (error instanceof BatchSuperseded) return undefined // a rebuild swapped generations: start again from the new state
      throw error
    })
  }
}
