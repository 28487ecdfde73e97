-- The assistant's monthly budgets (src/application/assistant/budgets.ts, docs/ai-budgets.md).
-- Not read models: the counters every node reserves against before calling the
-- model. One row per organization and UTC month holds what is spent and what is
-- reserved, so a reservation is one conditional upsert of that row
-- (spent + reserved + estimate <= budget) and its lock orders concurrent
-- reservations on any node. Spent is counted only from the usage records settled
-- into it, so it agrees with the usage read model; a month's row is made by its
-- first reservation, which is how a budget resets with no job.
CREATE TABLE ai_budget_months (
  org_id text NOT NULL,
  month date NOT NULL,
  spent_micros bigint NOT NULL CHECK (spent_micros >= 0),
  reserved_micros bigint NOT NULL CHECK (reserved_micros >= 0),
  PRIMARY KEY (org_id, month)
);

-- What each response holds until its usage is recorded and settled. A row whose
-- node died expires and is reconciled from the conversation's usage event.
CREATE TABLE ai_budget_reservations (
  response_id text PRIMARY KEY,
  org_id text NOT NULL,
  month date NOT NULL,
  conversation_id text NOT NULL,
  held_micros bigint NOT NULL CHECK (held_micros >= 0),
  expires_at timestamptz NOT NULL
);
CREATE INDEX ai_budget_reservations_expiry ON ai_budget_reservations (expires_at);
