-- Signed daily digests of the audit log (tamper evidence). One row per audit
-- chain (an organization's id; '' for the platform's log) and UTC day: the
-- day's first and last row, the hash of the last one and the row count,
-- signed with Ed25519 (src/application/audit/digests.ts). Not part of the
-- audit projection, so a rebuild leaves them alone: they attest what the log
-- held when they were signed, which is what a rebuild must reproduce.
CREATE TABLE audit_digests (
  chain text NOT NULL,
  day date NOT NULL,
  first_seq bigint NOT NULL,
  last_seq bigint NOT NULL,
  last_hash text NOT NULL,
  rows bigint NOT NULL,
  -- First 16 hex digits of the SHA-256 of the public key (SPKI DER) that verifies the signature.
  key_id text NOT NULL,
  -- Base64 Ed25519 signature of the digest's canonical JSON.
  signature text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (chain, day)
);
