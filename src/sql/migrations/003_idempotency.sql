-- Idempotency-Key records (HTTP layer, not part of the event log). A row is
-- claimed before the command runs and holds the response once it is done.
-- Neither the key nor the response is stored in clear: the row is found by a
-- hash of (principal, key) and the response is sealed with a key derived from
-- the same pair, so only a caller presenting the key can read it back.
CREATE TABLE idempotency_keys (
  key_hash text PRIMARY KEY,
  request_hash text NOT NULL,
  state text NOT NULL CHECK (state IN ('in_flight', 'done')),
  -- Which claim holds the row: a request taken over after its claim expired may no longer write it.
  claim_id uuid NOT NULL,
  locked_until timestamptz NOT NULL,
  status_code integer,
  sealed_response bytea,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
