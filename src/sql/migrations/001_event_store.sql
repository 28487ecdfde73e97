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

-- One row per stream: its version, and the row every append to it locks.
CREATE TABLE streams (
  stream_id text   PRIMARY KEY,
  version   bigint NOT NULL CHECK (version >= 0)
);

-- The earlier append of these ids, if any: how many of them the stream holds,
-- and the version and position of the last of them.
CREATE FUNCTION ledgerline_earlier_append(p_stream text, p_ids uuid[])
RETURNS TABLE (found int, any_id uuid, last_version bigint, last_transaction_id xid8, last_position bigint)
LANGUAGE sql STABLE AS $fn$
  SELECT count(*)::int, min(e.event_id::text)::uuid,
         max(e.stream_version),
         (array_agg(e.transaction_id ORDER BY e.stream_version DESC))[1],
         (array_agg(e.global_position ORDER BY e.stream_version DESC))[1]
    FROM events e WHERE e.stream_id = p_stream AND e.event_id = ANY (p_ids)
$fn$;

-- Appends events to one stream atomically, in one round trip.
-- p_expected: 'any' | 'no_stream' | 'stream_exists' | a decimal version.
-- Returns the stream's new version and the position of the last event; when
-- every id was appended before, returns that first append's result and writes
-- nothing. Raises LLWEV (wrong expected version; DETAIL = actual version) and
-- LLDUP (some, not all, ids appended before; DETAIL = one such id).
--
-- The common paths take two statements: one that locks the stream row, checks
-- the expected version and bumps it, and the insert. Earlier appends of the
-- same ids are looked for only where they could hide: under 'any' and
-- 'stream_exists', and when the fast path found the version moved.
CREATE FUNCTION ledgerline_append(
  p_stream text, p_expected text,
  p_ids uuid[], p_types text[], p_data jsonb[], p_metadata jsonb[]
) RETURNS TABLE (next_version bigint, last_transaction_id xid8, last_position bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_count   int := cardinality(p_ids);
  v_current bigint;
  v_earlier record;
BEGIN
  IF p_expected IN ('no_stream', '0') THEN
    INSERT INTO streams (stream_id, version) VALUES (p_stream, v_count) ON CONFLICT (stream_id) DO NOTHING;
    IF FOUND THEN v_current := 0; END IF;
  ELSIF p_expected IN ('any', 'stream_exists') THEN
    SELECT s.version INTO v_current FROM streams s WHERE s.stream_id = p_stream FOR UPDATE;
    IF NOT FOUND AND p_expected = 'any' THEN
      INSERT INTO streams (stream_id, version) VALUES (p_stream, 0) ON CONFLICT (stream_id) DO NOTHING;
      SELECT s.version INTO v_current FROM streams s WHERE s.stream_id = p_stream FOR UPDATE;
    END IF;
    IF v_current > 0 THEN
      SELECT * INTO v_earlier FROM ledgerline_earlier_append(p_stream, p_ids);
      IF v_earlier.found = v_count THEN
        RETURN QUERY SELECT v_earlier.last_version, v_earlier.last_transaction_id, v_earlier.last_position;
        RETURN;
      ELSIF v_earlier.found > 0 THEN
        RAISE EXCEPTION 'duplicate event id' USING ERRCODE = 'LLDUP', DETAIL = v_earlier.any_id::text;
      END IF;
    END IF;
    IF v_current IS NOT NULL THEN
      UPDATE streams SET version = v_current + v_count WHERE stream_id = p_stream;
    END IF;
  ELSE
    UPDATE streams SET version = version + v_count
     WHERE stream_id = p_stream AND version = p_expected::bigint
    RETURNING version - v_count INTO v_current;
  END IF;

  IF v_current IS NULL THEN
    -- No fast path applied: a replay of an earlier append, or a conflict.
    -- This statement's snapshot sees a concurrent twin that has committed.
    SELECT * INTO v_earlier FROM ledgerline_earlier_append(p_stream, p_ids);
    IF v_earlier.found = v_count THEN
      RETURN QUERY SELECT v_earlier.last_version, v_earlier.last_transaction_id, v_earlier.last_position;
      RETURN;
    ELSIF v_earlier.found > 0 THEN
      RAISE EXCEPTION 'duplicate event id' USING ERRCODE = 'LLDUP', DETAIL = v_earlier.any_id::text;
    END IF;
    SELECT s.version INTO v_current FROM streams s WHERE s.stream_id = p_stream;
    RAISE EXCEPTION 'wrong expected version' USING ERRCODE = 'LLWEV', DETAIL = coalesce(v_current, 0)::text;
  END IF;

  RETURN QUERY
    WITH inserted AS (
      INSERT INTO events (stream_id, stream_version, event_id, type, data, metadata)
      SELECT p_stream, v_current + n.ord, n.id, n.type, n.data, n.metadata
        FROM unnest(p_ids, p_types, p_data, p_metadata) WITH ORDINALITY AS n(id, type, data, metadata, ord)
      RETURNING stream_version, transaction_id, global_position
    )
    SELECT i.stream_version, i.transaction_id, i.global_position
      FROM inserted i ORDER BY i.stream_version DESC LIMIT 1;
END
$fn$;
