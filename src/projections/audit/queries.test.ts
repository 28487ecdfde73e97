import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { forEachDatabase } from '../../../test/helpers/databases.ts'
import { planNodes, planningExecutor, type PlanNode } from '../../../test/helpers/plans.ts'
import type { SqlClient, SqlExecutor } from '../../sql/client.ts'
import { AUDIT_INDEXES } from './indexes.ts'
import { type AuditFilters, type AuditRow, auditPage, auditRows } from './queries.ts'
import { AUDIT_DDL } from './schema.ts'

interface Seed {
  org?: string | null
  action?: string
  actor?: string
  target?: [string, string]
  impersonator?: string
  ip?: string
  trace?: string
  at?: string
}

/** Appends rows to their logs, numbering each log's seq on from where it stands. */
async function insert (sql: SqlExecutor, seeds: Seed[]): Promise<void> {
  const { rows } = await sql.query<{ org: string, seq: string }>(
    'SELECT coalesce(org_id, \'\') AS org, max(seq)::text AS seq FROM audit_events GROUP BY 1')
  const last = new Map(rows.map((row) => [row.org, Number(row.seq)]))
  const records = seeds.map((seed, i) => {
    const org = seed.org === undefined ? 'acme' : seed.org
    const seq = (last.get(org ?? '') ?? 0) + 1
    last.set(org ?? '', seq)
    return {
      id: randomUUID(), org_id: org, seq, occurred_at: seed.at ?? new Date(Date.UTC(2024, 0, 1, 0, seq)).toISOString(),
      action: seed.action ?? 'org.member.added', actor_type: 'user', actor_id: seed.actor ?? 'ann',
      actor_label: `${seed.actor ?? 'ann'}@example.com`,
      impersonator_id: seed.impersonator ?? null, target_type: seed.target?.[0] ?? null, target_id: seed.target?.[1] ?? null,
      diff: { name: { before: 'a', after: `b${i}` } }, ip: seed.ip ?? '203.0.113.7', user_agent: 'curl/8',
      trace_id: seed.trace ?? `trace-${org}-${seq}`,
      request_id: `req-${seq}`, position: `${100 + seq}.${seq}`, prev_hash: '0'.repeat(64), hash: String(seq).padStart(64, 'f')
    }
  })
  await sql.query(`INSERT INTO audit_events SELECT * FROM jsonb_populate_recordset(null::audit_events, $1::jsonb)`,
    [JSON.stringify(records)])
}

async function auditTable (sql: SqlClient): Promise<void> {
  await sql.exec(AUDIT_DDL + AUDIT_INDEXES)
}

const seqs = (rows: readonly AuditRow[]): number[] => rows.map((row) => row.seq)
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** The key of the page after `page`, as a route puts it in its cursor; undefined on the last page. */
const nextAfter = (page: { items: AuditRow[], more: boolean }): string | undefined => page.more ? String(page.items.at(-1)!.seq) : undefined

/** Every matching seq, by pages of `limit`, each after the last row of the one before. */
async function walk (
  sql: SqlExecutor, orgId: string | null, filters: AuditFilters, sort: 'asc' | 'desc', limit: number
): Promise<number[]> {
  const seen: number[] = []
  let after: string | undefined
  do {
    const page = await auditPage(sql, orgId, filters, { sort, limit, after })
    seen.push(...seqs(page.items))
    after = nextAfter(page)
  } while (after !== undefined)
  return seen
}

