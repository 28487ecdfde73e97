/**
 * Audit chains at the sizes where ordering mistakes show: 1, 9, 10, 11, 100
 * and 5,000 rows (a seq sorted as text puts 10 before 2). An untouched chain
 * verifies, both by the full verification (recomputed from the event log)
 * and by the server's check of the stored chain; a row, an event or a digest
 * altered past the tenth row is named at its own seq. A fast-check property
 * drives random command sequences and verifies the logs they leave.
 */
import fc from 'fast-check'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { recordAuditAccess, recordSignIn } from '../src/application/audit/access.ts'
import { checkStoredChain } from '../src/application/audit/chain-check.ts'
import { digestCompleteDays, startOfUtcDay } from '../src/application/audit/digests.ts'
import { signingKeyOf } from '../src/application/audit/signing-key.ts'
import { verifyAuditLog } from '../src/application/audit/verify.ts'
import { bootstrap, changeOrganization, registerUser } from '../src/application/identity/commands.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { chainHash } from '../src/projections/audit/chain.ts'
import { openRuntime, type Runtime } from '../src/runtime.ts'
import type { SqlClient } from '../src/sql/client.ts'
import { appendChain } from './helpers/audit-chains.ts'
import { openTestApp } from './helpers/app.ts'
import { settled } from './helpers/assertions.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { verifyOverHttp } from './helpers/verify.ts'

const DAY_MS = 86_400_000

async function runtimeOn (t: Test, sql: SqlClient): Promise<Runtime> {
  const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), pino({ level: 'silent' }), { sql, runProjections: true })
  t.teardown(() => runtime.close())
  return runtime
}

async function rowAt (sql: SqlClient, orgId: string,
  seq: number): Promise<{ id: string, actor_id: string, prev_hash: string, hash: string }> {
  const { rows } = await sql.query<{ id: string, actor_id: string, prev_hash: string, hash: string }>(
    'SELECT id::text AS id, actor_id, prev_hash, hash FROM audit_events WHERE org_id = $1 AND seq = $2', [orgId, seq])
  return rows[0]!
}

const SIZES = [1, 9, 10, 11, 100, 5000]
/** The 100-row chain splits its rows over two past days here: its first digest ends at seq 56. */
const SPLIT = 56

t.test('chains of 1, 9, 10, 11, 100 and 5,000 rows verify untouched and name an alteration at its own seq', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const runtime = await runtimeOn(t, sql)
    const today = startOfUtcDay(new Date()).getTime()
    const dated = (i: number): Date => new Date(today - (i < SPLIT ? 2 : 1) * DAY_MS + 3_600_000 + i)
    for (const size of SIZES) await appendChain(runtime, `chain-${size}`, size, dated)
    await appendChain(runtime, null, 11, dated)
    await settled(runtime)
    const digests = await digestCompleteDays(sql, signingKeyOf(runtime.config), new Date())
    t.ok(digests.some((d) => d.orgId === 'chain-100' && d.lastSeq === SPLIT), `the 100-row chain has a digest ending at seq ${SPLIT}`)

    for (const orgId of [...SIZES.map((size) => `chain-${size}`), null]) {
      const size = orgId === null ? 11 : Number(orgId.slice(6))
      const report = await verifyAuditLog(runtime, orgId)
      t.match(report, { ok: true, mismatch: null, rowsChecked: size, firstStoredSeq: 1 }, `${orgId ?? 'the platform'}: ${size} rows verify`)
      t.match(await checkStoredChain(runtime, orgId), { ok: true, problem: null, rowsChecked: size },
        `${orgId ?? 'the platform'}: the stored chain holds`)
    }

    const orgId = 'chain-100'
    const row = await rowAt(sql, orgId, 57)
    await t.test('a stored row altered', async (t) => {
      await sql.query("UPDATE audit_events SET actor_id = 'someone-else' WHERE org_id = $1 AND seq = 57", [orgId])
      t.match(await verifyAuditLog(runtime, orgId),
        { ok: false, mismatch: { kind: 'row', seq: 57, eventId: row.id, column: 'actor_id', found: 'someone-else' } })
      t.match(await checkStoredChain(runtime, orgId), { ok: false, problem: { seq: 57, what: /do not give its hash/ } })
      await sql.query('UPDATE audit_events SET actor_id = $2 WHERE org_id = $1 AND seq = 57', [orgId, row.actor_id])
      t.ok((await verifyAuditLog(runtime, orgId)).ok, 'put back, it verifies')
    })

    await t.test('a stored row altered with its hash recomputed', async (t) => {
      const { rows: [full] } = await sql.query<Record<string, unknown>>(
        `SELECT id::text AS id, org_id AS "orgId", seq::int AS seq, to_char(occurred_at AT TIME ZONE 'UTC', ` +
          `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "occurredAt",
                action, actor_type AS "actorType", actor_id AS "actorId", actor_label AS "actorLabel", impersonator_id AS "impersonatorId",
                target_type AS "targetType", target_id AS "targetId", diff, ip, user_agent AS "userAgent", trace_id AS "traceId",
                request_id AS "requestId", position
           FROM audit_events WHERE org_id = $1 AND seq = 57`, [orgId])
      const forged = chainHash(row.prev_hash, { ...full, actorId: 'someone-else' } as never)
      await sql.query("UPDATE audit_events SET actor_id = 'someone-else', hash = $2 WHERE org_id = $1 AND seq = 57", [orgId, forged])
      t.match(await checkStoredChain(runtime, orgId), { ok: false, problem: { seq: 58, what: /does not follow row 57/ } }, 'the next row no longer links to it')
      t.match(await verifyAuditLog(runtime, orgId), { ok: false, mismatch: { kind: 'row', seq: 57, column: 'actor_id' } })
      await sql.query('UPDATE audit_events SET actor_id = $2, hash = $3 WHERE org_id = $1 AND seq = 57', [orgId, row.actor_id, row.hash])
      t.ok((await checkStoredChain(runtime, orgId)).ok, 'put back, it holds')
    })

    await t.test('an event altered in the store', async (t) => {
      await sql.query(`UPDATE events SET data = jsonb_set(data, '{filters,n}', '999') WHERE event_id = $1`, [row.id])
      t.match(await verifyAuditLog(runtime, orgId),
        { ok: false, mismatch: { kind: 'row', seq: 57, eventId: row.id, column: 'diff', expected: { filters: { after: { n: 999 } } } } })
      t.ok((await checkStoredChain(runtime, orgId)).ok, 'the stored chain still holds: only the full verification reads the event log')
      await sql.query(`UPDATE events SET data = jsonb_set(data, '{filters,n}', '56') WHERE event_id = $1`, [row.id])
      t.ok((await verifyAuditLog(runtime, orgId)).ok, 'put back, it verifies')
    })

    await t.test('a digest altered', async (t) => {
      await sql.query('UPDATE audit_digests SET rows = rows + 1 WHERE chain = $1 AND last_seq = $2', [orgId, SPLIT])
      t.match(await verifyAuditLog(runtime, orgId), { ok: false, mismatch: { kind: 'digest', seq: SPLIT, column: 'signature' } })
      t.match(await checkStoredChain(runtime, orgId), { ok: false, problem: { seq: SPLIT, what: /not signed by this deployment's key/ } })
      await sql.query('UPDATE audit_digests SET rows = rows - 1 WHERE chain = $1 AND last_seq = $2', [orgId, SPLIT])
    })

    await t.test('a row altered deep in the 5,000-row chain', async (t) => {
      await sql.query("UPDATE audit_events SET target_id = 'elsewhere' WHERE org_id = 'chain-5000' AND seq = 4321")
      t.match(await verifyAuditLog(runtime, 'chain-5000'),
        { ok: false, mismatch: { kind: 'row', seq: 4321, column: 'target_id', found: 'elsewhere' } })
      t.match(await checkStoredChain(runtime, 'chain-5000'), { ok: false, problem: { seq: 4321 } })
    })
  })
})

