/**
 * The decider kernel (DESIGN.md §1): a command is decided against the state
 * folded from its stream, and the resulting events are appended with the
 * version that state was read at. `decide` and `evolve` are pure.
 */
import type { Actor, CommandMetadata } from './envelope.ts'
import { metadataFor } from './envelope.ts'
import { StreamNotFound, WrongExpectedVersion } from '../eventstore/errors.ts'
import type { AppendResult, EventStore, LogPosition, NewEvent, RecordedEvent } from '../eventstore/types.ts'

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
export function evolveMany<Event extends DomainEvent, State> (
  decider: Pick<Folder<Event, State>, 'evolve' | 'evolveAll'>, state: State, events: Iterable<Event>
): State {
  if (decider.evolveAll !== undefined) return decider.evolveAll(state, events)
  for (const event of events) state = decider.evolve(state, event)
  return state
}

/** What a fold needs of a decider. */
export type Folder<Event extends DomainEvent, State> = Pick<Decider<unknown, Event, State>, 'evolve' | 'evolveAll' | 'initialState'>

export function fold<Event extends DomainEvent, State> (decider: Folder<Event, State>, events: Iterable<Event>): State {
  return evolveMany(decider, decider.initialState(), events)
}

/**
 * Folds events as the store recorded them. The store appends only events the
 * registry's schema for their type accepts, so a stream's events are its
 * decider's: this is the one place that says so to the type checker.
 */
export function foldRecorded<Event extends DomainEvent, State> (decider: Folder<Event, State>, events: Iterable<RecordedEvent>): State {
  return fold(decider, events as Iterable<DomainEvent> as Iterable<Event>)
}

/** The one read `aggregate` needs of the store. */
export type StreamReader = Pick<EventStore, 'readStream'>

/** A stream's state: the whole stream read and folded, uncached (for a read outside any command, e.g. a check before one). */
export async function aggregate<Event extends DomainEvent, State> (
  reader: StreamReader, decider: Folder<Event, State>, streamId: string
): Promise<State> {
  return foldRecorded(decider, await reader.readStream(streamId))
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
  /**
   * The stream is expected not to exist yet (its id was just made): decide on the initial state without reading it;
   * the append's expected version says whether it was so, and when it was not the stream is read as without this.
   */
  readonly expectNew?: boolean
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
  store: EventStore, decider: Decider<unknown, Event, State>, streamId: string, commandId: string,
  cache: StateCache | undefined, optimistic: boolean, expectNew: boolean
): Promise<Loaded<State>> {
  const cached = cache?.get(streamId)
  // Trust the cached state (or, for a stream expected new, the initial one) without reading: the append's expected
  // version says whether it was the latest.
  if (optimistic && cached !== undefined) return { state: cached.state as State, version: cached.version, earlier: [], complete: false }
  if (optimistic && expectNew) return { state: decider.initialState(), version: 0n, earlier: [], complete: false }
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
  store: EventStore, decider: Folder<Event, State>, streamId: string, cache?: StateCache
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
  const run: Run<Command, Event, State> = { store, decider, streamId, command, metadata, options }
  let tries: Tries = { cache: options.cache, optimistic: options.cache !== undefined || options.expectNew === true, attempt: 0 }
  for (;;) {
    const outcome = await tryOnce(run, tries)
    if ('result' in outcome) return outcome.result
    tries = await nextTry(tries, outcome.retry)
  }
}

/** One command being handled: what every try reads, decides and appends with. */
interface Run<Command, Event extends DomainEvent, State> {
  readonly store: EventStore
  readonly decider: Decider<Command, Event, State>
  readonly streamId: string
  readonly command: Command
  readonly metadata: CommandMetadata
  readonly options: HandleOptions
}

/** How the next try reads the stream, and how many counted retries came before it. */
interface Tries {
  /** Undefined once the whole stream must be read. */
  readonly cache: StateCache | undefined
  /** Decide on the cached state (or the initial one, for a stream expected new) without reading, until the store says it was stale. */
  readonly optimistic: boolean
  /** Counted retries so far: the backoff grows with it, and it is capped by `maxRetries`. */
  readonly attempt: number
}

/**
 * Why a try ended without an answer:
 * - `reread`: the answer depends on older events than the cached state: read the whole stream (not counted);
 * - `stale`: the cached state was not the latest: read what it missed, at once (not counted: no race was lost);
 * - `replayed`: a twin of this command (same id) got there first: read the whole stream for what it wrote;
 * - `conflict`: a concurrent writer won the race: back off, then decide again on the fresh state.
 */
type Retry = 'reread' | 'stale' | 'replayed' | 'conflict'

