/**
 * Signed daily digests of the audit log. For each chain (an organization's
 * log, or the platform's) and each UTC day that is over, one digest states
 * the day's first and last row, the hash of the last one and how many rows
 * the day had, in canonical JSON signed with Ed25519. The hash chain makes
 * the last hash a commitment to every row before it, so a signed digest
 * pins the log as it stood; anyone holding the public key can check it.
 *
 * Digests live in `audit_digests`, outside the projection: a rebuild must
 * reproduce what they attest, not rewrite them. A day is digested once, when
 * it is over and after every day already digested on its chain; rows dated
 * into a digested day later (backdated commands) have higher seqs, so the
 * next digest's last hash covers them.
 */
import { sign, verify, type KeyObject } from 'node:crypto'
import type { Logger } from 'pino'
import type { Config } from '../../config.ts'
import type { EventStore } from '../../eventstore/types.ts'
import { canonicalJson } from '../../projections/audit/chain.ts'
import type { ProjectionRunner } from '../../projections/runner.ts'
import { readState } from '../../projections/state.ts'
import { lockKey, type SqlClient, type SqlExecutor } from '../../sql/client.ts'
import { Periodic } from '../periodic.ts'
import { signingKeyOf, type SigningKey } from './signing-key.ts'

/** What a digest attests; its canonical JSON is what is signed. */
export interface DigestFacts {
  /** Null for the platform's log. */
  readonly orgId: string | null
  /** UTC day, YYYY-MM-DD. */
  readonly day: string
  readonly firstSeq: number
  readonly lastSeq: number
  /** The chain's hash at lastSeq. */
  readonly lastHash: string
  readonly rows: number
  readonly signedAt: string
}

export interface AuditDigest extends DigestFacts {
  readonly keyId: string
  /** Base64 Ed25519 signature of `digestText(facts)`. */
  readonly signature: string
}

const LOCK = lockKey('ledgerline:audit-digests')
const DAY_MS = 86_400_000

/** The signed text: the facts' canonical JSON (keys sorted, no spaces). */
export function digestText (digest: DigestFacts): string {
  const { orgId, day, firstSeq, lastSeq, lastHash, rows, signedAt } = digest
  return canonicalJson({ orgId, day, firstSeq, lastSeq, lastHash, rows, signedAt })
}

export function signDigest (key: SigningKey, facts: DigestFacts): AuditDigest {
  return { ...facts, keyId: key.keyId, signature: sign(null, Buffer.from(digestText(facts)), key.privateKey).toString('base64') }
}

export function signatureHolds (publicKey: KeyObject, digest: AuditDigest): boolean {
  return verify(null, Buffer.from(digestText(digest)), publicKey, Buffer.from(digest.signature, 'base64'))
}

/** Midnight UTC of the day `now` falls in: days before it are over. */
export function startOfUtcDay (now: Date): Date {
  return new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS)
}

interface DayRow { chain: string, day: string, first_seq: string, last_seq: string, last_hash: string, rows: string }

/**
 * Signs and stores a digest for every chain's days that are over at `now`
 * and come after its last digested day; answers the digests written.
 */
export async function digestCompleteDays (sql: SqlClient, key: SigningKey, now: Date): Promise<AuditDigest[]> {
  if (await readState(sql, 'audit') === undefined) return [] // the audit log was never built here
  const { rows: days } = await sql.query<DayRow>(
    `WITH last AS (SELECT chain, max(day) AS day FROM audit_digests GROUP BY chain),
       days AS (
         SELECT coalesce(e.org_id, '') AS chain, (e.occurred_at AT TIME ZONE 'UTC')::date AS day,
                min(e.seq) AS first_seq, max(e.seq) AS last_seq, count(*) AS rows
           FROM audit_events e LEFT JOIN last l ON l.chain = coalesce(e.org_id, '')
          WHERE e.occurred_at < $1 AND (l.day IS NULL OR e.occurred_at >= (l.day + 1)::timestamp AT TIME ZONE 'UTC')
          GROUP BY 1, 2)
     SELECT d.chain, to_char(d.day, 'YYYY-MM-DD') AS day, d.first_seq::text AS first_seq, d.last_seq::text AS last_seq,
            d.rows::text AS rows, e.hash AS last_hash
       FROM days d JOIN audit_events e ON coalesce(e.org_id, '') = d.chain AND e.seq = d.last_seq
      ORDER BY d.chain, d.day`,
    [startOfUtcDay(now)])
  if (days.length === 0) return []
  const signedAt = now.toISOString()
  const digests = days.map((d) => signDigest(key, {
    orgId: d.chain === '' ? null : d.chain, day: d.day, firstSeq: Number(d.first_seq), lastSeq: Number(d.last_seq), lastHash: d.last_hash,
    rows: Number(d.rows), signedAt
  }))
  const { rows: written } = await sql.query<{ chain: string, day: string }>(
    `INSERT INTO audit_digests (chain, day, first_seq, last_seq, last_hash, rows, key_id, signature, created_at)
     SELECT coalesce(r."orgId", ''), r."day", r."firstSeq", r."lastSeq", r."lastHash", r."rows", r."keyId", r."signature", r."signedAt"
       FROM jsonb_to_recordset($1::jsonb) AS r("orgId" text, "day" date, "firstSeq" bigint, "lastSeq" bigint, "lastHash" text,
         "rows" bigint, "keyId" text, "signature" text, "signedAt" timestamptz)
     ON CONFLICT (chain, day) DO NOTHING
     RETURNING chain, to_char(day, 'YYYY-MM-DD') AS day`,
    [JSON.stringify(digests)])
  const stored = new Set(written.map((w) => `${w.chain}/${w.day}`))
  return digests.filter((d) => stored.has(`${d.orgId ?? ''}/${d.day}`))
}

