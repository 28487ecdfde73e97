-- The jobs runner's claim (src/projections/jobs/queries.ts, claimDueJobs) as a
-- function, so that it is one round trip and one commit: before, it was a
-- transaction of four (BEGIN, SET LOCAL, the claim, COMMIT), and the runner
-- claims one batch at a time, so a claim's round trips were time every free
-- slot waited.
--
-- Its plan is fixed by the function's own setting, whatever the table's
-- statistics say. The due queue goes from empty to thousands of rows faster
-- than (auto)analyze follows, or never gets statistics where autovacuum is
-- off; the planner then takes every source for a few rows and ANDs bitmaps of
-- its partial index and `jobs_by_type`, which reads every due row and sorts
-- them: a claim that grows with the queue (30 ms a claim with 12,000 jobs
-- waiting, against under 2 ms in index order). Without bitmap scans, each
-- source is walked in its partial index's order and stops at the batch
-- (test/jobs-claim-plan.test.ts plans this body with this setting).
--
-- One statement claims and marks, each source walked by its own partial index
-- (src/projections/jobs/projection.ts):
-- - leases run out (`jobs_lease_expired`): the node holding them died or lost
--   touch, unless a claimer has marked the takeover and its mark still holds;
-- - claims run out (`jobs_claim_lapsed`): marked for an attempt that never
--   showed up (its claimer died, or its start was refused on a stale row) by
--   the time the mark lapsed;
-- - due and unmarked (`jobs_claimable`), in run order: the common case. A
--   marked row leaves this index at once, so a claim never walks past the rows
--   other claims took while the projection catches up.
-- `jobs` is the projection's view, made by its first build: the body is
-- checked when it runs, not here.
-- $1 now, $2 the node's job types, $3 the batch, $4 job ids the node runs
-- already, $5 the node, $6 the claim mark's expiry.
SET LOCAL check_function_bodies = off;
CREATE FUNCTION ledgerline_claim_jobs(
  p_now timestamptz, p_types text[], p_limit integer, p_exclude text[], p_node text, p_until timestamptz
)
RETURNS TABLE (job_id text, job_type text, attempt integer, run_at timestamptz)
LANGUAGE sql VOLATILE
SET enable_bitmapscan = off
AS $fn$
  WITH lease_lapsed AS (
    SELECT job_id, run_at FROM jobs
     WHERE state = 'running' AND lease_until <= $1
       AND NOT (claimed_until IS NOT NULL AND claimed_until > $1 AND claimed_attempt > attempt)
       AND job_type = ANY ($2::text[]) AND job_id <> ALL ($4::text[])
     ORDER BY lease_until LIMIT $3 FOR UPDATE SKIP LOCKED),
  claim_lapsed AS (
    SELECT job_id, run_at FROM jobs
     WHERE state = 'waiting' AND claimed_attempt > attempt AND claimed_until <= $1 AND run_at <= $1
       AND job_type = ANY ($2::text[]) AND job_id <> ALL ($4::text[])
     ORDER BY claimed_until LIMIT $3 FOR UPDATE SKIP LOCKED),
  due AS (
    SELECT job_id, run_at FROM jobs
     WHERE state = 'waiting' AND (claimed_attempt IS NULL OR claimed_attempt <= attempt) AND run_at <= $1
       AND job_type = ANY ($2::text[]) AND job_id <> ALL ($4::text[])
     ORDER BY run_at, job_id LIMIT $3 FOR UPDATE SKIP LOCKED),
  picked AS (
    SELECT job_id FROM (
      SELECT job_id, 1 AS source, run_at FROM lease_lapsed
      UNION ALL SELECT job_id, 2, run_at FROM claim_lapsed
      UNION ALL SELECT job_id, 3, run_at FROM due) AS candidates
     ORDER BY source, run_at, job_id LIMIT $3)
  UPDATE jobs SET claimed_attempt = jobs.attempt + 1, claimed_by = $5, claimed_until = $6
    FROM picked WHERE jobs.job_id = picked.job_id
  RETURNING jobs.job_id, jobs.job_type, jobs.attempt, jobs.run_at
$fn$;
