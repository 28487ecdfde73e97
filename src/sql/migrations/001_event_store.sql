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

-- Appends a batch to one stream, atomically, in one round trip: takes the
-- stream's lock (a transaction-scoped advisory lock, so appends to one stream
-- queue and each sees the one before), checks the expected version, inserts,
-- and returns the last event's version and position. Returns no row when the
-- expected version does not hold; src/eventstore/postgres.ts then tells a
-- replay of an earlier append (same event ids) from a conflict. An event id
-- already in the stream raises 23505 on events_stream_event_id_key.
-- Raises 40001 when the stream's last event was written by a transaction with
-- a larger id than this one (possible only when the caller's transaction got
-- its id before that one committed): the log is ordered by transaction id, so
-- these events would come before their predecessors. The caller retries.
-- p_kind: any | no_stream | stream_exists | version (then p_version);
-- p_events: a JSON array of {id, type, data, metadata}.
CREATE FUNCTION ledgerline_append(p_stream text, p_kind text, p_version bigint, p_events jsonb)
RETURNS TABLE (next_version bigint, last_transaction_id xid8, last_position bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_version bigint;
  v_last_tx xid8;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('ledgerline-stream:' || p_stream, 0));
  SELECT e.stream_version, e.transaction_id INTO v_version, v_last_tx
    FROM events e WHERE e.stream_id = p_stream ORDER BY e.stream_version DESC LIMIT 1;
  v_version := coalesce(v_version, 0);
  IF NOT ((p_kind = 'any')
       OR (p_kind = 'no_stream' AND v_version = 0)
       OR (p_kind = 'stream_exists' AND v_version > 0)
       OR (p_kind = 'version' AND v_version = p_version)) THEN
    RETURN;
  END IF;
  IF v_last_tx IS NOT NULL AND v_last_tx > pg_current_xact_id() THEN
    RAISE EXCEPTION 'stream % was appended to by a later transaction; retry the transaction', p_stream
      USING ERRCODE = '40001';
  END IF;
  RETURN QUERY
  WITH inserted AS (
    INSERT INTO events (stream_id, stream_version, event_id, type, data, metadata)
    SELECT p_stream, v_version + n.ord, (n.doc->>'id')::uuid, n.doc->>'type', n.doc->'data', n.doc->'metadata'
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS n(doc, ord)
    RETURNING events.stream_version, events.transaction_id, events.global_position
  )
  SELECT i.stream_version, i.transaction_id, i.global_position
    FROM inserted i ORDER BY i.stream_version DESC LIMIT 1;
END
$fn$;
