-- The PostgreSQL event store (DESIGN.md §3).
-- Readers see only rows whose transaction_id is below the oldest transaction
-- still running (pg_snapshot_xmin), ordered by (transaction_id, global_position):
-- a transaction that commits late is then never skipped by a reader that
-- already moved past a later global_position.

CREATE TABLE events (
  global_position bigserial PRIMARY KEY,
  transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
  stream_id       text        NOT NULL,
  stream_version  bigint      NOT NULL CHECK (stream_version > 0),
  event_id        uuid        NOT NULL,
  type            text        NOT NULL,
  data            jsonb       NOT NULL,
  metadata        jsonb       NOT NULL,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
  CONSTRAINT events_stream_event_id_key UNIQUE (stream_id, event_id)
);

CREATE INDEX events_log_order ON events (transaction_id, global_position);

-- Appends a batch to one stream in one statement: it reads the stream's
-- version from events_stream_version_key, inserts only when the expected
-- version holds, and returns the last event's version and position (no row
-- when the expected version did not hold). The unique keys turn every race into
-- an error 23505 that names the key: a concurrent writer took the next version
-- (events_stream_version_key), or an event id is in the stream already
-- (events_stream_event_id_key); src/eventstore/postgres.ts sorts out which.
-- A function rather than a bare statement so that its plan is cached per
-- session on every driver (PGlite has no named prepared statements).
-- p_kind: any | no_stream | stream_exists | version (then p_version);
-- p_events: a JSON array of {id, type, data, metadata}.
CREATE FUNCTION ledgerline_append(p_stream text, p_kind text, p_version bigint, p_events jsonb)
RETURNS TABLE (next_version bigint, last_transaction_id xid8, last_position bigint)
LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN QUERY
  WITH current AS (
    SELECT coalesce(max(e.stream_version), 0) AS version FROM events e WHERE e.stream_id = p_stream
  ), allowed AS (
    SELECT c.version FROM current c
     WHERE (p_kind = 'any')
        OR (p_kind = 'no_stream' AND c.version = 0)
        OR (p_kind = 'stream_exists' AND c.version > 0)
        OR (p_kind = 'version' AND c.version = p_version)
  ), inserted AS (
    INSERT INTO events (stream_id, stream_version, event_id, type, data, metadata)
    SELECT p_stream, a.version + n.ord, (n.doc->>'id')::uuid, n.doc->>'type', n.doc->'data', n.doc->'metadata'
      FROM allowed a, jsonb_array_elements(p_events) WITH ORDINALITY AS n(doc, ord)
    RETURNING events.stream_version, events.transaction_id, events.global_position
  )
  SELECT i.stream_version, i.transaction_id, i.global_position
    FROM inserted i ORDER BY i.stream_version DESC LIMIT 1;
END
$fn$;
