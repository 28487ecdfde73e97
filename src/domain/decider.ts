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
  /**
   * Optional: `evolve` over several events at once, with the same result, for
   * states too large to copy per event. It may change in place only what it
   * made itself during the call, never `state` or anything reachable from it
   * (a cached state is shared), so a fold of n events costs O(n + state)
   * rather than O(n × state). See `Draft`.
   */
  evolveAll?(state: State, events: Iterable<Event>): State
}

/** Applies `events` to `state` without changing it: through `evolveAll` when the decider has one. */
export function evolveMany<Event extends DomainEvent, State> (decider: Pick<Decider<unknown, Event, State>, 'evolve' | 'evolveAll'>, state: State, events: Iterable<Event>): State {
  if (decider.evolveAll !== undefined) return decider.evolveAll(state, events)
  for (const event of events) state = decider.evolve(state, event)
  return state
}

export function fold<Event extends DomainEvent, State> (decider: Pick<Decider<unknown, Event, State>, 'evolve' | 'evolveAll' | 'initialState'>, events: Iterable<Event>): State {
  return evolveMany(decider, decider.initialState(), events)
}

type Writable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * Copy-on-write for one `evolveAll`: `own(value)` copies an object the first
 * time the draft meets it and returns that copy (which the draft then owns)
 * every later time, so each object of the state is copied at most once per
 * call, however many events change it. Objects the draft did not copy are
 * never written to.
 */
export class Draft {
  readonly #owned = new WeakSet<object>()
  readonly #copies = new WeakMap<object, object>()

