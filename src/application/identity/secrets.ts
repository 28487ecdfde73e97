/**
 * Secrets of the identity pack: ids, bearer tokens and password hashes.
 *
 * A token reads `ll_<tokenId>_<secret>`: the id finds the token's stream
 * without a table scan, the 256-bit secret is what proves possession. Only
 * SHA-256 of the whole token is stored; comparisons are constant-time.
 * Passwords are hashed with scrypt from node:crypto, parameters kept in the
 * hash so they can be raised later without breaking old hashes.
 */
import { createHash, hash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'
const ID_LENGTH = 16

function base32 (bytes: Uint8Array, length: number): string {
  let out = ''
  for (let i = 0; i < length; i++) out += BASE32[bytes[i]! & 31]
  return out
}

/**
 * The id a command creates, derived from the command id: a retried command
 * (same Idempotency-Key) creates the same aggregate instead of a second one.
 */
export function idFor (commandId: string, prefix: string): string {
  return `${prefix}_${base32(createHash('sha256').update(`${commandId}/${prefix}`).digest(), ID_LENGTH)}`
}

const TOKEN_PATTERN = /^ll_([a-z2-7]{16})_([A-Za-z0-9_-]{43})$/

export interface IssuedToken {
  /** The bearer token; shown once, never stored. */
  readonly token: string
  readonly tokenId: string
  /** The part shown in lists: `ll_<tokenId>`. */
  readonly prefix: string
  /** SHA-256 of the token, hex. */
  readonly hash: string
}

export function issueToken (): IssuedToken {
  const tokenId = base32(randomBytes(ID_LENGTH), ID_LENGTH)
  const token = `ll_${tokenId}_${randomBytes(32).toString('base64url')}`
  return { token, tokenId, prefix: `ll_${tokenId}`, hash: hashToken(token) }
}

const IMPERSONATION_TOKEN_PATTERN = /^lli_([a-z2-7]{16})_([A-Za-z0-9_-]{43})$/

/**
 * An impersonation token reads `lli_<key>_<secret>` for session `imp_<key>`:
 * its own prefix, so it can never be mistaken for (or looked up as) an API
 * token, and the session's stream is the one truth about whether it works.
 */
export function issueImpersonationToken (sessionId: string): { token: string, hash: string } {
  const token = `lli_${sessionId.slice('imp_'.length)}_${randomBytes(32).toString('base64url')}`
  return { token, hash: hashToken(token) }
}

/** The session id of a well-formed impersonation token, or undefined. */
export function impersonationSessionOf (token: string): string | undefined {
  const key = IMPERSONATION_TOKEN_PATTERN.exec(token)?.[1]
  return key === undefined ? undefined : `imp_${key}`
}

/** The token id of a well-formed token, or undefined. */
export function tokenIdOf (token: string): string | undefined {
  return TOKEN_PATTERN.exec(token)?.[1]
}

export function hashToken (token: string): string {
  return hash('sha256', token, 'hex')
}

/** SHA-256 of the token as bytes (for comparing against a stored digest without re-encoding it). */
export function tokenDigest (token: string): Buffer {
  return hash('sha256', token, 'buffer') as unknown as Buffer
}

/** scrypt cost: N = 2^15, r = 8, p = 1 (32 MiB, about 50 ms here). */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1 }
const KEY_LENGTH = 32

function derive (password: string, salt: Buffer, options: { N: number, r: number, p: number }): Promise<Buffer> {
  const scryptOptions: ScryptOptions = { ...options, maxmem: 256 * options.N * options.r }
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, scryptOptions, (error, key) => error === null ? resolve(key) : reject(error))
  })
}

/** `scrypt$N$r$p$<salt b64url>$<key b64url>` */
export async function hashPassword (password: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await derive(password, salt, SCRYPT)
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`
}

const HASH_PATTERN = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/

/** A stored hash that no password matches: unknown users cost as much time as known ones. */
const DECOY_HASH = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$` +
  `${Buffer.alloc(16).toString('base64url')}$${Buffer.alloc(KEY_LENGTH).toString('base64url')}`

/** True when `password` matches `stored`. Without a stored hash, spends the same time and answers false. */
export async function verifyPassword (password: string, stored: string | undefined): Promise<boolean> {
  const match = HASH_PATTERN.exec(stored ?? DECOY_HASH) ?? HASH_PATTERN.exec(DECOY_HASH)!
  const options = { N: Number(match[1]), r: Number(match[2]), p: Number(match[3]) }
  const expected = Buffer.from(match[5]!, 'base64url')
  const key = await derive(password, Buffer.from(match[4]!, 'base64url'), options)
  return stored !== undefined && key.length === expected.length && timingSafeEqual(key, expected)
}
