-- One batch of an organization's month for the assistant's budgets
-- (src/application/assistant/budgets.ts): the settlements and the reservations
-- a node holds for that month while its previous batch is under way, as one
-- call, one round trip and one commit.
--
-- Before, settlements and reservations went as two batches, a statement and a
-- transaction of four round trips, each holding the month row's lock through
-- its commit: on a hot organization each waited for the other's commit, and a
-- reservation waited for about four commits. Now it waits for the batch under
-- way and its own.
--
-- In order, under the month row's lock:
-- 1. the settlements: each listed reservation still held is deleted and its
--    cost moved to spent (the reservation row is the token: one settled twice,
--    or never reserved, moves nothing); what they free is free for step 2;
-- 2. the month's row is locked (made at 0 when it is the month's first) and read;
-- 3. the reservations: the longest run in arrival order whose running sum fits
--    in budget - spent - reserved is admitted (the rest are refused), held per
--    response, and added to reserved.
-- Returns which reservations were admitted, in order, the month's spent after
-- the settlements, and how many month rows the settlements changed.
-- $1 the organization, $2 the month (its first day), $3 and $4 the settled
-- responses and their costs, $5 to $7 the reservations' responses,
-- conversations and estimates, $8 the budget, $9 the reservations' expiry.
CREATE FUNCTION ledgerline_ai_budget_batch(
  p_org text, p_month date, p_settle_ids text[], p_settle_costs bigint[],
  p_reserve_ids text[], p_conversation_ids text[], p_estimates bigint[], p_budget bigint, p_expires timestamptz
)
RETURNS TABLE (admitted boolean[], month_spent bigint, settled integer)
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
  v_spent bigint;
  v_reserved bigint;
  v_settled integer := 0;
  v_admitted boolean[] := '{}';
  v_held bigint := 0;
BEGIN
  IF cardinality(p_settle_ids) > 0 THEN
    WITH released AS (
      DELETE FROM ai_budget_reservations AS r USING unnest(p_settle_ids, p_settle_costs) AS s(response_id, cost)
       WHERE r.response_id = s.response_id
      RETURNING r.org_id, r.month, r.held_micros, s.cost),
    totals AS (
      SELECT x.org_id, x.month, sum(x.held_micros) AS held, sum(x.cost) AS cost FROM released AS x GROUP BY x.org_id, x.month)
    UPDATE ai_budget_months AS m SET spent_micros = m.spent_micros + t.cost, reserved_micros = m.reserved_micros - t.held
      FROM totals AS t WHERE m.org_id = t.org_id AND m.month = t.month;
    GET DIAGNOSTICS v_settled = ROW_COUNT;
  END IF;

  INSERT INTO ai_budget_months AS m (org_id, month, spent_micros, reserved_micros) VALUES (p_org, p_month, 0, 0)
    ON CONFLICT (org_id, month) DO UPDATE SET reserved_micros = m.reserved_micros
    RETURNING m.spent_micros, m.reserved_micros INTO v_spent, v_reserved;

  IF cardinality(p_estimates) > 0 THEN
    SELECT array_agg(f.fits ORDER BY f.n), coalesce(sum(f.estimate) FILTER (WHERE f.fits), 0)
      INTO v_admitted, v_held
      FROM (SELECT e.n, e.estimate, sum(e.estimate) OVER (ORDER BY e.n) <= p_budget - v_spent - v_reserved AS fits
              FROM unnest(p_estimates) WITH ORDINALITY AS e(estimate, n)) AS f;
    IF true = ANY (v_admitted) THEN
      INSERT INTO ai_budget_reservations AS r (response_id, org_id, month, conversation_id, held_micros, expires_at)
      SELECT h.response_id, p_org, p_month, min(h.conversation_id), sum(h.estimate), p_expires
        FROM unnest(p_reserve_ids, p_conversation_ids, p_estimates, v_admitted) AS h(response_id, conversation_id, estimate, fits)
       WHERE h.fits
       GROUP BY h.response_id
      ON CONFLICT (response_id) DO UPDATE SET held_micros = r.held_micros + EXCLUDED.held_micros, expires_at = EXCLUDED.expires_at;
      UPDATE ai_budget_months AS m SET reserved_micros = m.reserved_micros + v_held WHERE m.org_id = p_org AND m.month = p_month;
    END IF;
  END IF;

  RETURN QUERY SELECT v_admitted, v_spent, v_settled;
END
$fn$;
