/**
 * `audit verify`: is an audit chain what the event log says it is?
 *
 * The chain is recomputed from the log (recompute.ts) through the audit
 * projection's checkpoint, then compared with what is stored, read in one
 * snapshot with that checkpoint:
 * - each stored row, column by column and hash by hash, against the row the
 *   log gives at its seq; a row missing or in excess is a mismatch too. Rows
 *   that retention purged (an `audit.log.purged` event in the log says which)
 *   are not expected: the stored log starts at the first retained seq, and
 *   the recomputed chain, from the complete log, carries the hashes over;
 * - each signed digest: the key that signed it, its signature, and what it
 *   attests (last hash, first and last seq, row count) against the chain.
 *
 * A stored row altered shows as that row's column; an event altered in the
 * store shows at its row too (the log now says something else); both
 * altered together, rows re-projected to match, show at the first digest
 * signed over the change. The report names the first mismatch in seq order.
 */
import type { Config } from '../../config.ts'
import { formatPosition } from '../../eventstore/position.ts'
import { START, type EventStore, type LogPosition } from '../../eventstore/types.ts'
import type { Metrics } from '../../metrics.ts'
import { canonicalJson } from '../../projections/audit/chain.ts'
import { chainOf } from '../../projections/audit/projection.ts'
import { readState } from '../../projections/state.ts'
import type { SqlClient } from '../../sql/client.ts'
import { listDigests, signatureHolds, type AuditDigest } from './digests.ts'
import { recomputeChain, type ChainedRow } from './recompute.ts'
import { signingKeyOf, type SigningKey } from './signing-key.ts'

export interface Mismatch {
  readonly kind: 'row' | 'digest'
  readonly seq: number
  /** The digest's day (digests). */
  readonly day?: string
  /** The event the row stands for, as the log has it (rows). */
  readonly eventId?: string
  /** A column of audit_events or audit_digests; `row` when a whole row is missing or in excess. */
  readonly column: string
  /** What the log (or the key) says. */
  readonly expected: unknown
  /** What is stored. */
  readonly found: unknown
}

export interface VerifyReport {
  readonly orgId: string | null
  readonly ok: boolean
  /** The log position verified through: the audit projection's checkpoint. */
  readonly through: string
  readonly eventsRead: number
  readonly rowsChecked: number
  /** The first stored seq (rows before it purged by retention), null when none is stored. */
  readonly firstStoredSeq: number | null
  readonly digestsChecked: number
  readonly keyId: string
  readonly mismatch: Mismatch | null
}

interface StoredRow {
  id: string, org_id: string | null, seq: string, occurred_at: string, action: string, actor_type: string, actor_id: string,
  actor_label: string | null, impersonator_id: string | null, target_type: string | null, target_id: string | null, diff: unknown,
  ip: string | null, user_agent: string | null, trace_id: string | null, request_id: string | null, position: string, prev_hash: string,
  hash: string
}

/** Stored columns and the recomputed fields they hold, in the order they are compared. */
const COLUMNS: ReadonlyArray<readonly [keyof StoredRow, keyof ChainedRow]> = [
  ['id', 'id'], ['org_id', 'orgId'], ['seq', 'seq'], ['occurred_at', 'occurredAt'], ['action', 'action'], ['actor_type', 'actorType'],
  ['actor_id', 'actorId'], ['actor_label', 'actorLabel'], ['impersonator_id', 'impersonatorId'], ['target_type', 'targetType'],
  ['target_id', 'targetId'], ['diff', 'diff'], ['ip', 'ip'], ['user_agent', 'userAgent'], ['trace_id', 'traceId'],
  ['request_id', 'requestId'], ['position', 'position'], ['prev_hash', 'prevHash'], ['hash', 'hash']
]

export interface VerifyDeps {
  readonly sql: SqlClient
  readonly store: EventStore
  readonly config: Config
  /** Counts runs and failures when given (a runtime carries it). */
  readonly metrics?: Pick<Metrics, 'auditVerified'>
}

/** Verifies the audit chain of `orgId` (null: the platform's); `onProgress` hears the events read so far. */
export async function verifyAuditLog (
  deps: VerifyDeps, orgId: string | null, onProgress?: (eventsRead: number) => void
): Promise<VerifyReport> {
  const key = signingKeyOf(deps.config)
  const stored = await storedChain(deps.sql, chainOf(orgId))
  const recomputed = await recomputeChain(deps.store, orgId, stored.through, onProgress)
  const expected = recomputed.rows.filter((row) => row.seq > recomputed.purgedThrough)
  const mismatch = earliest(firstRowMismatch(expected, stored.rows), firstDigestMismatch(recomputed.rows, stored.digests, key))
  deps.metrics?.auditVerified(orgId === null ? 'platform' : 'org', mismatch === undefined)
  return {
    orgId,
    ok: mismatch === undefined,
    through: formatPosition(stored.through),
    eventsRead: recomputed.eventsRead,
    rowsChecked: stored.rows.length,
    firstStoredSeq: stored.rows[0] === undefined ? null : Number(stored.rows[0].seq),
    digestsChecked: stored.digests.length,
    keyId: key.keyId,
    mismatch: mismatch ?? null
  }
}

