/**
 * `Idempotency-Key` on authenticated commands (POST, PUT, PATCH, DELETE).
 *
 * - First request with a key: claimed, run, and its response kept 24 h.
 * - Same key and same request again: the kept response, byte for byte, with
 *   `Idempotent-Replayed: true`.
 * - Same key, different method, path or body: 422 `idempotency.key_reused`.
 * - Same key while the first is still running: 409 `idempotency.in_flight`.
 *
 * The command id derives from the key, the request and the claim's start, so
 * a request whose response was lost (crash, 5xx) repeats exactly the same
 * events when retried, and a key reused after its retention is a new command.
 * A 5xx is not kept (nor a 409 or 429): the retry runs again. Kept responses
 * are sealed (AES-256-GCM) under a key derived from the caller, their key and
 * a server secret (itself derived from the audit signing key), so the
 * database alone opens none of them, not even one whose idempotency key is
 * guessable; rows are found by a hash. A kept response sealed under another
 * secret (the signing key was rotated) answers 409
 * `idempotency.response_unreadable`.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { domainError } from '../../domain/errors.ts'
import { uuidV5 } from '../../domain/envelope.ts'
import type { SqlClient } from '../../sql/client.ts'
import { appendRouteHook } from '../hooks.ts'

const KEY = /^[\x21-\x7e]{1,255}$/
const RETENTION_MS = 24 * 3_600_000
/** A claim older than this is taken to be abandoned (its process died) and may be taken over. */
const CLAIM_MS = 60_000
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
/** Answers a retry may not get again: a concurrency conflict, a rate limit. */
const TRANSIENT = new Set([409, 429])

class InvalidIdempotencyKey extends domainError('idempotency.invalid_key', 400,
  'Idempotency-Key must be 1 to 255 visible ASCII characters') {}
class IdempotencyKeyReused extends domainError('idempotency.key_reused', 422, 'this Idempotency-Key was used for a different request') {}
class IdempotencyResponseUnreadable extends domainError('idempotency.response_unreadable', 409,
  'the response kept for this Idempotency-Key was sealed under a server secret that has since changed; it cannot be replayed') {}
class IdempotencyInFlight extends domainError('idempotency.in_flight', 409,
  'a request with this Idempotency-Key is still being processed; retry shortly') {}

interface Claim { keyHash: string, claimId: string, sealKey: Buffer }

declare module 'fastify' {
  interface FastifyRequest {
    idempotencyClaim: Claim | null
  }
}

function digest (...parts: string[]): Buffer {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(part).update('\0')
  return hash.digest()
}

class BodyTooDeep extends domainError('http.body_too_deep', 400, 'request bodies nest too deeply') {
  constructor () { super(`request bodies nest at most ${MAX_DEPTH} levels`) }
}

const MAX_DEPTH = 64

