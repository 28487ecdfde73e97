/**
 * The stream catalogue: one row per stream with its category, version and the
 * times of its first and last events. Small, but a real read model: the
 * `events stats` command and operators' queries read it.
 */
import type { RecordedEvent } from '../../eventstore/types.ts'
import { streamCategory } from '../../eventstore/validation.ts'
import type { Projection } from '../projection.ts'

interface StreamSummary {
  category: string
  version: bigint
  firstAt: Date
  lastAt: Date
  lastType: string
}

function summarize (events: readonly RecordedEvent[]): Map<string, StreamSummary> {
  const streams = new Map<string, StreamSummary>()
  for (const event of events) {
    const summary = streams.get(event.streamId)
    if (summary === undefined) {
      streams.set(event.streamId, {
        category: streamCategory(event.streamId),
        version: event.streamVersion,
        firstAt: event.recordedAt,
        lastAt: event.recordedAt,
        lastType: event.type
      })
    } else if (event.streamVersion > summary.version) {
      summary.version = event.streamVersion
      summary.lastAt = event.recordedAt
      summary.lastType = event.type
    }
  }
  return streams
}

export const streamCatalogue: Projection = {
  name: 'stream_catalogue',
  version: 1,
  eventTypes: 'all',
  tables: ['stream_catalogue'],
  setup: `
    CREATE TABLE stream_catalogue (
      stream_id       text        PRIMARY KEY,
      category        text        NOT NULL,
      version         bigint      NOT NULL,
      first_event_at  timestamptz NOT NULL,
      last_event_at   timestamptz NOT NULL,
      last_event_type text        NOT NULL
    );
    CREATE INDEX stream_catalogue_category ON stream_catalogue (category, last_event_at DESC);`,
  async apply (events, tx) {
    const streams = [...summarize(events)]
    if (streams.length === 0) return
    // Guarded by version: an event already counted changes nothing.
    await tx.query(
      `INSERT INTO stream_catalogue AS c (stream_id, category, version, first_event_at, last_event_at, last_event_type)
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::timestamptz[], $6::text[])
       ON CONFLICT (stream_id) DO UPDATE SET
         version = EXCLUDED.version,
         last_event_at = EXCLUDED.last_event_at,
         last_event_type = EXCLUDED.last_event_type
       WHERE EXCLUDED.version > c.version`,
      [
        streams.map(([id]) => id),
        streams.map(([, s]) => s.category),
        streams.map(([, s]) => s.version.toString()),
        streams.map(([, s]) => s.firstAt.toISOString()),
        streams.map(([, s]) => s.lastAt.toISOString()),
        streams.map(([, s]) => s.lastType)
      ]
    )
  }
}