interface DigestRow {
  chain: string, day: string, first_seq: string, last_seq: string, last_hash: string, rows: string, key_id: string, signature: string,
  created_at: Date | string
}

/** A chain's digests, newest day first: those before `before` (a day), at most `limit` (all without it). */
export async function listDigests (
  sql: SqlExecutor, chain: string, page: { before?: string, limit?: number } = {}
): Promise<AuditDigest[]> {
  // d.day is the date column; a bare `day` in ORDER BY would name the text alias.
  const { rows } = await sql.query<DigestRow>(
    `SELECT chain, to_char(day, 'YYYY-MM-DD') AS day, first_seq::text AS first_seq, last_seq::text AS last_seq, last_hash,
            rows::text AS rows, key_id, signature, created_at
       FROM audit_digests d WHERE d.chain = $1 AND ($2::date IS NULL OR d.day < $2::date)
      ORDER BY d.day DESC LIMIT $3`,
    [chain, page.before ?? null, page.limit ?? null])
  return rows.map((r) => ({
    orgId: r.chain === '' ? null : r.chain,
    day: r.day,
    firstSeq: Number(r.first_seq),
    lastSeq: Number(r.last_seq),
    lastHash: r.last_hash,
    rows: Number(r.rows),
    signedAt: new Date(r.created_at).toISOString(),
    keyId: r.key_id,
    signature: r.signature
  }))
}

export interface DigesterDeps {
  readonly sql: SqlClient
  readonly store: EventStore
  readonly runner: ProjectionRunner
  readonly config: Config
  readonly logger: Logger
}

/** How long a scheduled run waits for the audit projection to catch up with the log before it skips. */
const CATCH_UP_MS = 60_000

/**
 * Digests the days that are over, an hour apart (the first run a minute
 * after start, once the audit projection has caught up), on whichever node
 * holds the lock; `runOnce` does it now.
 */
export class AuditDigester {
  readonly #periodic: Periodic
  #key: SigningKey | undefined

  constructor (private readonly deps: DigesterDeps, everyMs = 3_600_000) {
    this.#periodic = new Periodic(() => this.runOnce(), everyMs)
  }

  /** Throws AuditSigningKeyMissing in production without AUDIT_SIGNING_KEY: the process should not start. */
  start (firstInMs = 60_000): void {
    this.#key = signingKeyOf(this.deps.config, this.deps.logger)
    this.#periodic.start(firstInMs)
  }

  async stop (): Promise<void> {
    await this.#periodic.stop()
  }

  /** Digests what is due at `now`; logs and answers [] when it cannot (another node's turn, the projection behind, an error). */
  async runOnce (now = new Date()): Promise<AuditDigest[]> {
    const { sql, store, runner, config, logger } = this.deps
    const lease = await sql.tryLock(LOCK).catch(() => null)
    if (lease === null) return []
    try {
      await runner.waitFor(await store.headPosition(), CATCH_UP_MS, ['audit'])
      const digests = await digestCompleteDays(sql, this.#key ?? signingKeyOf(config, logger), now)
      if (digests.length > 0) logger.info({ digests: digests.length, through: digests.at(-1)?.day }, 'audit digests signed')
      return digests
    } catch (error) {
      logger.error({ err: error }, 'audit digests failed; next run in an hour')
      return []
    } finally {
      await lease.release()
    }
  }
}