/** JSON with object keys sorted: two bodies that mean the same hash the same. */
function canonical (value: unknown, depth = 0): string {
  if (depth > MAX_DEPTH) throw new BodyTooDeep()
  if (Array.isArray(value)) return `[${value.map((item) => canonical(item, depth + 1)).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const member = (key: string): string => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key], depth + 1)}`
    return `{${Object.keys(value).sort().map(member).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

function seal (key: Buffer, plain: string): Buffer {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), body])
}

function unseal (key: Buffer, sealed: Buffer): string {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12))
  decipher.setAuthTag(sealed.subarray(12, 28))
  return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString('utf8')
}

interface Row { request_hash: string, state: string, claim_live: boolean, status_code: number | null, sealed_response: Uint8Array | null }

/**
 * `secret` is the server's (every node of a deployment the same); asked for
 * at the first keyed request, so an app that never sees one needs none.
 */
export function idempotency (app: FastifyInstance, sql: SqlClient, secret: () => Buffer): void {
  let pepper: Buffer | undefined
  const sealKeyOf = (scope: string, header: string): Buffer => {
    pepper ??= secret()
    return createHmac('sha256', pepper).update('ledgerline-idempotency-seal\0').update(scope).update('\0').update(header).digest()
  }
  app.decorateRequest('idempotencyClaim', null)

  const claim = async (
    request: FastifyRequest, reply: FastifyReply, header: string | string[], scope: string
  ): Promise<FastifyReply | undefined> => {
    if (typeof header !== 'string' || !KEY.test(header)) throw new InvalidIdempotencyKey()
    const keyHash = digest('ledgerline-idempotency-row', scope, header).toString('hex')
    const requestHash = digest(request.method, request.url, canonical(request.body ?? null)).toString('hex')
    const claimId = randomUUID()
    // A row past its retention is reclaimed as new; an abandoned claim of the same request is taken over (same command id).
    const claimed = await sql.query<{ created_at: Date | string }>(
      `INSERT INTO idempotency_keys (key_hash, request_hash, state, claim_id, locked_until)
       VALUES ($1, $2, 'in_flight', $5, now() + $3 * interval '1 millisecond')
       ON CONFLICT (key_hash) DO UPDATE SET request_hash = EXCLUDED.request_hash, state = 'in_flight', claim_id = EXCLUDED.claim_id,
         locked_until = EXCLUDED.locked_until, status_code = NULL, sealed_response = NULL,
         created_at = CASE WHEN idempotency_keys.created_at < now() - $4 * interval '1 millisecond'
           THEN now() ELSE idempotency_keys.created_at END
       WHERE idempotency_keys.created_at < now() - $4 * interval '1 millisecond'
          OR (idempotency_keys.state = 'in_flight' AND idempotency_keys.locked_until < now()
              AND idempotency_keys.request_hash = EXCLUDED.request_hash)
       RETURNING created_at`, [keyHash, requestHash, CLAIM_MS, RETENTION_MS, claimId])
    const held = { keyHash, claimId, sealKey: sealKeyOf(scope, header) }
    if (claimed.rows.length > 0) {
      // The command id is the key's, the request's and the claim's: a key reused after its retention is a new command.
      request.commandId = uuidV5(`idempotency/${keyHash}/${requestHash}/${new Date(claimed.rows[0]!.created_at).toISOString()}`)
      request.idempotencyClaim = held
      return undefined
    }
    const { rows } = await sql.query<Row>(
      `SELECT request_hash, state, locked_until > now() AS claim_live, status_code, sealed_response
       FROM idempotency_keys WHERE key_hash = $1`, [keyHash])
    const row = rows[0]
    if (row === undefined) throw new IdempotencyInFlight() // expired and removed between the two statements: retry
    if (row.request_hash !== requestHash) throw new IdempotencyKeyReused()
    if (row.state !== 'done' || row.sealed_response === null) throw new IdempotencyInFlight()
    let opened: string
    try {
      opened = unseal(held.sealKey, Buffer.from(row.sealed_response))
    } catch {
      throw new IdempotencyResponseUnreadable()
    }
    const kept = JSON.parse(opened) as { type: string, body: string }
    return reply.code(row.status_code!).type(kept.type).header('idempotent-replayed', 'true').send(kept.body)
  }

  const keep = async (request: FastifyRequest, reply: FastifyReply, payload: unknown, held: Claim): Promise<unknown> => {
    request.idempotencyClaim = null
    // Not kept: failures (the retry must run again) and answers that a retry could change (a lost race, a rate limit).
    if (reply.statusCode >= 500 || TRANSIENT.has(reply.statusCode) || typeof payload !== 'string') {
      await sql.query('DELETE FROM idempotency_keys WHERE key_hash = $1 AND claim_id = $2', [held.keyHash, held.claimId])
      return payload
    }
    const type = String(reply.getHeader('content-type') ?? 'application/json')
    await sql.query(`UPDATE idempotency_keys SET state = 'done', status_code = $3, sealed_response = $4
                     WHERE key_hash = $1 AND claim_id = $2`,
      [held.keyHash, held.claimId, reply.statusCode, seal(held.sealKey, JSON.stringify({ type, body: payload }))])
    return payload
  }

  // Callback hooks: a request without a key (most) goes through both without a promise.
  function claimKey (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void {
    const header = request.headers['idempotency-key']
    if (header === undefined || request.principal === null) return done()
    // A replay has sent the kept response: the request ends there, without done().
    claim(request, reply, header, request.principal.userId).then((replayed) => { if (replayed === undefined) done() }, done)
  }
  type OnSendDone = (error: Error | null, payload?: unknown) => void
  function keepResponse (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: OnSendDone): void {
    const held = request.idempotencyClaim
    if (held === null) return done(null, payload)
    keep(request, reply, payload, held).then((kept) => done(null, kept), done)
  }

  // Decided once per route, when it is registered: only commands get the hooks, reads pay nothing for them.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    if (!methods.some((method) => MUTATING.has(method))) return
    appendRouteHook(route, 'preHandler', claimKey)
    appendRouteHook(route, 'onSend', keepResponse)
  })
}

/** Deletes kept responses older than the retention; the server calls it every few minutes. */
export async function purgeIdempotencyKeys (sql: SqlClient): Promise<number> {
  const { rows } = await sql.query<{ n: string }>(
    `WITH gone AS (DELETE FROM idempotency_keys WHERE created_at < now() - $1 * interval '1 millisecond' RETURNING 1)
     SELECT count(*)::text AS n FROM gone`, [RETENTION_MS])
  return Number(rows[0]!.n)
}
