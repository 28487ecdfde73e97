import type { SqlExecutor } from '../../sql/client.ts'

export interface CategoryStats {
  category: string
  streams: number
  events: number
  lastEventAt: Date
}

/** Streams and events per category, from the stream catalogue read model. */
export async function categoryStats (sql: SqlExecutor): Promise<CategoryStats[]> {
  const { rows } = await sql.query<{ category: string, streams: string, events: string, last_event_at: Date | string }>(
    `SELECT category, count(*)::text AS streams, sum(version)::text AS events, max(last_event_at) AS last_event_at
       FROM stream_catalogue GROUP BY category ORDER BY category`)
  return rows.map((row) => ({
    category: row.category,
    streams: Number(row.streams),
    events: Number(row.events),
    lastEventAt: new Date(row.last_event_at)
  }))
}

export interface StreamEntry {
  streamId: string
  category: string
  version: number
  lastEventAt: Date
  lastEventType: string
}

export async function getStream (sql: SqlExecutor, streamId: string): Promise<StreamEntry | undefined> {
  const { rows } = await sql.query<{
    stream_id: string, category: string, version: string, last_event_at: Date | string, last_event_type: string
  }>(
    'SELECT stream_id, category, version::text, last_event_at, last_event_type FROM stream_catalogue WHERE stream_id = $1', [streamId])
  const row = rows[0]
  return row === undefined
    ? undefined
    : {
        streamId: row.stream_id, category: row.category, version: Number(row.version), lastEventAt: new Date(row.last_event_at),
        lastEventType: row.last_event_type
      }
}
