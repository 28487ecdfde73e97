/**
 * One audit chain recomputed in memory from the event log, as the audit
 * projection would write it: the same descriptions (describe.ts), the same
 * seqs and hashes (chain.ts), and nothing written anywhere. Every event is
 * read, because the working state (e-mail addresses for actor labels, roles
 * for member diffs) comes from events of other chains too.
 */
import { comparePositions } from '../../eventstore/position.ts'
import { START, type EventStore, type LogPosition } from '../../eventstore/types.ts'
import { GENESIS, chainHash, type AuditRow } from '../../projections/audit/chain.ts'
import { describe, type StateValue } from '../../projections/audit/describe.ts'
import { auditRowOf, chainOf } from '../../projections/audit/projection.ts'

export interface ChainedRow extends AuditRow {
  readonly prevHash: string
  readonly hash: string
}

export interface RecomputedChain {
  /** Every row the log gives the chain, seq 1 first (rows[i].seq = i + 1). */
  readonly rows: readonly ChainedRow[]
  /** Rows through this seq were purged by retention (`audit.log.purged`); 0 when none were. */
  readonly purgedThrough: number
  readonly eventsRead: number
}

const PAGE = 5000

/** Recomputes the chain of `orgId` (null: the platform's) from the log's start through `through`. */
export async function recomputeChain (
  store: EventStore, orgId: string | null, through: LogPosition, onPage?: (eventsRead: number) => void
): Promise<RecomputedChain> {
  const chain = chainOf(orgId)
  const state = new Map<string, StateValue>()
  const working = {
    get: (key: string) => state.get(key),
    set: (key: string, value: StateValue | undefined) => { if (value === undefined) state.delete(key); else state.set(key, value) }
  }
  const rows: ChainedRow[] = []
  let purgedThrough = 0
  let eventsRead = 0
  let from = START
  for (;;) {
    if (comparePositions(from, through) >= 0) break
    const page = await store.readAll(from, { limit: PAGE })
    for (const event of page.events) {
      if (comparePositions(event.position, through) > 0) break
      eventsRead++
      const facts = describe(event, working)
      if (chainOf(facts.orgId) !== chain) continue
      const prevHash = rows.at(-1)?.hash ?? GENESIS
      const row = auditRowOf(event, facts, rows.length + 1)
      rows.push({ ...row, prevHash, hash: chainHash(prevHash, row) })
      if (event.type === 'audit.log.purged') purgedThrough = Math.max(purgedThrough, (event.data as { throughSeq: number }).throughSeq)
    }
    onPage?.(eventsRead)
    if (page.isEnd || page.events.length === 0) break
    from = page.position
  }
  return { rows, purgedThrough, eventsRead }
}
