/**
 * The query part of bench:audit: pages of 50, newest first, through auditPage
 * (src/projections/audit/queries.ts) and as the same SQL text run raw through
 * `pg` (rows as pg parses them, nothing mapped), in turn on the same
 * parameters. Five filters, each within one organization's log:
 *   org-time    a 7-day window around a row's time
 *   org-action  a prefix (`rbac.*`, `org.member.*`, `identity.session.*`) or a row's exact action
 *   org-actor   a row's actor
 *   org-target  a row's target (type and id)
 *   trace       a row's trace id
 * Organizations and values come from random rows, so frequent values are
 * asked more often, as in use. Every other sample also times the page after
 * the first page's cursor.
 */
import pg from 'pg'
import { auditPage, type AuditFilters } from '../../src/projections/audit/queries.ts'
import type { SqlClient } from '../../src/sql/client.ts'
import { log } from './log.ts'
import { percentile } from './results.ts'

const LIMIT = 50
const WARMUP = 10
const DAY_MS = 24 * 3600 * 1000
const PREFIXES = ['rbac.*', 'org.member.*', 'identity.session.*']

interface Sample {
  org: string, action: string, actor_id: string, target_type: string | null, target_id: string | null, trace_id: string, occurred_at: Date
}

type Filter = 'org-time' | 'org-action' | 'org-actor' | 'org-target' | 'trace'
const FILTERS: readonly Filter[] = ['org-time', 'org-action', 'org-actor', 'org-target', 'trace']

function filtersFor (filter: Filter, s: Sample, i: number): AuditFilters {
  switch (filter) {
    case 'org-time': return {
      from: new Date(s.occurred_at.getTime() - 3.5 * DAY_MS).toISOString(),
      to: new Date(s.occurred_at.getTime() + 3.5 * DAY_MS).toISOString()
    }
    case 'org-action': return { action: i % 2 === 0 ? PREFIXES[(i / 2) % PREFIXES.length]! : s.action }
    case 'org-actor': return { actorId: s.actor_id }
    case 'org-target': return { targetType: s.target_type ?? undefined, targetId: s.target_id ?? undefined }
    case 'trace': return { traceId: s.trace_id }
  }
}

/** The SQL auditPage runs for these filters (its text and parameter order, queries.ts `conditions`), `limit + 1` rows. */
function rawSql (org: string, f: AuditFilters, after: string | undefined): { text: string, values: unknown[] } {
  const values: unknown[] = [org]
  const clauses = ['coalesce(org_id, \'\') = $1']
  const add = (clause: (p: string) => string, value: unknown): void => { values.push(value); clauses.push(clause(`$${values.length}`)) }
  if (f.action?.endsWith('.*') === true) {
    add((p) => `action COLLATE "C" >= ${p}`, `${f.action.slice(0, -2)}.`)
    add((p) => `action COLLATE "C" < ${p}`, `${f.action.slice(0, -2)}/`)
  } else if (f.action !== undefined) add((p) => `action COLLATE "C" = ${p}`, f.action)
  if (f.actorId !== undefined) add((p) => `actor_id = ${p}`, f.actorId)
  if (f.targetType !== undefined) add((p) => `target_type = ${p}`, f.targetType)
  if (f.targetId !== undefined) add((p) => `target_id = ${p}`, f.targetId)
  if (f.traceId !== undefined) add((p) => `trace_id = ${p}`, f.traceId)
  if (f.from !== undefined) add((p) => `occurred_at >= ${p}::timestamptz`, f.from)
  if (f.to !== undefined) add((p) => `occurred_at < ${p}::timestamptz`, f.to)
  if (after !== undefined) add((p) => `seq < ${p}`, after)
  values.push(LIMIT + 1)
  return {
    text: `SELECT id, org_id, seq::text AS seq_text, occurred_at, action, actor_type, actor_id, actor_label, impersonator_id,
  target_type, target_id, diff, ip, user_agent, trace_id, request_id, position, prev_hash, hash FROM audit_events
  WHERE ${clauses.join(' AND ')} ORDER BY seq desc LIMIT $${values.length}`,
    values
  }
}

