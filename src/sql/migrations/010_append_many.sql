-- Several appends, each to its own stream, in one statement and one commit
-- (src/eventstore/postgres.ts, appendMany): group commit for writers that
-- append to many streams at once, such as the jobs runner recording the
-- attempts it starts and the outcomes of those that end.
--
-- Each entry is judged as ledgerline_append judges one append: the stream's
-- advisory lock, its expected version, the transaction-order check. An entry
-- whose expected version does not hold inserts nothing and gets no row; the
-- caller sends it again alone, where a replay is told from a conflict. An
-- error (an event id already in a stream, 40001) undoes the whole statement;
-- the caller then sends every entry alone.
--
-- Locks are taken in stream order (then in the batch's order for one stream),
-- so two batches over the same streams never wait on each other in a cycle.
-- An entry for a stream that an earlier entry of the batch appended to sees
-- that entry's events: two entries expecting the same version cannot both
-- hold.
-- p_batch: a JSON array of {s: stream, k: any | no_stream | stream_exists |
-- version, v: the version (for k = version) or null, e: the events as
-- ledgerline_append takes them}. Returns one row per entry appended, with the
-- entry's 1-based index in the batch.
CREATE FUNCTION ledgerline_append_many(p_batch jsonb)
RETURNS TABLE (ord bigint, next_version bigint, last_transaction_id xid8, last_position bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  r record;
  v_version bigint;
  v_last_tx xid8;
BEGIN
  FOR r IN
    SELECT b.ord AS i, b.doc->>'s' AS s, b.doc->>'k' AS k, (b.doc->>'v')::bigint AS v, b.doc->'e' AS e
      FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS b(doc, ord)
     ORDER BY b.doc->>'s' COLLATE "C", b.ord
  LOOP
    PERFORM pg_advisory_xact_lock(hashtextextended('ledgerline-stream:' || r.s, 0));
    v_version := NULL;
    v_last_tx := NULL;
    SELECT ev.stream_version, ev.transaction_id INTO v_version, v_last_tx
      FROM events ev WHERE ev.stream_id = r.s ORDER BY ev.stream_version DESC LIMIT 1;
    v_version := coalesce(v_version, 0);
    CONTINUE WHEN NOT ((r.k = 'any')
       OR (r.k = 'no_stream' AND v_version = 0)
       OR (r.k = 'stream_exists' AND v_version > 0)
       OR (r.k = 'version' AND v_version = r.v));
    IF v_last_tx IS NOT NULL AND v_last_tx > pg_current_xact_id() THEN
      RAISE EXCEPTION 'stream % was appended to by a later transaction; retry the transaction', r.s
        USING ERRCODE = '40001';
    END IF;
    RETURN QUERY
    WITH inserted AS (
      INSERT INTO events (stream_id, stream_version, event_id, type, data, metadata)
      SELECT r.s, v_version + n.ord, (n.doc->>'id')::uuid, n.doc->>'type', n.doc->'data', n.doc->'metadata'
        FROM jsonb_array_elements(r.e) WITH ORDINALITY AS n(doc, ord)
      RETURNING events.stream_version, events.transaction_id, events.global_position
    )
    SELECT r.i, i.stream_version, i.transaction_id, i.global_position
      FROM inserted i ORDER BY i.stream_version DESC LIMIT 1;
  END LOOP;
END
$fn$;