/** Rows, digests and the checkpoint they stand at, in one snapshot. */
async function storedChain (sql: SqlClient, chain: string): Promise<{ through: LogPosition, rows: StoredRow[], digests: AuditDigest[] }> {
  return sql.transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ')
    const state = await readState(tx, 'audit')
    const digests = (await listDigests(tx, chain)).reverse() // oldest day first
    if (state === undefined) return { through: START, rows: [], digests }
    // Ordered by e.seq, the bigint: a bare `seq` names the text alias, which sorts 1, 10, 100, 11, 2…
    const { rows } = await tx.query<StoredRow>(
      `SELECT e.id::text AS id, e.org_id, e.seq::text AS seq,
              to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at,
              e.action, e.actor_type, e.actor_id, e.actor_label, e.impersonator_id, e.target_type, e.target_id, e.diff, e.ip, e.user_agent,
              e.trace_id, e.request_id, e.position, e.prev_hash, e.hash
         FROM audit_events e WHERE coalesce(e.org_id, '') = $1 ORDER BY e.seq`, [chain])
    return { through: state.position, rows, digests }
  })
}

/** A stored column as the recomputed row would hold it. */
function storedValue (row: StoredRow, column: keyof StoredRow): unknown {
  if (column === 'seq') return Number(row.seq)
  // Microseconds are kept so that a change below the millisecond shows; a recomputed time has none.
  if (column === 'occurred_at') return row.occurred_at.replace(/(\.\d{3})000Z$/, '$1Z')
  return row[column]
}

function compareRow (want: ChainedRow, have: StoredRow): Mismatch | undefined {
  for (const [column, field] of COLUMNS) {
    const found = storedValue(have, column)
    if (canonicalJson(found) !== canonicalJson(want[field])) {
      return { kind: 'row', seq: want.seq, eventId: want.id, column, expected: want[field], found }
    }
  }
  return undefined
}

/** Walks expected and stored rows together by seq. */
function firstRowMismatch (expected: readonly ChainedRow[], stored: readonly StoredRow[]): Mismatch | undefined {
  let i = 0
  let j = 0
  while (i < expected.length || j < stored.length) {
    const want = expected[i]
    const have = stored[j]
    const haveSeq = have === undefined ? Infinity : Number(have.seq)
    if (want !== undefined && want.seq < haveSeq) {
      return { kind: 'row', seq: want.seq, eventId: want.id, column: 'row', expected: { id: want.id, action: want.action }, found: null }
    }
    if (want === undefined || haveSeq < want.seq) {
      return { kind: 'row', seq: haveSeq, column: 'row', expected: null, found: { id: have!.id, action: have!.action } }
    }
    const mismatch = compareRow(want, have!)
    if (mismatch !== undefined) return mismatch
    i++
    j++
  }
  return undefined
}

const dayOf = (row: ChainedRow): string => row.occurredAt.slice(0, 10)

/** The first digest, in day order, whose key, signature or facts do not hold against the recomputed chain. */
function firstDigestMismatch (rows: readonly ChainedRow[], digests: readonly AuditDigest[], key: SigningKey): Mismatch | undefined {
  for (const digest of digests) {
    const at = (column: string, expected: unknown, found: unknown): Mismatch =>
      ({ kind: 'digest', seq: digest.lastSeq, day: digest.day, column, expected, found })
    if (digest.keyId !== key.keyId) return at('key_id', key.keyId, digest.keyId)
    if (!signatureHolds(key.publicKey, digest)) return at('signature', 'a valid Ed25519 signature', digest.signature)
    const last = rows[digest.lastSeq - 1]
    if (last === undefined) return at('last_seq', `at most ${rows.length}`, digest.lastSeq)
    if (last.hash !== digest.lastHash) return at('last_hash', last.hash, digest.lastHash)
    // The day's rows as the digest saw them: those dated that day up to its last seq (later ones came after it was signed).
    const day = rows.slice(0, digest.lastSeq).filter((row) => dayOf(row) === digest.day)
    if (dayOf(last) !== digest.day) return at('last_seq', day.at(-1)?.seq ?? null, digest.lastSeq)
    if (day[0]!.seq !== digest.firstSeq) return at('first_seq', day[0]!.seq, digest.firstSeq)
    if (day.length !== digest.rows) return at('rows', day.length, digest.rows)
  }
  return undefined
}

/** The mismatch earlier in the chain; a row before the digest that ends at it. */
function earliest (row: Mismatch | undefined, digest: Mismatch | undefined): Mismatch | undefined {
  if (row === undefined || digest === undefined) return row ?? digest
  return digest.seq < row.seq ? digest : row
}
