/**
 * Runs reactors (reactor.ts) as the projection runner runs projections, with
 * the same worker (projections/worker.ts): one instance at a time leads a
 * reactor (an advisory lock), the others stand by; a failed batch is counted
 * and retried from the checkpoint with backoff.
 *
 * The checkpoint is a row of the `projections` table named
 * `reactor:<name>`: the same columns (position, events handled, updated at),
 * the same reads and writes (projections/state.ts), and the SQL on-call
 * already runs (`SELECT … FROM projections`) shows reactors beside the read
 * models. A reactor has no tables, so no generation (0) and one version (1).
 *
 * Unlike a projection's, a batch's effects are not in the checkpoint's
 * transaction (they are commands on the event store, or calls outside): the
 * checkpoint moves after the batch is handled, so a crash in between hands
 * the batch over again (reactor.ts: outcomes are written once all the same).
 */
import { comparePositions } from '../../eventstore/position.ts'
import { START, type LogPosition, type SubscriptionBatch } from '../../eventstore/types.ts'
import { readState, writeState, type ProjectionState } from '../../projections/state.ts'
import {
  CheckpointWorker, checkpointAfter, checkpointLag, waitForWorkers, type CheckpointLag, type CheckpointedConsumer, type WorkerOptions
} from '../../projections/worker.ts'
import { assertReactor, outcomeCommand, reactorCheckpoint, type Reactor, type ReactorContext } from './reactor.ts'

const REACTOR_VERSION = 1

export interface ReactorStatus {
  readonly name: string
  /** This instance runs it now (others stand by). */
  readonly leader: boolean
  readonly position: LogPosition | undefined
  /** Events handled since its checkpoint was made (all instances). */
  readonly eventsHandled: number
  /** Events handled per second on this instance, smoothed over about a minute. */
  readonly eventsPerSecond: number
  readonly lastBatchAt: Date | undefined
  readonly running: boolean
  readonly lastError: string | undefined
  /** Failures since this instance started, each followed by a retry. */
  readonly errors: number
}

export type ReactorLag = CheckpointLag

export interface ReactorRunnerOptions extends WorkerOptions {
  readonly reactors: readonly Reactor[]
}

/** Starts and stops one reactor of a runner. */
export interface ReactorControl {
  start(): Promise<void>
  stop(): Promise<void>
}

export class ReactorRunner {
  readonly #options: ReactorRunnerOptions
  readonly #workers: Array<CheckpointWorker<ReactorConsumer>>

  constructor (options: ReactorRunnerOptions) {
    options.reactors.forEach(assertReactor)
    const names = options.reactors.map((reactor) => reactor.name)
    if (new Set(names).size !== names.length) throw new Error(`reactor names must be unique: ${names.join(', ')}`)
    this.#options = options
    this.#workers = options.reactors.map((reactor) =>
      new CheckpointWorker(new ReactorConsumer(reactor, options), options, options.logger.child({ reactor: reactor.name })))
  }

  start (): void {
    for (const worker of this.#workers) worker.start()
  }

  async stop (): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.stop()))
  }

  /** One reactor's start and stop (the others go on). */
  control (name: string): ReactorControl {
    const worker = this.#workers.find((w) => w.consumer.name === name)
    if (worker === undefined) throw new Error(`no reactor ${name}`)
    let stopping: Promise<void> | undefined
    return {
      start: async () => {
        await stopping
        worker.start()
      },
      stop: () => (stopping = worker.stop())
    }
  }

  status (): ReactorStatus[] {
    return this.#workers.map((worker) => {
      const { state, ...rest } = worker.status()
      return { ...rest, position: state?.position, eventsHandled: Number(state?.eventsApplied ?? 0n) }
    })
  }

  /** Resolves when every reactor (or those named) has handled the log up to `position`. */
  async waitFor (position: LogPosition, timeoutMs: number, names?: readonly string[]): Promise<void> {
    await waitForWorkers(this.#workers, position, timeoutMs, names)
  }

  async lag (): Promise<ReactorLag[]> {
    const { sql, store } = this.#options
    return Promise.all(this.#workers.map(({ consumer }) => checkpointLag(sql, store, consumer.name, consumer.checkpoint)))
  }
}

/** A reactor as the worker runs it: the batch handled first, then the checkpoint moved if nobody else moved it meanwhile. */
class ReactorConsumer implements CheckpointedConsumer {
  readonly name: string
  readonly checkpoint: string
  readonly lock: string
  readonly version = REACTOR_VERSION
  readonly types: readonly string[] | undefined
  readonly failureMessage = 'reactor failed; retrying'

  constructor (private readonly reactor: Reactor, private readonly options: ReactorRunnerOptions) {
    this.name = reactor.name
    this.checkpoint = this.lock = reactorCheckpoint(reactor.name)
    this.types = reactor.eventTypes === 'all' ? undefined : reactor.eventTypes
  }

  /** Its checkpoint; on its first run, one made at the start or the head of the log (`Reactor.from`). */
  async prepare (): Promise<ProjectionState> {
    const { sql, store } = this.options
    const found = await readState(sql, this.checkpoint)
    if (found !== undefined) return found
    const position = this.reactor.from === 'head' ? await store.headPosition() : START
    const made: ProjectionState = { name: this.checkpoint, version: REACTOR_VERSION, generation: 0, position, eventsApplied: 0n }
    await sql.transaction((tx) => writeState(tx, made))
    return made
  }

  async advance (expected: ProjectionState, batch: SubscriptionBatch, signal: AbortSignal): Promise<ProjectionState | undefined> {
    if (batch.events.length > 0) await this.reactor.handle(batch.events, this.#context(signal))
    const next = checkpointAfter(expected, batch)
    const moved = await this.options.sql.transaction(async (tx) => {
      const current = await readState(tx, this.checkpoint, true)
      if (current === undefined || comparePositions(current.position, expected.position) !== 0) return false
      await writeState(tx, next)
      return true
    })
    return moved ? next : undefined
  }

  #context (signal: AbortSignal): ReactorContext {
    const actor = this.reactor.actor ?? this.reactor.name
    return { signal, outcome: (cause, key, now) => outcomeCommand(actor, cause, key, now) }
  }
}
