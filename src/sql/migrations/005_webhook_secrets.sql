-- Webhook signing secrets (src/application/webhooks/secrets.ts), outside the
-- event log: a secret must be usable in plain text to sign and verify, and
-- the log is kept for ever and read by auditors, so events carry only a
-- fingerprint. Encrypted with AES-256-GCM when WEBHOOK_SECRETS_KEY is set
-- (`encryption` says how each row was written, so rows stored before a key
-- was configured stay readable).
CREATE TABLE webhook_secrets (
  -- A source's id (inbound) or an endpoint's id (outbound).
  owner_id text NOT NULL,
  secret_id text NOT NULL,
  encryption text NOT NULL CHECK (encryption IN ('none', 'aes-256-gcm')),
  -- The secret's UTF-8 bytes, or iv (12 bytes) || tag (16) || ciphertext.
  secret bytea NOT NULL,
  created_at timestamptz NOT NULL,
  -- Null: active until expired; rotation keeps the old secret until a set time.
  expires_at timestamptz,
  -- Orders secrets created in the same millisecond: the newest signs.
  seq bigint GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (owner_id, secret_id)
);
