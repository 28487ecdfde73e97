/**
 * The command kernel every capability's application functions run through:
 * `execute` decides one command on its stream (in that stream's queue, with
 * the shared state cache) and tells the directory what changed; `written` is
 * the answer a command gives its caller. A capability's services extend
 * `CommandServices`.
 */
import type { Decider, DomainEvent, HandleOptions, StateCache } from '../domain/decider.ts'
import { handleCommand } from '../domain/decider.ts'
import type { CommandMetadata } from '../domain/envelope.ts'
import { formatPosition } from '../eventstore/position.ts'
import type { EventStore, LogPosition, RecordedEvent } from '../eventstore/types.ts'

/** Told of every event a command appended, so what this node caches about the stream is dropped at once. */
export interface CommandObserver {
  observe(streamId: string, event: DomainEvent | RecordedEvent, position: LogPosition | undefined): void
}

/** What `execute` needs: the store, the per-stream queue, the state cache and the observer of appended events. */
export interface CommandServices {
  readonly store: EventStore
  readonly queue: StreamQueue
  /** Folded states of recently used streams: commands read only what was appended since. */
  readonly states: StateCache
  readonly directory: CommandObserver
}

/** What every command answers: where its last event landed (null when it changed nothing). */
export interface Written {
  readonly position: string | null
}

export function written (position: LogPosition | undefined): Written {
  return { position: position === undefined ? null : formatPosition(position) }
}

/**
 * Commands on one stream queue behind each other in this process, so they do
 * not race to the same version and retry; other processes are still
 * serialized by the store's expected-version check.
 */
export class StreamQueue {
  readonly #tails = new Map<string, Promise<unknown>>()

  async run<T> (streamId: string, work: () => Promise<T>): Promise<T> {
    const run = (this.#tails.get(streamId) ?? Promise.resolve()).catch(() => {}).then(work)
    this.#tails.set(streamId, run)
    try {
      return await run
    } finally {
      if (this.#tails.get(streamId) === run) this.#tails.delete(streamId)
    }
  }
}

/** Runs one command through the decider kernel, in its stream's queue, and tells the directory what changed. */
export async function execute<C, E extends DomainEvent, S> (
  services: CommandServices, decider: Decider<C, E, S>, streamId: string, command: C, metadata: CommandMetadata, options?: HandleOptions
): Promise<{ state: S, position: LogPosition | undefined }> {
  const handle = () => handleCommand(services.store, decider, streamId, command, metadata, { ...options, cache: services.states })
  const result = await services.queue.run(streamId, handle)
  for (const event of result.events) services.directory.observe(streamId, event, result.position)
  return { state: result.state, position: result.position }
}
