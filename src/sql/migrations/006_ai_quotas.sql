-- The assistant's requests-per-minute quota (src/application/assistant/quotas.ts):
-- one row per member and minute window, counted up by a conditional upsert, so
-- every node sharing the database admits against the same count. Not a read
-- model: a counter of attempts, which the event log does not hold (a refused
-- request writes no event). A member's older windows are deleted when a new one opens.
CREATE TABLE ai_quota_windows (
  org_id text NOT NULL,
  user_id text NOT NULL,
  window_start timestamptz NOT NULL,
  requests integer NOT NULL CHECK (requests > 0),
  PRIMARY KEY (org_id, user_id, window_start)
);
