/**
 * A reactor turns events into side effects (DESIGN: side effects are
 * checkpointed consumers): a role change ends the impersonation sessions it
 * no longer allows; later, a webhook is sent, a job is started. The runner
 * (runner.ts) keeps its checkpoint like a projection's, on one instance at a
 * time, and retries a failed batch from the checkpoint.
 *
 * Delivery is at least once: a batch whose effects were done but whose
 * checkpoint was not written (a crash in between) is handed over again. A
 * reactor records the outcome of each side effect as events, written with
 * the command metadata `outcome()` gives: its command id derives from the
 * reactor, the effect and the event that caused it, so the second delivery
 * writes nothing new.
 */
import { systemCommand, uuidV5, type CommandMetadata } from '../../domain/envelope.ts'
import type { RecordedEvent } from '../../eventstore/types.ts'

export interface Reactor {
  /** Lowercase identifier: `[a-z][a-z0-9_]*`, at most 40 characters. */
  readonly name: string
  /** The event types it handles, or 'all'. */
  readonly eventTypes: readonly string[] | 'all'
  /**
   * Where its first run starts, without a checkpoint yet: the start of the
   * log (default), or its head (for effects that must not be done for the
   * past, such as notifications).
   */
  readonly from?: 'start' | 'head'
  /** The system actor its outcomes are recorded as (default: its name). */
  readonly actor?: string
  /** Does the side effects of a batch (in log order) and records their outcomes; a throw retries the batch. */
  handle(batch: readonly RecordedEvent[], context: ReactorContext): Promise<void>
}

export interface ReactorContext {
  /** Aborted when the runner stops: a long side effect should give up. */
  readonly signal: AbortSignal
  /** The metadata of the command recording the outcome of the effect `key` that `cause` led to (see the module's comment). */
  outcome(cause: RecordedEvent, key: string, now?: Date): CommandMetadata
}

const NAME = /^[a-z][a-z0-9_]{0,39}$/

export function assertReactor (reactor: Reactor): void {
  if (!NAME.test(reactor.name)) throw new Error(`reactor name ${reactor.name} must match ${NAME}`)
}

/** A reactor's checkpoint row in the `projections` table: projection names cannot hold a colon, so the two never meet. */
export function reactorCheckpoint (name: string): string {
  return `reactor:${name}`
}

/** The command metadata of an outcome: the same for the same actor, effect and cause, whichever delivery writes it. */
export function outcomeCommand (actor: string, cause: RecordedEvent, key: string, now = new Date()): CommandMetadata {
  return { ...systemCommand(actor, now), commandId: uuidV5(`${actor}/${key}/${cause.id}`), causationId: cause.id }
}
