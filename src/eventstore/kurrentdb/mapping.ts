/**
 * KurrentDB's shapes and the port's, one to the other: stream version =
 * revision + 1 (KurrentDB counts revisions from 0), log position =
 * (commit, prepare), and events as the client reads and writes them.
 */
import { ANY, NO_STREAM, START as FROM_START, STREAM_EXISTS, jsonEvent } from '@kurrent/kurrentdb-client'
import type { AppendStreamState, CurrentStreamState, JSONType, Position, ReadPosition } from '@kurrent/kurrentdb-client'
import type { EventMetadata } from '../../domain/envelope.ts'
import type { EventRegistry } from '../../domain/registry.ts'
import { START } from '../types.ts'
import type { ExpectedVersion, LogPosition, RecordedEvent } from '../types.ts'
import type { PreparedEvent } from '../validation.ts'

/** The fields of a KurrentDB recorded event that this adapter reads. */
export interface StoredEvent {
  readonly id: string
  readonly type: string
  readonly streamId: string
  readonly revision: bigint
  readonly created: Date
  readonly data: unknown
  readonly metadata: unknown
  readonly position?: Position
}

/** Port expected version (a stream version) to KurrentDB stream state (a revision). */
export function toStreamState (expected: ExpectedVersion): AppendStreamState {
  if (typeof expected === 'bigint') {
    if (expected < 0n) throw new RangeError('expected version must not be negative')
    return expected === 0n ? NO_STREAM : expected - 1n
  }
  switch (expected) {
    case 'any': return ANY
    case 'no_stream': return NO_STREAM
    case 'stream_exists': return STREAM_EXISTS
    default: throw new RangeError(`unknown expected version ${String(expected)}`)
  }
}

/** KurrentDB's current stream state (a revision, or no stream) as a port stream version. */
export function actualVersion (state: CurrentStreamState): bigint {
  return typeof state === 'bigint' && state >= 0n ? state + 1n : 0n
}

export function toLogPosition (position: Position | undefined): LogPosition {
  if (position === undefined) throw new Error('KurrentDB returned an event without a log position (server older than 22.6?)')
  return { major: position.commit, minor: position.prepare }
}

export function toReadPosition (position: LogPosition): ReadPosition {
  return isStart(position) ? FROM_START : { commit: position.major, prepare: position.minor }
}

export function isStart (position: LogPosition): boolean {
  return position.major === START.major && position.minor === START.minor
}

/** A stored event as the port records it, its data parsed (and upcast) by the registry. */
export function recordedFrom (registry: EventRegistry): (event: StoredEvent) => RecordedEvent {
  return (event) => {
    const metadata = (decodeJson(event.metadata) ?? {}) as EventMetadata
    return {
      id: event.id.toLowerCase(),
      type: event.type,
      streamId: event.streamId,
      streamVersion: event.revision + 1n,
      position: toLogPosition(event.position),
      data: registry.parse(event.type, decodeJson(event.data), metadata.schemaVersion ?? 1),
      metadata,
      recordedAt: event.created
    }
  }
}

/** The client serializes JSON events itself: hand it the parsed form of what prepareAppend checked. */
export function toEventData (event: PreparedEvent): ReturnType<typeof jsonEvent> {
  return jsonEvent({
    id: event.id,
    type: event.type,
    data: JSON.parse(event.data) as JSONType,
    metadata: JSON.parse(event.metadata) as JSONType
  })
}

/** The client parses JSON events and metadata; bytes are left for anything it could not parse. */
function decodeJson (value: unknown): unknown {
  if (!(value instanceof Uint8Array)) return value
  if (value.length === 0) return undefined
  try {
    return JSON.parse(Buffer.from(value).toString('utf8'))
  } catch {
    return value
  }
}