t.test('a verification requested over HTTP reports ok for an untouched organization log of more than 10 rows, ' +
  'and names a row altered past it', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    await appendChain(api.runtime, orgId, 30, () => new Date())
    await settled(api.runtime)
    const verify = () => verifyOverHttp(api, orgId)
    const report = await verify()
    t.match(report, { ok: true, mismatch: null })
    t.ok(report.rowsChecked > 30, `${report.rowsChecked} rows`)
    await sql.query("UPDATE audit_events SET ip = '203.0.113.9' WHERE org_id = $1 AND seq = 23", [orgId])
    t.match(await verify(), { ok: false, mismatch: { kind: 'row', seq: 23, column: 'ip', found: '203.0.113.9' } })
  })
})

type Step =
  | { kind: 'rename', name: string }
  | { kind: 'settings', locale: string }
  | { kind: 'register' }
  | { kind: 'search', n: number }
  | { kind: 'sign-in' }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('rename' as const), name: fc.string({ minLength: 1, maxLength: 40 }).filter((s) => s.trim().length > 0) }),
  fc.record({ kind: fc.constant('settings' as const), locale: fc.constantFrom('de-DE', 'en-GB', 'fr-FR') }),
  fc.record({ kind: fc.constant('register' as const) }),
  fc.record({ kind: fc.constant('search' as const), n: fc.nat(1000) }),
  fc.record({ kind: fc.constant('sign-in' as const) })
)

t.test('property: whatever commands ran, however many, an untouched log verifies', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const runtime = await runtimeOn(t, sql)
    let run = 0
    await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 0, maxLength: 30, size: 'max' }), async (steps) => {
      run++
      const { orgId, userId } = await bootstrap(runtime.identity, systemCommand('property'),
        { email: `owner-${run}@p.example`, orgName: `Org ${run}` })
      for (const [i, s] of steps.entries()) {
        const as = systemCommand('property')
        if (s.kind === 'rename') await changeOrganization(runtime.identity, as, orgId,
          { type: 'RenameOrganization', data: { name: s.name.trim() } })
        if (s.kind === 'settings') await changeOrganization(runtime.identity, as, orgId,
          { type: 'ChangeSettings', data: { settings: { locale: s.locale } } })
        if (s.kind === 'register') await registerUser(runtime.identity, as, { email: `user-${run}-${i}@p.example`, displayName: 'someone' })
        if (s.kind === 'search') await recordAuditAccess(runtime.identity, { ...as, orgId },
          { type: 'audit.log.searched', orgId, filters: { n: s.n } })
        if (s.kind === 'sign-in') await recordSignIn(runtime.identity, as, { userId, tokenId: `token-${run}-${i}` })
      }
      await settled(runtime)
      const org = await verifyAuditLog(runtime, orgId)
      const platform = await verifyAuditLog(runtime, null)
      const stored = await checkStoredChain(runtime, orgId)
      return org.ok && platform.ok && stored.ok && org.rowsChecked === stored.rowsChecked
    }), { numRuns: 12 })
    const { rows: [longest] } = await sql.query<{ n: number }>("SELECT max(seq)::int AS n FROM audit_events WHERE org_id IS NOT NULL")
    t.ok(longest!.n > 10, `some organization's log grew past 10 rows (${longest!.n})`)
  })
})