type Outcome<Event extends DomainEvent, State> = { readonly result: CommandResult<Event, State> } | { readonly retry: Retry }

async function tryOnce<Command, Event extends DomainEvent, State> (
  run: Run<Command, Event, State>, tries: Tries
): Promise<Outcome<Event, State>> {
  const { store, decider, streamId, metadata, options } = run
  const expectNew = options.expectNew === true
  const folder = decider as Decider<unknown, Event, State>
  const loaded = await load(store, folder, streamId, metadata.commandId, tries.cache, tries.optimistic, expectNew)
  if (loaded.version === 0n && options.mustExist === true) throw new StreamNotFound(streamId)
  if (loaded.earlier.length > 0) return replayOf(run, loaded)
  const decided = decideOn(run, loaded)
  if (decided === undefined) return { retry: 'reread' }
  if (decided.length === 0) return nothingToDo(run, loaded)
  return appendDecided(run, loaded, decided, tries)
}

/** This command's events are already in the stream: its first outcome, once the whole stream was read. */
function replayOf<Event extends DomainEvent, State> (run: Run<unknown, Event, State>, loaded: Loaded<State>): Outcome<Event, State> {
  if (!loaded.complete) return { retry: 'reread' }
  const { state, version, earlier } = loaded
  const events = earlier.map(toDomainEvent) as Event[]
  return { result: { streamId: run.streamId, events, state, version, position: earlier.at(-1)!.position, replayed: true } }
}

/** The decided events; undefined when a refusal must be checked against the whole stream first. */
function decideOn<Command, Event extends DomainEvent, State> (run: Run<Command, Event, State>, loaded: Loaded<State>): Event[] | undefined {
  try {
    return run.decider.decide(run.command, loaded.state, { now: run.metadata.now, actor: run.metadata.actor })
  } catch (error) {
    // A refusal may be this very command, already applied before the cached state: look again at the whole stream.
    if (!loaded.complete) return undefined
    throw error
  }
}

/**
 * "Nothing to do" is only an answer about the whole stream: the cached state may be stale, or
 * this may be a retry of a command applied before it, whose first outcome is the answer.
 */
function nothingToDo<Event extends DomainEvent, State> (run: Run<unknown, Event, State>, loaded: Loaded<State>): Outcome<Event, State> {
  if (!loaded.complete) return { retry: 'reread' }
  const { state, version } = loaded
  run.options.cache?.set(run.streamId, { version, state })
  return { result: { streamId: run.streamId, events: [], state, version, position: undefined, replayed: false } }
}

/** Appends the decided events at the version the state was read at; a lost race is a retry while retries remain. */
async function appendDecided<Command, Event extends DomainEvent, State> (
  run: Run<Command, Event, State>, loaded: Loaded<State>, decided: Event[], tries: Tries
): Promise<Outcome<Event, State>> {
  const { store, decider, streamId, metadata, options } = run
  let appended: AppendResult
  try {
    appended = await store.append(streamId, toNewEvents(decided, metadata), { expectedVersion: loaded.version })
  } catch (error) {
    if (!(error instanceof WrongExpectedVersion)) throw error
    if (tries.optimistic) return { retry: 'stale' }
    if (tries.attempt >= (options.maxRetries ?? 3)) throw error
    return { retry: 'conflict' }
  }
  if (appended.replayed === true) return { retry: 'replayed' }
  const state = evolveMany(decider, loaded.state, decided)
  options.cache?.set(streamId, { version: appended.nextExpectedVersion, state })
  const version = appended.nextExpectedVersion
  return { result: { streamId, events: decided, state, version, position: appended.position, replayed: false } }
}

/** How the next try reads: the whole stream after `reread` and `replayed`; counted retries back off first. */
async function nextTry (tries: Tries, retry: Retry): Promise<Tries> {
  switch (retry) {
    case 'reread': return { ...tries, cache: undefined, optimistic: false }
    case 'stale': return { ...tries, optimistic: false }
    case 'replayed': return { ...tries, cache: undefined, optimistic: false, attempt: tries.attempt + 1 }
    case 'conflict':
      await jitteredBackoff(tries.attempt)
      return { ...tries, attempt: tries.attempt + 1 }
  }
}

function toNewEvents (decided: readonly DomainEvent[], metadata: CommandMetadata): NewEvent[] {
  return decided.map((event, index) => {
    const eventMetadata = metadataFor(metadata, index)
    return { id: eventMetadata.eventId, type: event.type, data: event.data, metadata: eventMetadata }
  })
}

function toDomainEvent (event: RecordedEvent): DomainEvent {
  return { type: event.type, data: event.data }
}

function jitteredBackoff (attempt: number): Promise<void> {
  const ceiling = 10 * 2 ** attempt
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling))
}