/** acme 1..12 with varied fields; umbrella and the platform log repeat the same values, so a leak would match. */
const ACME: Seed[] = [
  { action: 'org.created', actor: 'ann', target: ['organization', 'acme'] },
  { action: 'org.member.added', actor: 'ann', target: ['user', 'bob'] },
  { action: 'org.member.added', actor: 'ann', target: ['user', 'cat'] },
  { action: 'rbac.role.created', actor: 'bob', target: ['role', 'role_billing'] },
  { action: 'rbac.role.deleted', actor: 'bob', target: ['role', 'role_billing'], impersonator: 'root' },
  { action: 'rbac', actor: 'bob' },
  { action: 'rbacx.role.created', actor: 'cat' },
  { action: 'a_b.done', actor: 'cat', ip: '198.51.100.1' },
  { action: 'aXb.done', actor: 'cat', ip: '198.51.100.1' },
  { action: 'a%b.done', actor: 'cat', trace: 'shared-trace' },
  { action: 'org.renamed', actor: 'ann', target: ['organization', 'acme'], trace: 'shared-trace', impersonator: 'root' },
  { action: 'org.member.removed', actor: 'ann', target: ['user', 'cat'] }
]

t.test('audit pages filter one organization\'s log, in either order, by stable keyset pages', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    await auditTable(sql)
    await insert(sql, ACME)
    await insert(sql, ACME.map((seed) => ({ ...seed, org: 'umbrella' })))
    await insert(sql, ACME.slice(0, 3).map((seed) => ({ ...seed, org: null })))
    const page = async (filters: AuditFilters, sort: 'asc' | 'desc' = 'asc'): Promise<number[]> =>
      seqs((await auditPage(sql, 'acme', filters, { sort, limit: 500 })).items)

    await t.test('every column comes back, times ISO and the diff as JSON', async (t) => {
      const { items: [row] } = await auditPage(sql, 'acme', { action: 'org.renamed' })
      t.match(row, {
        orgId: 'acme', seq: 11, occurredAt: '2024-01-01T00:11:00.000Z', action: 'org.renamed', actorType: 'user', actorId: 'ann',
        actorLabel: 'ann@example.com',
        impersonatorId: 'root', targetType: 'organization', targetId: 'acme', diff: { name: { before: 'a', after: 'b10' } },
        ip: '203.0.113.7',
        userAgent: 'curl/8', traceId: 'shared-trace', requestId: 'req-11', position: '111.11', prevHash: '0'.repeat(64),
        hash: '11'.padStart(64, 'f')
      })
      t.match(row?.id, /^[0-9a-f-]{36}$/)
    })

    await t.test('each filter matches exactly its rows', async (t) => {
      t.same(await page({}), range(1, 12), 'no filter: the whole log, in log order')
      t.same(await page({}, 'desc'), range(1, 12).reverse(), 'desc: newest first')
      t.same(await page({ action: 'org.member.added' }), [2, 3], 'an exact action')
      t.same(await page({ action: 'rbac.*' }), [4, 5], 'a prefix: rbac.* is not rbac nor rbacx.*')
      t.same(await page({ action: 'org.*' }, 'desc'), [12, 11, 3, 2, 1])
      t.same(await page({ action: 'a_b.*' }), [8], '_ is a plain character')
      t.same(await page({ action: 'a%b.done' }), [10], '% is a plain character')
      t.same(await page({ action: 'a%' }), [], 'and an exact action is exact')
      t.same(await page({ actorId: 'bob' }), [4, 5, 6])
      t.same(await page({ targetType: 'user' }), [2, 3, 12])
      t.same(await page({ targetType: 'user', targetId: 'cat' }), [3, 12])
      t.same(await page({ targetId: 'role_billing' }), [4, 5])
      t.same(await page({ impersonatorId: 'root' }), [5, 11])
      t.same(await page({ ip: '198.51.100.1' }), [8, 9])
      t.same(await page({ traceId: 'shared-trace' }), [10, 11])
      t.same(await page({ from: '2024-01-01T00:03:00Z', to: '2024-01-01T00:06:00Z' }), [3, 4, 5], 'from inclusive, to exclusive')
      t.same(await page({ from: '2024-01-01T01:03:00+01:00' }), range(3, 12), 'an offset is honoured')
      t.same(await page({ actorId: 'ann', action: 'org.member.*', from: '2024-01-01T00:03:00Z' }), [3, 12], 'filters combine')
    })

    await t.test('another organization\'s rows never appear, nor the platform\'s', async (t) => {
      t.same(await page({ traceId: 'shared-trace' }), [10, 11])
      t.same(await page({ traceId: 'trace-umbrella-1' }), [])
      const umbrella = await auditPage(sql, 'umbrella', {}, { limit: 500 })
      t.ok(umbrella.items.every((row) => row.orgId === 'umbrella'))
      t.equal(umbrella.items.length, 12)
      const platform = await auditPage(sql, null, {}, { limit: 500 })
      t.same(platform.items.map((row) => [row.orgId, row.seq]), [[null, 3], [null, 2], [null, 1]], 'null is the platform\'s log')
      t.same(seqs((await auditPage(sql, 'nobody', {})).items), [])
    })

    await t.test('pages follow each other without gaps or repeats, in both orders, while rows are appended', async (t) => {
      t.same(await walk(sql, 'acme', {}, 'asc', 5), range(1, 12))
      t.same(await walk(sql, 'acme', { actorId: 'cat' }, 'desc', 2), [10, 9, 8, 7])

      const first = await auditPage(sql, 'acme', {}, { sort: 'desc', limit: 5 })
      const firstAsc = await auditPage(sql, 'acme', {}, { sort: 'asc', limit: 5 })
      await insert(sql, [{ action: 'org.renamed' }, { action: 'org.renamed' }]) // seq 13 and 14, between pages
      const second = await auditPage(sql, 'acme', {}, { sort: 'desc', limit: 5, after: nextAfter(first)! })
      t.same(seqs(first.items), [12, 11, 10, 9, 8])
      t.same(seqs(second.items), [7, 6, 5, 4, 3], 'newest first: what came since is before the first page, not in the next')
      const rest = await auditPage(sql, 'acme', {}, { sort: 'asc', limit: 500, after: nextAfter(firstAsc)! })
      t.same(seqs(rest.items), range(6, 14), 'log order: what came since follows at the end')
      t.equal(rest.more, false, 'the last page says no more')
      const exact = await auditPage(sql, 'acme', {}, { sort: 'asc', limit: 9, after: nextAfter(firstAsc)! })
      t.same(seqs(exact.items), range(6, 14))
      t.equal(exact.more, false, 'a page that takes the last row exactly says no more either: no empty page to follow')
      const short = await auditPage(sql, 'acme', {}, { sort: 'asc', limit: 8, after: nextAfter(firstAsc)! })
      t.same([seqs(short.items), short.more], [range(6, 13), true], 'one row short of the end: more')
    })

    await t.test('a limit is 1 to 500, 50 by default', async (t) => {
      await insert(sql, range(1, 60).map(() => ({ org: 'big' })))
      t.equal((await auditPage(sql, 'big', {})).items.length, 50)
      t.equal((await auditPage(sql, 'big', {}, { limit: 500 })).items.length, 60)
      t.same(seqs((await auditPage(sql, 'big', {}, { limit: 1 })).items), [60])
      for (const limit of [0, 501, 2.5, -1]) await t.rejects(auditPage(sql, 'big', {}, { limit }), RangeError, `limit ${limit}`)
    })

    await t.test('a page after a seq starts after it, in either order; after the last row it is empty', async (t) => {
      t.same(seqs((await auditPage(sql, 'acme', {}, { sort: 'asc', after: '12' })).items), [13, 14])
      t.same(seqs((await auditPage(sql, 'acme', {}, { sort: 'desc', after: '3' })).items), [2, 1])
      t.same((await auditPage(sql, 'acme', {}, { sort: 'asc', after: '14' })), { items: [], more: false })
      t.same((await auditPage(sql, 'acme', {}, { sort: 'desc', after: '9223372036854775807', limit: 1 })).items.length, 1,
        'the largest bigint is a key like any other')
    })

    await t.test('auditRows yields every matching row in chunks, in order', async (t) => {
      const chunks: number[][] = []
      for await (const chunk of auditRows(sql, 'big', {}, 'asc', 7)) chunks.push(seqs(chunk))
      t.same(chunks.flat(), range(1, 60))
      t.ok(chunks.every((chunk) => chunk.length <= 7))
      t.equal(chunks.length, 9)
      const filtered: number[] = []
      for await (const chunk of auditRows(sql, 'acme', { action: 'org.*' }, 'desc', 2)) filtered.push(...seqs(chunk))
      t.same(filtered, [14, 13, 12, 11, 3, 2, 1])
      const exact: number[][] = []
      for await (const chunk of auditRows(sql, 'acme', { actorId: 'bob' }, 'asc', 3)) exact.push(seqs(chunk))
      t.same(exact, [[4, 5, 6]], 'a last full chunk is followed by no empty one')
    })
  })
})

