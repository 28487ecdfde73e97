/**
 * Checks shared by every adapter before anything is written: a failure here
 * rejects the whole append.
 */
import { EventMetadataSchema } from '../domain/envelope.ts'
import { InvalidEventData } from '../domain/errors.ts'
import { EventTooLarge, InvalidStreamId } from './errors.ts'
import type { EventRegistry } from '../domain/registry.ts'
import type { NewEvent } from './types.ts'

/** Largest event accepted: serialized data plus metadata. */
export const MAX_EVENT_BYTES = 1024 * 1024
/** Most events one read returns. */
export const MAX_PAGE = 10_000

/** A read's page size: `fallback` when unset; a positive integer, at most MAX_PAGE. */
export function pageSize (limit: number | undefined, fallback: number): number {
  if (limit === undefined) return Math.min(fallback, MAX_PAGE)
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer')
  return Math.min(limit, MAX_PAGE)
}

/** Most events in one append. */
export const MAX_EVENTS_PER_APPEND = 10_000

const STREAM_ID = /^[a-z][a-z0-9_]{0,49}-[A-Za-z0-9._~:@+-]{1,200}$/

export function assertStreamId (streamId: string): void {
  if (typeof streamId !== 'string' || !STREAM_ID.test(streamId)) throw new InvalidStreamId(String(streamId))
}

export function streamCategory (streamId: string): string {
  return streamId.slice(0, streamId.indexOf('-'))
}

/** An event checked and serialized, ready for an adapter to write. */
export interface PreparedEvent {
  readonly id: string
  readonly type: string
  readonly data: string
  readonly metadata: string
}

/**
 * Text PostgreSQL's jsonb refuses: U+0000, and a lone UTF-16 surrogate (which
 * JSON.stringify writes as a \udXXX escape). A real escape is preceded by an
 * even number of backslashes.
 */
const UNSTORABLE_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function prepareAppend (registry: EventRegistry, streamId: string, events: readonly NewEvent[]): PreparedEvent[] {
  assertStreamId(streamId)
  if (!Array.isArray(events) || events.length === 0) {
    throw new InvalidEventData('append', [{ path: '', message: 'an append needs at least one event' }])
  }
  if (events.length > MAX_EVENTS_PER_APPEND) {
    throw new InvalidEventData('append', [{ path: '', message: `at most ${MAX_EVENTS_PER_APPEND} events per append` }])
  }
  const seen = new Set<string>()
  return events.map((event, index) => {
    if (typeof event.id !== 'string' || !UUID.test(event.id)) {
      throw new InvalidEventData(String(event.type), [{ path: `${index}.id`, message: 'event id must be a UUID' }])
    }
    const id = event.id.toLowerCase()
    if (seen.has(id)) {
      throw new InvalidEventData(event.type, [{ path: `${index}.id`, message: 'event id repeated in one append' }])
    }
    seen.add(id)
    const data = registry.validate(event.type, event.data)
    const parsed = EventMetadataSchema.safeParse({ ...event.metadata, schemaVersion: registry.versionOf(event.type) })
    if (!parsed.success) {
      throw new InvalidEventData(event.type, parsed.error.issues.slice(0, 20).map((issue) => ({
        path: ['metadata', ...issue.path].join('.'),
        message: issue.message
      })))
    }
    if (parsed.data.eventId.toLowerCase() !== id) {
      throw new InvalidEventData(event.type, [{ path: `${index}.metadata.eventId`, message: 'metadata.eventId must equal the event id' }])
    }
    const serializedData = JSON.stringify(data)
    const serializedMetadata = JSON.stringify(parsed.data)
    // PostgreSQL's jsonb cannot hold them; refuse here rather than fail mid-append.
    for (const [part, text] of [['data', serializedData], ['metadata', serializedMetadata]] as const) {
      if (text.includes('\\u') && UNSTORABLE_ESCAPE.test(text)) {
        throw new InvalidEventData(event.type, [
          { path: `${index}.${part}`, message: 'text must not contain U+0000 or a lone UTF-16 surrogate' }
        ])
      }
    }
    const bytes = Buffer.byteLength(serializedData) + Buffer.byteLength(serializedMetadata)
    if (bytes > MAX_EVENT_BYTES) throw new EventTooLarge(id, bytes, MAX_EVENT_BYTES)
    return { id, type: event.type, data: serializedData, metadata: serializedMetadata }
  })
}