  own<T extends object> (value: T): Writable<T> {
    if (this.#owned.has(value)) return value as Writable<T>
    const made = this.#copies.get(value)
    if (made !== undefined) return made as Writable<T>
    const copy = (Array.isArray(value) ? [...value] : { ...value }) as Writable<T>
    this.#owned.add(copy)
    this.#copies.set(value, copy)
    return copy
  }
}

/** Sets an own property, whatever the key (`__proto__` included), as a spread with a computed key does. */
export function setOwn<V> (record: Record<string, V>, key: string, value: V): void {
  Object.defineProperty(record, key, { value, writable: true, enumerable: true, configurable: true })
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

/**
 * Folded states kept between commands, so a command reads only the events
 * appended since (`readStream` from the cached version) instead of the whole
 * stream. Any bounded map will do; a missing entry only costs a full read.
 */
export interface StateCache {
  get(streamId: string): { readonly version: bigint, readonly state: unknown } | undefined
  set(streamId: string, entry: { readonly version: bigint, readonly state: unknown }): void
}

export interface HandleOptions {
  /** Retries after a concurrent writer won the race (default 3). */
  readonly maxRetries?: number
  /** Throw StreamNotFound instead of deciding against an empty stream. */
  readonly mustExist?: boolean
  readonly cache?: StateCache
}

interface Loaded<State> {
  readonly state: State
  readonly version: bigint
  /** This command's events already in what was read (a replay). */
  readonly earlier: RecordedEvent[]
  /** True when the whole stream was read (so `earlier` is complete). */
  readonly complete: boolean
}

async function load<Event extends DomainEvent, State> (
  store: EventStore, decider: Decider<unknown, Event, State>, streamId: string, commandId: string, cache: StateCache | undefined, optimistic: boolean
): Promise<Loaded<State>> {
  const cached = cache?.get(streamId)
  // Trust the cached state without reading: the append's expected version says whether it was the latest.
  if (optimistic && cached !== undefined) return { state: cached.state as State, version: cached.version, earlier: [], complete: false }
  const read = await store.readStream(streamId, cached === undefined ? undefined : { fromVersion: cached.version })
  const earlier = read.filter((event) => event.metadata.commandId === commandId)
  const state = evolveMany(decider, (cached?.state ?? decider.initialState()) as State, read.map((event) => toDomainEvent(event) as Event))
  return { state, version: (cached?.version ?? 0n) + BigInt(read.length), earlier, complete: cached === undefined }
}

/**
 * A stream's state now, for a read: the cached state caught up with the
 * events appended since (usually none: one indexed query that returns no
 * rows), or the whole stream folded on a miss. The result is cached unless
 * a newer state already is. It is shared: never change it.
 */
export async function readState<Event extends DomainEvent, State> (
  store: EventStore, decider: Pick<Decider<unknown, Event, State>, 'evolve' | 'evolveAll' | 'initialState'>, streamId: string, cache?: StateCache
): Promise<{ readonly state: State, readonly version: bigint }> {
  const cached = cache?.get(streamId)
  const read = await store.readStream(streamId, cached === undefined ? undefined : { fromVersion: cached.version })
  if (cached !== undefined && read.length === 0) return { state: cached.state as State, version: cached.version }
  const state = evolveMany(decider, (cached?.state ?? decider.initialState()) as State, read.map((event) => toDomainEvent(event) as Event))
  const version = (cached?.version ?? 0n) + BigInt(read.length)
  if (cache !== undefined && version > 0n && (cache.get(streamId)?.version ?? -1n) < version) cache.set(streamId, { version, state })
  return { state, version }
}

/**
 * Loads and folds the stream, decides, and appends with the expected version.
 * A conflict is retried (at most 3 times, with jittered backoff) against the
 * fresh state. A command id already in the stream returns its first outcome.
 * With a cache, the cached state is decided on without reading at all, and the
 * append's expected version checks that it was the latest; when it was not,
 * only the events after it are read. Whenever the answer could depend on
 * older events (a refusal, a replay) the whole stream is read again, so the
 * outcome is the same as without a cache.
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
  let cache = options.cache
  let optimistic = cache !== undefined
  for (let attempt = 0; ; attempt++) {
    const loaded = await load(store, decider as Decider<unknown, Event, State>, streamId, metadata.commandId, cache, optimistic)
    const { state, version, earlier } = loaded
    if (version === 0n && options.mustExist === true) throw new StreamNotFound(streamId)
    if (earlier.length > 0) {
      if (!loaded.complete) { cache = undefined; attempt--; continue }
      return { streamId, events: earlier.map(toDomainEvent) as Event[], state, version, position: earlier.at(-1)!.position, replayed: true }
    }
    let decided: Event[]
    try {
      decided = decider.decide(command, state, { now: metadata.now, actor: metadata.actor })
    } catch (error) {
      // A refusal may be this very command, already applied before the cached state: look again at the whole stream.
      if (!loaded.complete) { cache = undefined; attempt--; continue }
      throw error
    }
    if (decided.length === 0) {
      // "Nothing to do" is only an answer about the whole stream: the cached state may be stale, or
      // this may be a retry of a command applied before it, whose first outcome is the answer.
      if (!loaded.complete) { cache = undefined; attempt--; continue }
      options.cache?.set(streamId, { version, state })
      return { streamId, events: [], state, version, position: undefined, replayed: false }
    }
    try {
      const result = await store.append(streamId, decided.map((event, index) => {
        const eventMetadata = metadataFor(metadata, index)
        return { id: eventMetadata.eventId, type: event.type, data: event.data, metadata: eventMetadata }
      }), { expectedVersion: version })
      // A twin of this command (same id) got there first: answer with what it wrote.
      if (result.replayed === true) { cache = undefined; continue }
      const next = evolveMany(decider, state, decided)
      options.cache?.set(streamId, { version: result.nextExpectedVersion, state: next })
      return { streamId, events: decided, state: next, version: result.nextExpectedVersion, position: result.position, replayed: false }
    } catch (error) {
      // The cached state was not the latest: read what it missed, at once (this is not a race lost to a writer).
      if (error instanceof WrongExpectedVersion && optimistic) { optimistic = false; attempt--; continue }
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