/** Node types of a JSON plan and the relation or index each reads. */
function scans (plan: PlanNode): string[] {
  return planNodes(plan)
    .filter((node) => typeof node['Node Type'] === 'string' && (node['Relation Name'] !== undefined || node['Index Name'] !== undefined))
    .map((node) => `${String(node['Node Type'])} ${String(node['Index Name'] ?? node['Relation Name'])}`)
}

/** An executor that plans what it is asked instead of running it, and keeps each plan's scans. */
function explaining (sql: SqlExecutor): { executor: SqlExecutor, plans: string[][] } {
  const plans: string[][] = []
  return { executor: planningExecutor(sql, (plan) => plans.push(scans(plan))), plans }
}

/** 20,000 rows over 20 organizations, 1,000 each: enough that scanning the table costs more than an index. */
async function seedMany (sql: SqlExecutor): Promise<void> {
  await sql.query(`
    INSERT INTO audit_events (id, org_id, seq, occurred_at, action, actor_type, actor_id, target_type, target_id, diff, trace_id,
                              position, prev_hash, hash)
    SELECT gen_random_uuid(), 'org' || (i % 20), i / 20 + 1, timestamptz '2024-01-01' + i * interval '1 minute',
           (ARRAY['org.member.added', 'org.member.removed', 'org.renamed', 'rbac.role.created', 'rbac.role.deleted', 'rbac.grants.set',
                  'auth.signed_in'])[i % 7 + 1],
           'user', 'user' || (i % 97), 'user', 'target' || (i % 89), '{"name":{"before":"a","after":"b"}}', 'trace' || i, i || '.0',
           repeat('0', 64), md5(i::text) || md5(i::text)
      FROM generate_series(0, 19999) AS i`)
  await sql.query('ANALYZE audit_events')
}

