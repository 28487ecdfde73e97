/**
 * The retention purge (the policy is src/domain/audit/retention.ts): for each
 * audit log, the rows older than its retention go, by an `audit.log.purged`
 * event that the audit projection applies. It runs in-process, on one node
 * at a time (an advisory lock), an hour apart, and on demand.
 *
 * Only a stretch from the start of the log goes: through the last row such
 * that it and every row before it occurred before the cutoff, so the rows
 * kept stay one unbroken chain. Two purges of the same stretch (two nodes, a
 * retry) append the same event id, which the store writes once.
 */
import type { Logger } from 'pino'
import { PLATFORM_RETENTION_DAYS, auditStreamId, retentionDays } from '../../domain/audit/retention.ts'
import { metadataFor, systemCommand, uuidV5 } from '../../domain/envelope.ts'
import type { Plan } from '../../domain/identity/events.ts'
import type { EventStore, LogPosition } from '../../eventstore/types.ts'
import { lockKey, type SqlClient } from '../../sql/client.ts'
import { Periodic } from '../periodic.ts'

const DAY_MS = 86_400_000
const LOCK = lockKey('ledgerline:audit-retention')

export interface Purge {
  readonly orgId: string | null
  readonly throughSeq: number
  readonly rows: number
  readonly position: LogPosition | undefined
}

interface ChainRow { chain: string, plan: Plan | null, days: number | null }

/** Appends a purge event for every audit log with rows past its retention at `now`; answers what it purged. */
export async function purgeExpired (deps: { sql: SqlClient, store: EventStore }, now: Date): Promise<Purge[]> {
  const { sql, store } = deps
  const { rows: chains } = await sql.query<ChainRow>(
    `SELECT c.chain, s.value->>'plan' AS plan, (s.value->>'auditRetentionDays')::int AS days
       FROM audit_chains c LEFT JOIN audit_state s ON s.key = 'org:' || c.chain ORDER BY c.chain`)
  const purges: Purge[] = []
  for (const { chain, plan, days } of chains) {
    const orgId = chain === '' ? null : chain
    const keep = orgId === null ? PLATFORM_RETENTION_DAYS : retentionDays(plan ?? 'free', days)
    const before = new Date(now.getTime() - keep * DAY_MS)
    const { rows: [span] } = await sql.query<{ first: string | null, kept: string | null, head: string }>(
      `SELECT (SELECT min(seq) FROM audit_events WHERE coalesce(org_id, '') = $1)::text AS first,
              (SELECT min(seq) FROM audit_events WHERE coalesce(org_id, '') = $1 AND occurred_at >= $2)::text AS kept,
              (SELECT seq FROM audit_chains WHERE chain = $1)::text AS head`, [chain, before])
    if (span?.first == null) continue
    const first = Number(span.first)
    const throughSeq = (span.kept === null ? Number(span.head) + 1 : Number(span.kept)) - 1
    if (throughSeq < first) continue
    const { rows: [last] } = await sql.query<{ hash: string }>(
      "SELECT hash FROM audit_events WHERE coalesce(org_id, '') = $1 AND seq = $2", [chain, throughSeq])
    if (last === undefined) continue
    const command = {
      ...systemCommand('audit-retention', now),
      commandId: uuidV5(`audit-purge/${chain}/${throughSeq}`),
      ...(orgId === null ? {} : { orgId })
    }
    const data = {
      orgId, throughSeq, throughHash: last.hash, before: before.toISOString(), retentionDays: keep, rows: throughSeq - first + 1
    }
    const result = await store.append(auditStreamId(orgId), [
      { id: metadataFor(command, 0).eventId, type: 'audit.log.purged', data, metadata: metadataFor(command, 0) }
    ])
    purges.push({ orgId, throughSeq, rows: data.rows, position: result.position })
  }
  return purges
}

/** Runs `purgeExpired` an hour apart (the first a minute after start), on whichever node holds the lock. */
export class AuditRetention {
  readonly #periodic: Periodic

  constructor (private readonly deps: { sql: SqlClient, store: EventStore, logger: Logger }, everyMs = 3_600_000) {
    this.#periodic = new Periodic(() => this.runOnce().catch((error: unknown) => {
      this.deps.logger.error({ err: error }, 'audit retention purge failed; next run in an hour')
    }), everyMs)
  }

  start (firstInMs = 60_000): void {
    this.#periodic.start(firstInMs)
  }

  async stop (): Promise<void> {
    await this.#periodic.stop()
  }

  /** One purge, unless another node (or process) is running one: then undefined. */
  async runOnce (now = new Date()): Promise<Purge[] | undefined> {
    const lease = await this.deps.sql.tryLock(LOCK)
    if (lease === null) return undefined
    try {
      const purges = await purgeExpired(this.deps, now)
      for (const purge of purges) {
        this.deps.logger.info({ orgId: purge.orgId, throughSeq: purge.throughSeq, rows: purge.rows }, 'audit rows past retention purged')
      }
      return purges
    } finally {
      await lease.release()
    }
  }
}
