-- Several appends, each to its own stream, in one statement and one commit
-- (src/eventstore/postgres.ts, appendMany): group commit for writers that
-- append to many streams at once, such as the jobs runner recording the
-- attempts it starts and the outcomes of those that end.
--
-- Each entry is one call of ledgerline_append (migration 001), which takes
-- the stream's lock, checks its expected version and the transaction order,
-- and inserts. An entry whose expected version does not hold inserts nothing
-- and gets no row; the caller then tells a replay from a conflict, as it does
-- for one append. An error (an event id already in a stream, 40001) undoes
-- the whole statement; the caller then sends every entry alone.
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
BEGIN
  FOR r IN
    SELECT b.ord AS i, b.doc->>'s' AS s, b.doc->>'k' AS k, (b.doc->>'v')::bigint AS v, b.doc->'e' AS e
      FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS b(doc, ord)
     ORDER BY b.doc->>'s' COLLATE "C", b.ord
  LOOP
    RETURN QUERY
    SELECT r.i, a.next_version, a.last_transaction_id, a.last_position
      FROM ledgerline_append(r.s, r.k, r.v, r.e) AS a;
  END LOOP;
END
$fn$;
