/**
 * The decider kernel (DESIGN.md §1): a command is decided against the state
 * folded from its stream, and the resulting events are appended with the
 * version that state was read at. `decide` and `evolve` are pure.
 */
import type { Actor, CommandMetadata } from './envelope.ts'
import { metadataFor } from './envelope.ts'
import { StreamNotFound, WrongExpectedVersion } from './errors.ts'
import type { EventStore, LogPosition, RecordedEvent } from '../eventstore/types.ts'

/** What a decider emits: the store adds ids, metadata and positions. */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  readonly type: Type
  readonly data: Data
}

/** What `decide` may know besides the command and the state: the clock and the caller. */
export interface DecisionContext {
  readonly now: Date
  readonly actor: Actor
}

export interface Decider<Command, Event extends DomainEvent, State> {
  /** Returns the events the command produces, or throws a typed domain error. */
  decide(command: Command, state: State, context: DecisionContext): Event[]
  evolve(state: State, event: Event): State
  initialState(): State
}

export function fold<Event extends DomainEvent, State> (decider: Pick<Decider<unknown, Event, State>, 'evolve' | 'initialState'>, events: Iterable<Event>): State {
  let state = decider.initialState()
  for (const event of events) state = decider.evolve(state, event)
  return state
}

export interface CommandResult<Event extends DomainEvent, State> {
  readonly streamId: string
  /** The events the command produced (on a replay: the ones it produced the first time). */
  readonly events: Event[]
  readonly state: State
  /** The stream's version after the command. */
  readonly version: bigint
  /** Where the last event landed in the log (read-your-writes); undefined when nothing was appended. */
  readonly position: LogPosition | undefined
  /** True when this command id had already been handled: its first outcome is returned, nothing new written. */
  readonly replayed: boolean
}

export interface HandleOptions {
  /** Retries after a concurrent writer won the race (default 3). */
  readonly maxRetries?: number
  /** Throw StreamNotFound instead of deciding against an empty stream. */
  readonly mustExist?: boolean
}

/**
 * Loads and folds the stream, decides, and appends with the expected version.
 * A conflict is retried (at most 3 times, with jittered backoff) against the
 * fresh state. A command id already in the stream returns its first outcome.
 */
export async function handleCommand<Command, Event extends DomainEvent, State> (
  store: EventStore,
  decider: Decider<Command, Event, State>,
  streamId: string,
  command: Command,
  metadata: CommandMetadata,
  options: HandleOptions = {}
): Promise<CommandResult<Event, State>> {
  const maxRetries = options.maxRetries ?? 3
  for (let attempt = 0; ; attempt++) {
    const history = await store.readStream(streamId) as Array<RecordedEvent<Event['type'], Event['data']>>
    const domainEvents = history.map(toDomainEvent) as Event[]
    if (history.length === 0 && options.mustExist === true) throw new StreamNotFound(streamId)
    const version = BigInt(history.length)
    const earlier = history.filter((event) => event.metadata.commandId === metadata.commandId)
    if (earlier.length > 0) {
      const state = fold(decider, domainEvents)
      return { streamId, events: earlier.map(toDomainEvent) as Event[], state, version, position: earlier.at(-1)!.position, replayed: true }
    }
    const state = fold(decider, domainEvents)
    const decided = decider.decide(command, state, { now: metadata.now, actor: metadata.actor })
    if (decided.length === 0) return { streamId, events: [], state, version, position: undefined, replayed: false }
    try {
      const result = await store.append(streamId, decided.map((event, index) => {
        const eventMetadata = metadataFor(metadata, index)
        return { id: eventMetadata.eventId, type: event.type, data: event.data, metadata: eventMetadata }
      }), { expectedVersion: version })
      // A twin of this command (same id) got there first: answer with what it wrote.
      if (result.replayed === true) continue
      return {
        streamId,
        events: decided,
        state: decided.reduce((current, event) => decider.evolve(current, event), state),
        version: result.nextExpectedVersion,
        position: result.position,
        replayed: false
      }
    } catch (error) {
      if (!(error instanceof WrongExpectedVersion) || attempt >= maxRetries) throw error
      await jitteredBackoff(attempt)
    }
  }
}

function toDomainEvent (event: RecordedEvent): DomainEvent {
  return { type: event.type, data: event.data }
}

function jitteredBackoff (attempt: number): Promise<void> {
  const ceiling = 10 * 2 ** attempt
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling))
}