const TYPICAL: Record<string, AuditFilters> = {
  org: {},
  'org+time': { from: '2024-01-05T00:00:00Z', to: '2024-01-06T00:00:00Z' },
  'org+action': { action: 'rbac.role.created' },
  'org+action prefix': { action: 'rbac.*' },
  'org+actor': { actorId: 'user7' },
  'org+target': { targetType: 'user', targetId: 'target7' },
  traceId: { traceId: 'trace4207' }
}

t.test('each typical filter reads audit_events through an index, never a sequential scan', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    await auditTable(sql)
    await seedMany(sql)
    for (const [name, filters] of Object.entries(TYPICAL)) {
      for (const sort of ['desc', 'asc'] as const) {
        const { executor, plans } = explaining(sql)
        await auditPage(executor, 'org7', filters, { sort, limit: 50 })
        await auditPage(executor, 'org7', filters, { sort, limit: 50, after: '500' })
        for (const plan of plans) checkPlan(t, `${name}, ${sort}`, plan)
      }
    }
  })
})

function checkPlan (t: Test, name: string, plan: string[]): void {
  t.comment(`${name}: ${plan.join(' → ')}`)
  t.notOk(plan.some((scan) => scan.startsWith('Seq Scan')), `${name}: no sequential scan`)
  t.ok(plan.some((scan) => /^(Index|Index Only|Bitmap Index) Scan audit_events_/.test(scan)), `${name}: an index of audit_events`)
}
