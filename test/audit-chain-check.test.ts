/**
 * The server's own check of the stored audit chains: a log as written
 * passes; a row changed in the database, a row whose hash was recomputed to
 * match its change, a row removed, a digest that no longer matches — each is
 * found at its seq and counted in ledgerline_audit_verify_failures_total.
 */
import { pino } from 'pino'
import t from 'tap'
import { digestCompleteDays } from '../src/application/audit/digests.ts'
import { checkStoredChain, checkStoredChains } from '../src/application/audit/chain-check.ts'
import { signingKeyOf } from '../src/application/audit/signing-key.ts'
import { loadConfig } from '../src/config.ts'
import { chainHash } from '../src/projections/audit/chain.ts'
import { auditRows } from '../src/projections/audit/queries.ts'
import { openRuntime } from '../src/runtime.ts'
import { openTestApp } from './helpers/app.ts'
import { until } from './helpers/jobs-harness.ts'
import { settled } from './helpers/assertions.ts'
import { appendChain } from './helpers/audit-chains.ts'
import { forEachDatabase } from './helpers/databases.ts'

t.test('the stored audit chains are checked row by row, link by link, digest by digest', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    for (const name of ['One', 'Two', 'Three', 'Four']) {
      t.equal((await api.call('PATCH', `/v1/orgs/${orgId}`, { body: { name } })).statusCode, 200)
    }
    await settled(api.runtime)
    const failures = (): Promise<number> =>
      api.runtime.metrics.registry.getSingleMetric('ledgerline_audit_verify_failures_total')!.get()
      .then((m) => m.values.filter((v) => v.labels.scope === 'org').reduce((n, v) => n + v.value, 0))

    const reports = await api.runtime.auditChainCheck.runOnce()
    t.ok(reports !== undefined && reports.length >= 2 && reports.every((r) => r.ok),
      'every chain holds as written (the platform\'s and the organization\'s)')
    const rows = (await collect(sql, orgId))
    t.ok(rows.length >= 5)
    const before = await failures()

    // A column changed in place: the row's hash no longer follows from it.
    const row = rows[2]!
    await sql.query("UPDATE audit_events SET actor_label = 'someone else' WHERE org_id = $1 AND seq = $2", [orgId, row.seq])
    t.match(await checkStoredChain(api.runtime, orgId), { ok: false, problem: { seq: row.seq, what: /do not give its hash/ } })
    t.equal(await failures(), before + 1, 'counted as a verify failure of an organization')

    // Its hash recomputed too: the next row no longer links to it.
    const changed = { ...row, actorLabel: 'someone else' }
    await sql.query('UPDATE audit_events SET hash = $3 WHERE org_id = $1 AND seq = $2', [orgId, row.seq, chainHash(row.prevHash, changed)])
    t.match(await checkStoredChain(api.runtime, orgId),
      { ok: false, problem: { seq: row.seq + 1, what: new RegExp(`does not follow row ${row.seq}`) } })
    await sql.query('UPDATE audit_events SET actor_label = $3, hash = $4 WHERE org_id = $1 AND seq = $2',
      [orgId, row.seq, row.actorLabel, row.hash])
    t.ok((await checkStoredChain(api.runtime, orgId)).ok, 'restored')

    // The last row removed: the chain's head is a row that is not there.
    const last = rows.at(-1)!
    await sql.query('DELETE FROM audit_events WHERE org_id = $1 AND seq = $2', [orgId, last.seq])
    t.match(await checkStoredChain(api.runtime, orgId), { ok: false, problem: { what: new RegExp(`head is row ${last.seq}`) } })
  })
})

t.test('a signed digest that no longer matches the stored chain is found', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    await settled(api.runtime)
    // Date the organization's rows to yesterday, chained again as the projection would, and sign yesterday.
    const yesterday = new Date(Date.now() - 86_400_000)
    let prev: string | undefined
    for (const row of await collect(sql, orgId)) {
      const moved = { ...row, occurredAt: yesterday.toISOString(), prevHash: prev ?? row.prevHash }
      const hash = chainHash(moved.prevHash, moved)
      await sql.query('UPDATE audit_events SET occurred_at = $3, prev_hash = $4, hash = $5 WHERE org_id = $1 AND seq = $2',
        [orgId, row.seq, moved.occurredAt, moved.prevHash, hash])
      await sql.query('UPDATE audit_chains SET hash = $2 WHERE chain = $1 AND seq = $3', [orgId, hash, row.seq])
      prev = hash
    }
    const digests = await digestCompleteDays(sql, signingKeyOf(api.runtime.config), new Date())
    t.ok(digests.some((d) => d.orgId === orgId), 'yesterday is signed')
    t.ok((await checkStoredChain(api.runtime, orgId)).ok, 'the chain and its digest hold')

    await sql.query("UPDATE audit_digests SET last_hash = repeat('0', 64) WHERE chain = $1", [orgId])
    t.match(await checkStoredChain(api.runtime, orgId), { ok: false, problem: { what: /digest of .* (not signed|signed another hash)/ } })
    t.ok((await checkStoredChains(api.runtime)).some((r) => r.orgId === orgId && !r.ok), 'the all-chains run reports it')
  })
})

t.test('an intact chain passes the check while rows are being written to it (organization and platform)', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), pino({ level: 'silent' }), { sql, runProjections: true })
    t.teardown(() => runtime.close())
    const now = (): Date => new Date()
    // Longer than one read of the check (1,000 rows), so a check spans several statements.
    await appendChain(runtime, 'busy-org', 1200, now)
    await appendChain(runtime, null, 1200, now)
    await settled(runtime)

    // Each write waits until its rows are projected and a whole check has run after that, so the checks see the chain at
    // several lengths however loaded the machine is (left to timing, a busy run saw only the first and the last).
    let writing = true
    let started = 0
    let finished = 0
    const writes = (async () => {
      try {
        for (let i = 0; i < 20; i++) {
          await appendChain(runtime, 'busy-org', 25, now)
          await appendChain(runtime, null, 25, now)
          if (i % 5 !== 4) continue
          await settled(runtime)
          const mark = started
          await until('a whole check after the write', async () => finished > mark, 60_000)
        }
      } finally {
        writing = false
      }
    })()
    const reports = []
    while (writing) {
      started++
      reports.push(await checkStoredChain(runtime, 'busy-org'), await checkStoredChain(runtime, null))
      finished++
      // PGlite serves one query at a time: let the writer's turn come.
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    await writes
    await settled(runtime)
    reports.push(await checkStoredChain(runtime, 'busy-org'), await checkStoredChain(runtime, null))

    t.same(reports.filter((report) => !report.ok).map((report) => report.problem), [], 'no check reported a problem')
    const seen = new Set(reports.filter((report) => report.orgId === 'busy-org').map((report) => report.rowsChecked))
    t.ok(seen.size > 2, `the checks saw the chain grow while they ran (${[...seen].join(', ')} rows)`)
    t.equal(reports.at(-2)!.rowsChecked, 1700, 'the last check, once writes stopped, read every row')
  })
})

async function collect (sql: Parameters<typeof auditRows>[0], orgId: string) {
  const rows = []
  for await (const chunk of auditRows(sql, orgId, {}, 'asc')) rows.push(...chunk)
  return rows
}
