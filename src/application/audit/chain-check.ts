/**
 * The server's own look at the audit chains, every few hours, so a tampered
 * row raises `LedgerlineAuditVerifyFailed` without anyone asking: each stored
 * row's hash is recomputed from its columns and its `prev_hash`, each row must
 * link to the one before it, the last must be the chain's head, and every
 * signed digest must hold (its signature, and its last hash at its last seq).
 *
 * This reads the stored rows only (about a hundred thousand a second here),
 * not the event log: it finds a row changed, removed or reordered in the
 * database. A change made consistently — rows and hashes rewritten together —
 * shows at the first digest signed before it; a change to the event log
 * itself is for the full `audit verify` (CLI, or the verify route), which
 * recomputes the chain from the events. Runs on whichever node holds the lock.
 */
import type { KeyObject } from 'node:crypto'
import type { Logger } from 'pino'
import type { Config } from '../../config.ts'
import type { Metrics } from '../../metrics.ts'
import { chainHash } from '../../projections/audit/chain.ts'
import { chainOf } from '../../projections/audit/projection.ts'
import { auditRows } from '../../projections/audit/queries.ts'
import { lockKey, type SqlClient, type SqlExecutor } from '../../sql/client.ts'
import { Periodic } from '../periodic.ts'
import { listDigests, signatureHolds } from './digests.ts'
import { signingKeyOf } from './signing-key.ts'

const LOCK = lockKey('ledgerline:audit-chain-check')

export interface ChainCheck {
  /** The organization, or null for the platform's log. */
  readonly orgId: string | null
  readonly ok: boolean
  readonly rowsChecked: number
  readonly digestsChecked: number
  /** The first problem in seq order. */
  readonly problem: { readonly seq: number, readonly what: string } | null
}

export interface ChainCheckDeps {
  readonly sql: SqlClient
  readonly config: Config
  readonly metrics?: Pick<Metrics, 'auditVerified'>
}

/**
 * Checks one chain's stored rows and digests, all read in one snapshot (a
 * repeatable-read, read-only transaction): the head, the rows and the digests
 * as of one moment, so rows the projection appends — or a purge removes —
 * while the walk goes on cannot look like a broken chain. On PGlite the
 * transaction holds its one connection for the walk (about 10 ms per
 * thousand rows).
 */
export async function checkStoredChain (deps: ChainCheckDeps, orgId: string | null): Promise<ChainCheck> {
  const { publicKey } = signingKeyOf(deps.config)
  const report = await deps.sql.transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY')
    return checkInSnapshot(tx, orgId, publicKey)
  })
  deps.metrics?.auditVerified(orgId === null ? 'platform' : 'org', report.ok)
  return report
}

async function checkInSnapshot (tx: SqlExecutor, orgId: string | null, publicKey: KeyObject): Promise<ChainCheck> {
  const chain = chainOf(orgId)
  const { rows: heads } = await tx.query<{ seq: string, hash: string }>(
    'SELECT seq::text AS seq, hash FROM audit_chains WHERE chain = $1', [chain])
  const hashes = new Map<number, string>()
  let previous: { seq: number, hash: string } | undefined
  let rowsChecked = 0
  let problem: ChainCheck['problem'] = null
  const found = (seq: number, what: string): void => { problem ??= { seq, what } }
  for await (const chunk of auditRows(tx, orgId, {}, 'asc')) {
    for (const row of chunk) {
      rowsChecked++
      if (previous !== undefined && (row.seq !== previous.seq + 1 || row.prevHash !== previous.hash)) {
        found(row.seq, `does not follow row ${previous.seq}`)
      }
      if (chainHash(row.prevHash, row) !== row.hash) found(row.seq, 'its columns do not give its hash')
      hashes.set(row.seq, row.hash)
      previous = { seq: row.seq, hash: row.hash }
    }
  }
  const head = heads[0]
  if (head !== undefined && previous !== undefined && (Number(head.seq) !== previous.seq || head.hash !== previous.hash)) {
    found(previous.seq, `the chain's head is row ${head.seq}, not the last row stored`)
  }
  const digests = await listDigests(tx, chain)
  for (const digest of digests.reverse()) {
    if (!signatureHolds(publicKey, digest)) found(digest.lastSeq, `the digest of ${digest.day} is not signed by this deployment's key`)
    const stored = hashes.get(digest.lastSeq)
    if (stored !== undefined && stored !== digest.lastHash) {
      found(digest.lastSeq, `the digest of ${digest.day} signed another hash for this row`)
    }
  }
  return { orgId, ok: problem === null, rowsChecked, digestsChecked: digests.length, problem }
}

/** Checks every chain; answers the reports (failures first). */
export async function checkStoredChains (deps: ChainCheckDeps): Promise<ChainCheck[]> {
  const { rows } = await deps.sql.query<{ chain: string }>('SELECT chain FROM audit_chains ORDER BY chain')
  const reports: ChainCheck[] = []
  for (const { chain } of rows) reports.push(await checkStoredChain(deps, chain === '' ? null : chain))
  return reports.sort((a, b) => Number(a.ok) - Number(b.ok))
}

/** Every `everyMs` (the first `firstInMs` after start), on whichever node holds the lock. */
export class AuditChainCheck {
  readonly #periodic: Periodic

  constructor (private readonly deps: ChainCheckDeps & { logger: Logger }, everyMs = 6 * 3_600_000) {
    this.#periodic = new Periodic(() => this.runOnce(), everyMs)
  }

  start (firstInMs = 10 * 60_000): void {
    this.#periodic.start(firstInMs)
  }

  async stop (): Promise<void> {
    await this.#periodic.stop()
  }

  /** One check of every chain, unless another node is running one (then undefined). */
  async runOnce (): Promise<ChainCheck[] | undefined> {
    const lease = await this.deps.sql.tryLock(LOCK).catch(() => null)
    if (lease === null) return undefined
    try {
      const reports = await checkStoredChains(this.deps)
      for (const report of reports.filter((r) => !r.ok)) {
        this.deps.logger.error({ orgId: report.orgId, seq: report.problem?.seq, problem: report.problem?.what },
          'an audit chain does not hold: see runbooks/audit.md#audit-verification-failed')
      }
      return reports
    } catch (error) {
      this.deps.logger.error({ err: error }, 'the audit chain check failed; next run in six hours')
      return undefined
    } finally {
      await lease.release()
    }
  }
}
