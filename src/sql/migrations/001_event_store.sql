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

-- An append is one INSERT ... SELECT (src/eventstore/postgres.ts): it reads the
-- stream's version from events_stream_version_key, inserts only when the
-- expected version holds, and the unique keys turn every race into an error:
-- a concurrent writer that took the next version (events_stream_version_key)
-- or an event id appended before (events_stream_event_id_key).
