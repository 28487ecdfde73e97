/**
 * Webhook signing secrets: the `whsec_` secrets of inbound sources and
 * outbound endpoints. HMAC needs them in plain text, but the event log is
 * kept for ever and read by auditors, and logs travel further still; so
 * they live in `webhook_secrets` (migration 005), encrypted with
 * AES-256-GCM under WEBHOOK_SECRETS_KEY when it is set, and everything
 * else (events, API answers, logs) shows only their fingerprint.
 *
 * An owner (a source or an endpoint) has several secrets during a rotation:
 * the newest signs, any active one verifies, and the old one stops being
 * active at the time its rotation set (24 h later).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomUUID } from 'node:crypto'
import type { Config } from '../../config.ts'
import { domainError } from '../../domain/errors.ts'
import type { SqlClient } from '../../sql/client.ts'

export interface StoredSecret { secretId: string, secret: string, fingerprint: string, createdAt: Date, expiresAt: Date | null }

export interface WebhookSecretStore {
  /**
   * A new `whsec_` secret (base64 of 32 random bytes after the prefix, as Standard Webhooks), stored for owner; the plain text is
   * answered once.
   */
  create (ownerId: string, options?: { now?: Date }): Promise<StoredSecret>
  /** The owner's secrets not expired at `now` (default now), newest first, in plain text: for signing (first) and verifying (any). */
  active (ownerId: string, now?: Date): Promise<StoredSecret[]>
  /** Sets when a secret stops being active (rotation keeps the old one 24 h: expire(owner, old, now + 24 h)). Unknown ids: false. */
  expire (ownerId: string, secretId: string, at: Date): Promise<boolean>
  /** Deletes every secret of the owner (endpoint or source deleted). */
  removeAll (ownerId: string): Promise<void>
}

/** A stored secret was encrypted under another key than WEBHOOK_SECRETS_KEY (the key changed, or the row was altered). */
export class WebhookSecretUnreadable extends domainError('webhook.secret_unreadable', 500,
  'a webhook secret cannot be decrypted with WEBHOOK_SECRETS_KEY') {}

/** A stored secret is encrypted but WEBHOOK_SECRETS_KEY is not set. */
export class WebhookSecretsKeyMissing extends domainError('webhook.secrets_key_missing', 500,
  'webhook secrets are stored encrypted but WEBHOOK_SECRETS_KEY is not set') {}

const PREFIX = 'whsec_'
const CIPHER = 'aes-256-gcm'
const IV_BYTES = 12
const TAG_BYTES = 16

/** `sha256:` + the first 16 hex characters of SHA-256 of the secret: what events, APIs and logs may show. */
export function secretFingerprint (secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 16)}`
}

interface Row { secret_id: string, encryption: string, secret: Uint8Array, created_at: Date | string, expires_at: Date | string | null }

export function webhookSecretStore (sql: SqlClient, key?: Buffer): WebhookSecretStore {
  if (key !== undefined && key.length !== 32) throw new Error(`a webhook secrets key is 32 bytes, not ${key.length}`)
  const read = (ownerId: string, row: Row): StoredSecret => {
    const secret = row.encryption === 'none'
      ? Buffer.from(row.secret).toString('utf8')
      : unseal(key, Buffer.from(row.secret), associatedData(ownerId, row.secret_id))
    return {
      secretId: row.secret_id,
      secret,
      fingerprint: secretFingerprint(secret),
      createdAt: new Date(row.created_at),
      expiresAt: row.expires_at === null ? null : new Date(row.expires_at)
    }
  }
  return {
    async create (ownerId, options = {}) {
      const secretId = randomUUID()
      const secret = `${PREFIX}${randomBytes(32).toString('base64')}`
      const createdAt = options.now ?? new Date()
      const stored = key === undefined ? Buffer.from(secret, 'utf8') : seal(key, secret, associatedData(ownerId, secretId))
      await sql.query(
        `INSERT INTO webhook_secrets (owner_id, secret_id, encryption, secret, created_at)
         VALUES ($1, $2, $3, $4, $5::timestamptz)`,
        [ownerId, secretId, key === undefined ? 'none' : CIPHER, stored, createdAt.toISOString()])
      return { secretId, secret, fingerprint: secretFingerprint(secret), createdAt, expiresAt: null }
    },
    async active (ownerId, now = new Date()) {
      const { rows } = await sql.query<Row>(
        `SELECT secret_id, encryption, secret, created_at, expires_at FROM webhook_secrets
         WHERE owner_id = $1 AND (expires_at IS NULL OR expires_at > $2::timestamptz)
         ORDER BY created_at DESC, seq DESC`,
        [ownerId, now.toISOString()])
      return rows.map((row) => read(ownerId, row))
    },
    async expire (ownerId, secretId, at) {
      const { rowCount } = await sql.query(
        'UPDATE webhook_secrets SET expires_at = $3::timestamptz WHERE owner_id = $1 AND secret_id = $2',
        [ownerId, secretId, at.toISOString()])
      return rowCount > 0
    },
    async removeAll (ownerId) {
      await sql.query('DELETE FROM webhook_secrets WHERE owner_id = $1', [ownerId])
    }
  }
}

/** The store as the configuration has it: encrypted when WEBHOOK_SECRETS_KEY is set. */
export function webhookSecretStoreOf (config: Config, sql: SqlClient): WebhookSecretStore {
  const key = config.webhooks.secretsKey
  return webhookSecretStore(sql, key === undefined ? undefined : Buffer.from(key.reveal(), 'base64'))
}

/** Binds a ciphertext to its row: a secret copied to another owner or id does not decrypt. */
function associatedData (ownerId: string, secretId: string): Buffer {
  return Buffer.from(`ledgerline-webhook-secret\0${ownerId}\0${secretId}`, 'utf8')
}

function seal (key: Buffer, plain: string, aad: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv(CIPHER, key, iv).setAAD(aad)
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), body])
}

function unseal (key: Buffer | undefined, sealed: Buffer, aad: Buffer): string {
  if (key === undefined) throw new WebhookSecretsKeyMissing()
  try {
    const decipher = createDecipheriv(CIPHER, key, sealed.subarray(0, IV_BYTES)).setAAD(aad)
    decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
    return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8')
  } catch {
    throw new WebhookSecretUnreadable()
  }
}
