/**
 * The key that signs the audit log's daily digests: Ed25519, from
 * `AUDIT_SIGNING_KEY`. Without it:
 * - production refuses (the digester's `start()` throws, so the server does
 *   not start): an unsigned or self-signed log proves nothing to a customer;
 * - development generates one on first run and keeps it in
 *   `<data dir>/audit-signing-key.pem` (mode 0600), so digests survive restarts;
 * - tests get a fresh one per configuration.
 *
 * Glossary: key id = the first 16 hex digits of the SHA-256 of the public
 * key's SPKI DER; each digest names the key that signed it.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { Config } from '../../config.ts'
import { domainError } from '../../domain/errors.ts'

export const DEVELOPMENT_KEY_FILE = 'audit-signing-key.pem'

export class AuditSigningKeyMissing extends domainError('audit.signing_key_missing', 503,
  'AUDIT_SIGNING_KEY is not set: production signs audit digests only with a configured Ed25519 key (see .env.example)') {}

export interface SigningKey {
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  /** SPKI PEM: what GET …/audit-digests publishes. */
  readonly publicKeyPem: string
  readonly keyId: string
}

const resolved = new WeakMap<Config, SigningKey>()

/** The configuration's signing key, resolved once per configuration. */
export function signingKeyOf (config: Config, logger?: Logger): SigningKey {
  let key = resolved.get(config)
  if (key === undefined) {
    key = describeKey(privateKeyOf(config, logger))
    resolved.set(config, key)
  }
  return key
}

/**
 * A secret of this deployment for another purpose, derived from the signing
 * key (HKDF-SHA256, the purpose as its info): every node of a deployment has
 * it, nothing in the database reveals it, and one purpose's secret says
 * nothing of another's or of the key.
 */
export function derivedSecret (config: Config, purpose: string, logger?: Logger): Buffer {
  const { privateKey } = signingKeyOf(config, logger)
  return Buffer.from(hkdfSync('sha256', privateKey.export({ format: 'der', type: 'pkcs8' }), Buffer.alloc(0), `ledgerline/${purpose}`, 32))
}

export function keyIdOf (publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('hex').slice(0, 16)
}

function describeKey (privateKey: KeyObject): SigningKey {
  const publicKey = createPublicKey(privateKey)
  return { privateKey, publicKey, publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(), keyId: keyIdOf(publicKey) }
}

function privateKeyOf (config: Config, logger: Logger | undefined): KeyObject {
  if (config.auditSigningKey !== undefined) return config.auditSigningKey
  if (config.env === 'production') throw new AuditSigningKeyMissing()
  if (config.env === 'test') return generateKeyPairSync('ed25519').privateKey
  return developmentKey(config, logger)
}

function developmentKey (config: Config, logger: Logger | undefined): KeyObject {
  const path = join(config.dataDir, DEVELOPMENT_KEY_FILE)
  if (!existsSync(path)) {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' })
    try {
      // 'wx': another process that got there first keeps its key, and this one reads it.
      writeFileSync(path, pem, { mode: 0o600, flag: 'wx' })
      logger?.warn({ path }, 'generated an audit signing key for development; set AUDIT_SIGNING_KEY in production')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
  }
  if (config.databaseUrl !== undefined) {
    // Instances sharing a database but not a data directory would each sign with a key of their own.
    logger?.warn({ path }, 'audit digests are signed with a development key from the data directory: ' +
      'every instance on this database must share it, or set AUDIT_SIGNING_KEY')
  }
  return createPrivateKey(readFileSync(path, 'utf8'))
}