export interface FilterFigures { filter: Filter, samples: number, ours: number, raw: number, max: number, rawMax: number }
export interface QueryFigures { filters: FilterFigures[], describe: string }

interface Timings { ours: number[], raw: number[], pagesAfterCursor: number }

async function timed<T> (fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now()
  const value = await fn()
  return [value, performance.now() - t0]
}

/** One sample: the first page, ours and raw in turn (the order alternating), then every other time the page after its cursor. */
async function sample (sql: SqlClient, raw: pg.Pool, filter: Filter, s: Sample, i: number, into: Timings | undefined): Promise<void> {
  const filters = filtersFor(filter, s, i)
  let after: string | undefined
  for (let page = 0; page < (i % 2 === 0 ? 1 : 2); page++) {
    if (page === 1 && after === undefined) return
    const runOurs = (): Promise<[Awaited<ReturnType<typeof auditPage>>, number]> =>
      timed(() => auditPage(sql, s.org, filters, { limit: LIMIT, sort: 'desc', after }))
    const runRaw = (): Promise<[pg.QueryResult, number]> => timed(() => raw.query(rawSql(s.org, filters, after)))
    const oursFirst = i % 2 === 0
    const [ours, oursMs] = oursFirst ? await runOurs() : [undefined, 0] as const
    const [rawResult, rawMs] = await runRaw()
    const [ours2, oursMs2] = oursFirst ? [ours!, oursMs] : await runOurs()
    const expected = Math.min(LIMIT, rawResult.rows.length)
    if (ours2.items.length !== expected) throw new Error(`${filter}: auditPage gave ${ours2.items.length} rows, the raw SQL ${expected}`)
    if (into !== undefined) {
      into.ours.push(oursMs2)
      into.raw.push(rawMs)
      if (page === 1) into.pagesAfterCursor++
    }
    after = ours2.more ? String(ours2.items.at(-1)!.seq) : undefined
  }
}

export async function measureQueries (sql: SqlClient, url: string, perFilter: number): Promise<QueryFigures> {
  log(`queries: ${perFilter} samples per filter (${FILTERS.join(', ')}), pages of ${LIMIT}, ours and raw in turn`)
  const raw = new pg.Pool({ connectionString: url, max: 2 })
  try {
    const { rows } = await sql.query<Sample>(
      `SELECT coalesce(org_id, '') AS org, action, actor_id, target_type, target_id, trace_id, occurred_at
         FROM audit_events WHERE org_id IS NOT NULL ORDER BY random() LIMIT $1`, [(perFilter + WARMUP) * FILTERS.length])
    const samples = rows.map((r) => ({ ...r, occurred_at: new Date(r.occurred_at) }))
    const timings = new Map(FILTERS.map((f) => [f, { ours: [], raw: [], pagesAfterCursor: 0 } as Timings]))
    // Round-robin over the filters, so drift (caches, other load) hits them alike.
    for (let i = 0; i < perFilter + WARMUP; i++) {
      for (const [k, filter] of FILTERS.entries()) {
        await sample(sql, raw, filter, samples[(i * FILTERS.length + k) % samples.length]!, i, i < WARMUP ? undefined : timings.get(filter))
      }
    }
    const filters = FILTERS.map((filter): FilterFigures => {
      const t = timings.get(filter)!
      const figures = {
        filter, samples: t.ours.length, ours: percentile(t.ours, 95), raw: percentile(t.raw, 95),
        max: Math.max(...t.ours), rawMax: Math.max(...t.raw)
      }
      log(`  ${filter}: p95 ${figures.ours.toFixed(2)} ms ours, ${figures.raw.toFixed(2)} ms raw ` +
        `(${t.ours.length} pages, ${t.pagesAfterCursor} after a cursor)`)
      return figures
    })
    const cursors = FILTERS.map((f) => timings.get(f)!.pagesAfterCursor)
    return {
      filters,
      describe: `${perFilter} samples per filter after ${WARMUP} untimed, ` +
        'each a first page and every other one also the page after its cursor ' +
        `(${cursors.join('/')} such pages for ${FILTERS.join('/')}), in round-robin over the filters`
    }
  } finally {
    await raw.end()
  }
}
