/**
 * Reads of the audit log: one page at a time for the API, every matching row
 * in chunks for the export. Both walk one log (an organization's, or the
 * platform's for `null`) by keyset on `seq`, which only grows: a page after
 * a cursor is the same whatever was appended since, and memory stays
 * constant however many rows match. Each filter set reads from an index of
 * AUDIT_INDEXES (src/projections/audit/indexes.ts). Values arrive checked
 * (src/http/query.ts): times in UTC within PostgreSQL's range, no NUL bytes.
 */
import type { SqlExecutor } from '../../sql/client.ts'
import type { AuditRow as ChainedRow } from './chain.ts'

/** What to match; every filter given must hold. */
export interface AuditFilters {
  /** An event type (`org.member.added`), or a prefix of them ending in `.*` (`rbac.*`). */
  readonly action?: string | undefined
  readonly actorId?: string | undefined
  readonly targetType?: string | undefined
  readonly targetId?: string | undefined
  readonly impersonatorId?: string | undefined
  readonly ip?: string | undefined
  readonly traceId?: string | undefined
  /** ISO times on `occurred_at`: from inclusive, to exclusive (compared to the microsecond, as PostgreSQL keeps them). */
  readonly from?: string | undefined
  readonly to?: string | undefined
}

/** Log order (`asc`) or newest first (`desc`). */
export type AuditSort = 'asc' | 'desc'

/** A row as stored: the fields the chain hashes, and its hashes. */
export interface AuditRow extends ChainedRow {
  readonly prevHash: string
  readonly hash: string
}

export const AUDIT_PAGE_LIMIT = { default: 50, max: 500 } as const

/** Filters that are plain equalities, with their column. */
const EQUALS = [
  ['actorId', 'actor_id'], ['targetType', 'target_type'], ['targetId', 'target_id'], ['impersonatorId', 'impersonator_id'], ['ip', 'ip'],
  ['traceId', 'trace_id']
] as const

/** The WHERE clauses and their parameters; `$1` is the log. */
function conditions (orgId: string | null, filters: AuditFilters): { clauses: string[], params: unknown[] } {
  const params: unknown[] = [orgId ?? '']
  const clauses = ['coalesce(org_id, \'\') = $1']
  const add = (clause: (param: string) => string, value: unknown): void => {
    params.push(value)
    clauses.push(clause(`$${params.length}`))
  }
  const { action } = filters
  if (action?.endsWith('.*') === true) {
    // A prefix is the byte range [stem., stem/): '/' follows '.'. No LIKE, so `_` and `%` in it are plain characters.
    const stem = action.slice(0, -2)
    add((p) => `action COLLATE "C" >= ${p}`, `${stem}.`)
    add((p) => `action COLLATE "C" < ${p}`, `${stem}/`)
  } else if (action !== undefined) {
    add((p) => `action COLLATE "C" = ${p}`, action)
  }
  for (const [filter, column] of EQUALS) {
    const value = filters[filter]
    if (value !== undefined) add((p) => `${column} = ${p}`, value)
  }
  if (filters.from !== undefined) add((p) => `occurred_at >= ${p}::timestamptz`, filters.from)
  if (filters.to !== undefined) add((p) => `occurred_at < ${p}::timestamptz`, filters.to)
  return { clauses, params }
}

interface Row {
  id: string, org_id: string | null, seq_text: string, occurred_at: Date | string, action: string, actor_type: string, actor_id: string,
  actor_label: string | null, impersonator_id: string | null, target_type: string | null, target_id: string | null, diff: unknown,
  ip: string | null, user_agent: string | null, trace_id: string | null, request_id: string | null, position: string, prev_hash: string,
  hash: string
}

const COLUMNS = `id, org_id, seq::text AS seq_text, occurred_at, action, actor_type, actor_id, actor_label, impersonator_id,
  target_type, target_id, diff, ip, user_agent, trace_id, request_id, position, prev_hash, hash`

const toAuditRow = (row: Row): AuditRow => ({
  id: row.id,
  orgId: row.org_id,
  seq: Number(row.seq_text),
  occurredAt: new Date(row.occurred_at).toISOString(),
  action: row.action,
  actorType: row.actor_type,
  actorId: row.actor_id,
  actorLabel: row.actor_label,
  impersonatorId: row.impersonator_id,
  targetType: row.target_type,
  targetId: row.target_id,
  diff: row.diff,
  ip: row.ip,
  userAgent: row.user_agent,
  traceId: row.trace_id,
  requestId: row.request_id,
  position: row.position,
  prevHash: row.prev_hash,
  hash: row.hash
})

/** Up to `limit` matching rows of the log in `sort` order, after the row numbered `after`. */
async function rowsAfter (
  sql: SqlExecutor, orgId: string | null, filters: AuditFilters, sort: AuditSort, after: string | undefined, limit: number
): Promise<AuditRow[]> {
  const { clauses, params } = conditions(orgId, filters)
  if (after !== undefined) {
    params.push(after)
    clauses.push(`seq ${sort === 'asc' ? '>' : '<'} $${params.length}`)
  }
  params.push(limit)
  const { rows } = await sql.query<Row>(
    `SELECT ${COLUMNS} FROM audit_events WHERE ${clauses.join(' AND ')} ORDER BY seq ${sort} LIMIT $${params.length}`, params)
  return rows.map(toAuditRow)
}

export interface AuditPageOptions {
  readonly sort?: AuditSort
  /** 1 to 500 (AUDIT_PAGE_LIMIT), 50 when not given. */
  readonly limit?: number
  /** The seq (decimal digits) of the previous page's last row, for the same sort. */
  readonly after?: string | undefined
}

export interface AuditPage {
  readonly items: AuditRow[]
  /** Whether rows follow the last item: the page after it is not empty. */
  readonly more: boolean
}

/** One page of a log's matching rows, after the row numbered `after`. */
export async function auditPage (
  sql: SqlExecutor, orgId: string | null, filters: AuditFilters, options: AuditPageOptions = {}
): Promise<AuditPage> {
  const { sort = 'desc', limit = AUDIT_PAGE_LIMIT.default, after } = options
  if (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_PAGE_LIMIT.max) {
    throw new RangeError(`limit must be an integer from 1 to ${AUDIT_PAGE_LIMIT.max}, not ${limit}`)
  }
  const rows = await rowsAfter(sql, orgId, filters, sort, after, limit + 1)
  return { items: rows.slice(0, limit), more: rows.length > limit }
}

/**
 * Every matching row of a log in `sort` order, `chunkSize` rows at a time
 * (one keyset query each), for exports: memory holds one chunk.
 */
export async function * auditRows (
  sql: SqlExecutor, orgId: string | null, filters: AuditFilters, sort: AuditSort, chunkSize = 1000
): AsyncGenerator<AuditRow[]> {
  let after: string | undefined
  for (;;) {
    const chunk = await rowsAfter(sql, orgId, filters, sort, after, chunkSize)
    if (chunk.length > 0) yield chunk
    if (chunk.length < chunkSize) return
    after = String(chunk.at(-1)!.seq)
  }
}

/** How many rows of a log match (for an export's progress). */
export async function auditCount (sql: SqlExecutor, orgId: string | null, filters: AuditFilters): Promise<number> {
  const { clauses, params } = conditions(orgId, filters)
  const { rows } = await sql.query<{ n: string }>(`SELECT count(*)::text AS n FROM audit_events WHERE ${clauses.join(' AND ')}`, params)
  return Number(rows[0]?.n ?? 0)
}
