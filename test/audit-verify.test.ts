/**
 * Tamper evidence: signed daily digests, published with their key, and
 * `audit verify`, which recomputes an audit log from the event store and
 * names the first row or digest that does not match.
 */
import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { AuditDigester, digestCompleteDays, startOfUtcDay } from '../src/application/audit/digests.ts'
import { purgeExpired } from '../src/application/audit/retention.ts'
import { AuditSigningKeyMissing, DEVELOPMENT_KEY_FILE, signingKeyOf } from '../src/application/audit/signing-key.ts'
import { verifyAuditLog } from '../src/application/audit/verify.ts'
import { bootstrap, changeOrganization, registerUser } from '../src/application/identity/commands.ts'
import { ConfigError, loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { authenticator } from '../src/http/plugins/auth.ts'
import { auditDigestRoutes } from '../src/http/routes/audit-digests.ts'
import { canonicalJson } from '../src/projections/audit/chain.ts'
import { auditProjection } from '../src/projections/audit/projection.ts'
import { rebuildProjection } from '../src/projections/rebuild.ts'
import { openRuntime, type Runtime } from '../src/runtime.ts'
import type { SqlClient } from '../src/sql/client.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { settled } from './helpers/assertions.ts'
import { forEachDatabase, openTestDatabase } from './helpers/databases.ts'
import { ledgerline, type CliRun } from './helpers/ledgerline.ts'

const DAY_MS = 86_400_000
const KEY_PEM = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()

/** Until src/http/app.ts registers the route, the test adds it the way app.ts does. */
async function withDigestRoute (api: TestApp): Promise<void> {
  if (api.app.hasRoute({ method: 'GET', url: '/v1/orgs/:orgId/audit-digests' })) return
  await api.app.register(async (scope) => {
    scope.addHook('onRequest', authenticator(api.runtime))
    await scope.register(auditDigestRoutes, { runtime: api.runtime })
  })
}

/**
 * Activity dated three and two days ago (commands carry their own time), in
 * the organization's log and the platform's; answers the day names.
 */
async function pastActivity (runtime: Runtime, orgId: string, now: Date): Promise<{ day1: string, day2: string }> {
  const today = startOfUtcDay(now).getTime()
  const at = (days: number, hours: number): Date => new Date(today - days * DAY_MS + hours * 3_600_000)
  const { identity } = runtime
  await changeOrganization(identity, systemCommand('backfill', at(3, 9)), orgId, { type: 'RenameOrganization', data: { name: 'Day one' } })
  await changeOrganization(identity, systemCommand('backfill', at(3, 15)), orgId,
    { type: 'RenameOrganization', data: { name: 'Day one, later' } })
  await changeOrganization(identity, systemCommand('backfill', at(2, 11)), orgId,
    { type: 'ChangeSettings', data: { settings: { locale: 'de-DE' } } })
  await registerUser(identity, systemCommand('backfill', at(2, 12)), { email: 'old@a.example', displayName: 'Old' })
  await settled(runtime)
  return { day1: at(3, 0).toISOString().slice(0, 10), day2: at(2, 0).toISOString().slice(0, 10) }
}

async function rowOf (sql: SqlClient, orgId: string, action: string, nth = 0): Promise<{ id: string, seq: number }> {
  const { rows } = await sql.query<{ id: string, seq: number }>(
    'SELECT id::text AS id, seq::int AS seq FROM audit_events WHERE org_id = $1 AND action = $2 ORDER BY seq', [orgId, action])
  return rows[nth]!
}

async function digestOf (sql: SqlClient, orgId: string, day: string): Promise<{ last_seq: number, last_hash: string }> {
  const { rows } = await sql.query<{ last_seq: number, last_hash: string }>(
    'SELECT last_seq::int AS last_seq, last_hash FROM audit_digests WHERE chain = $1 AND day = $2', [orgId, day])
  return rows[0]!
}

/** An application whose owner's organization had activity on two past days, digested. */
async function digestedApp (t: Test, sql: SqlClient, env: Record<string, string> = {}) {
  const api = await openTestApp(t, sql, env)
  const { orgId } = api.owner
  const now = new Date()
  const days = await pastActivity(api.runtime, orgId, now)
  const digests = await digestCompleteDays(sql, signingKeyOf(api.runtime.config), now)
  return { api, orgId, now, ...days, digests, verifyOrg: () => verifyAuditLog(api.runtime, orgId) }
}

t.test('the signing key: from AUDIT_SIGNING_KEY as PEM or base64 DER, generated and kept in development, ' +
  'refused when missing in production', async (t) => {
  const pem = signingKeyOf(loadConfig({ NODE_ENV: 'production', AUDIT_SIGNING_KEY: KEY_PEM }))
  const der = Buffer.from(KEY_PEM.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64').toString('base64')
  t.equal(signingKeyOf(loadConfig({ NODE_ENV: 'production', AUDIT_SIGNING_KEY: der })).keyId, pem.keyId, 'base64 PKCS#8 DER')
  t.equal(signingKeyOf(loadConfig({ NODE_ENV: 'production', AUDIT_SIGNING_KEY: KEY_PEM.trim().replaceAll('\n', '\\n') })).keyId, pem.keyId,
    'PEM with \\n for newlines')
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  t.throws(() => loadConfig({ AUDIT_SIGNING_KEY: rsa }), { constructor: ConfigError, message: /AUDIT_SIGNING_KEY: must be an Ed25519 key/ })
  t.throws(() => loadConfig({ AUDIT_SIGNING_KEY: 'not a key' }), { constructor: ConfigError, message: /AUDIT_SIGNING_KEY/ })

  const production = loadConfig({ NODE_ENV: 'production' })
  t.throws(() => signingKeyOf(production), AuditSigningKeyMissing)
  t.throws(() => new AuditDigester({ config: production, logger: pino({ level: 'silent' }) } as never).start(),
    { code: 'audit.signing_key_missing' }, 'the digester, so the server, does not start')

  const dir = mkdtempSync(join(tmpdir(), 'ledgerline-key-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const generated = signingKeyOf(loadConfig({ NODE_ENV: 'development', LEDGERLINE_DATA_DIR: join(dir, 'data') }))
  t.equal(statSync(join(dir, 'data', DEVELOPMENT_KEY_FILE)).mode & 0o777, 0o600, 'kept readable by its owner only')
  t.equal(signingKeyOf(loadConfig({ NODE_ENV: 'development', LEDGERLINE_DATA_DIR: join(dir, 'data') })).keyId, generated.keyId,
    'the same key on the next run')
})

t.test('the digester signs on its schedule and stops', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    await pastActivity(api.runtime, api.owner.orgId, new Date())
    const digester = new AuditDigester(api.runtime, 50)
    digester.start(0)
    let count = 0
    for (let i = 0; i < 100 && count < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      count = (await sql.query('SELECT 1 FROM audit_digests WHERE chain = $1', [api.owner.orgId])).rowCount
    }
    await digester.stop()
    t.equal(count, 2, 'both past days digested')
  })
})

t.test('digests are signed for the days that are over, answered with their public key, ' +
  'and verify passes on an untouched log', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, orgId, now, day1, day2, digests, verifyOrg } = await digestedApp(t, sql, { AUDIT_SIGNING_KEY: KEY_PEM })
    await withDigestRoute(api)
    const key = signingKeyOf(api.runtime.config)
    const mine = digests.filter((d) => d.orgId === orgId)
    t.same(mine.map((d) => d.day), [day1, day2], 'one digest per day that is over; today waits')
    t.ok(digests.some((d) => d.orgId === null && d.day === day2), 'the platform log is digested too')
    const first = await rowOf(sql, orgId, 'org.organization.renamed')
    const { rows: [last] } = await sql.query<{ hash: string }>('SELECT hash FROM audit_events WHERE org_id = $1 AND seq = $2',
      [orgId, first.seq + 1])
    t.match(mine[0], { firstSeq: first.seq, lastSeq: first.seq + 1, rows: 2, lastHash: last!.hash, keyId: key.keyId })
    t.same(await digestCompleteDays(sql, key, now), [], 'a day is digested once')

    const response = await api.call('GET', `/v1/orgs/${orgId}/audit-digests`)
    t.equal(response.statusCode, 200, 'GET …/audit-digests answers')
    const body = response.json()
    const publicKey = createPublicKey(body.publicKey)
    t.equal(body.keyId, createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('hex').slice(0, 16),
      'key id: SHA-256 of the public key')
    t.same(body.items.map((d: { day: string }) => d.day), [day2, day1], 'newest day first')
    for (const item of body.items) {
      const { orgId: o, day, firstSeq, lastSeq, lastHash, rows, signedAt } = item
      t.equal(item.signedText, canonicalJson({ orgId: o, day, firstSeq, lastSeq, lastHash, rows, signedAt }),
        'the signed text is the canonical JSON of the facts')
      t.ok(verify(null, Buffer.from(item.signedText), publicKey, Buffer.from(item.signature, 'base64')),
        `the digest of ${day} verifies with the published key`)
    }
    const page = (await api.call('GET', `/v1/orgs/${orgId}/audit-digests?limit=1`)).json()
    t.same([page.items.map((d: { day: string }) => d.day), page.nextBefore], [[day2], day2])
    const next = (await api.call('GET', `/v1/orgs/${orgId}/audit-digests?limit=1&before=${page.nextBefore}`)).json()
    t.same([next.items.map((d: { day: string }) => d.day), next.nextBefore], [[day1], null])

    const report = await verifyOrg()
    t.match(report, { ok: true, mismatch: null, firstStoredSeq: 1, digestsChecked: 2, keyId: key.keyId })
    t.equal(report.rowsChecked, (await sql.query('SELECT 1 FROM audit_events WHERE org_id = $1', [orgId])).rowCount)
    t.match(await verifyAuditLog(api.runtime, null), { ok: true, mismatch: null }, 'the platform log verifies')
  })
})

t.test('verify names the first altered or missing row, with its column and both values', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { orgId, verifyOrg } = await digestedApp(t, sql)
    const renamed = await rowOf(sql, orgId, 'org.organization.renamed', 1)

    await sql.query("UPDATE audit_events SET actor_id = 'someone-else' WHERE org_id = $1 AND seq = $2", [orgId, renamed.seq])
    t.match(await verifyOrg(), {
      ok: false,
      mismatch: { kind: 'row', seq: renamed.seq, eventId: renamed.id, column: 'actor_id', expected: 'backfill', found: 'someone-else' }
    })
    await sql.query(
      "UPDATE audit_events SET actor_id = 'backfill', diff = '{\"name\": {\"before\": \"Day one\", \"after\": \"Nothing happened\"}}' " +
      'WHERE org_id = $1 AND seq = $2', [orgId, renamed.seq])
    t.match(await verifyOrg(), {
      mismatch: { kind: 'row', seq: renamed.seq, column: 'diff', expected: { name: { after: 'Day one, later' } },
        found: { name: { after: 'Nothing happened' } } }
    })
    await sql.query('UPDATE audit_events SET diff = $3 WHERE org_id = $1 AND seq = $2',
      [orgId, renamed.seq, JSON.stringify({ name: { before: 'Day one', after: 'Day one, later' } })])
    t.match(await verifyOrg(), { ok: true }, 'put back, the log verifies again')

    await sql.query('DELETE FROM audit_events WHERE org_id = $1 AND seq = 1', [orgId])
    t.match(await verifyOrg(),
      { ok: false, mismatch: { kind: 'row', seq: 1, column: 'row', expected: { action: 'org.organization.created' }, found: null } },
      'a row deleted without a retention purge is missing')
  })
})

t.test('a tampered digest fails verification', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, orgId, day1, verifyOrg } = await digestedApp(t, sql)
    const digest = await digestOf(sql, orgId, day1)

    await sql.query('UPDATE audit_digests SET rows = rows + 1 WHERE chain = $1 AND day = $2', [orgId, day1])
    t.match(await verifyOrg(), { ok: false, mismatch: { kind: 'digest', day: day1, seq: digest.last_seq, column: 'signature' } },
      'an altered fact breaks the signature')
    await sql.query('UPDATE audit_digests SET rows = rows - 1, signature = $3 WHERE chain = $1 AND day = $2',
      [orgId, day1, Buffer.alloc(64, 7).toString('base64')])
    t.match(await verifyOrg(), { mismatch: { kind: 'digest', day: day1, column: 'signature' } }, 'so does an altered signature')

    const other = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
    t.match(await verifyAuditLog({ ...api.runtime, config: loadConfig({ NODE_ENV: 'test', AUDIT_SIGNING_KEY: other }) }, orgId),
      { mismatch: { kind: 'digest', column: 'key_id', found: signingKeyOf(api.runtime.config).keyId } },
      'a digest signed with another key is named')
  })
})

t.test('verify fails at the row of an event altered in the store, and once the rows are rebuilt to match, ' +
  'at the digest that signed it', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, orgId, day1, verifyOrg } = await digestedApp(t, sql)
    const renamed = await rowOf(sql, orgId, 'org.organization.renamed')

    // The store has no guard against UPDATE: exactly what verify is for.
    const { rowCount } = await sql.query(`UPDATE events SET data = jsonb_set(data, '{name}', '"Someone Else Ltd"') WHERE event_id = $1`,
      [renamed.id])
    t.equal(rowCount, 1)
    t.match(await verifyOrg(), {
      ok: false,
      mismatch: { kind: 'row', seq: renamed.seq, eventId: renamed.id, column: 'diff', expected: { name: { after: 'Someone Else Ltd' } },
        found: { name: { after: 'Day one' } } }
    })

    await api.runtime.runner.stop()
    await rebuildProjection({ sql, store: api.runtime.store, projection: auditProjection })
    const digest = await digestOf(sql, orgId, day1)
    t.match(await verifyOrg(),
      { ok: false, mismatch: { kind: 'digest', day: day1, seq: digest.last_seq, column: 'last_hash', found: digest.last_hash } },
      'rows rebuilt from the altered log match it, but not the digest signed before')
  })
})

t.test('after a retention purge, verify starts at the first retained row and still checks every digest', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const { api, orgId, now, verifyOrg } = await digestedApp(t, sql)
    const purges = await purgeExpired(api.runtime, new Date(now.getTime() + 400 * DAY_MS))
    await settled(api.runtime)
    const purge = purges.find((p) => p.orgId === orgId)!
    t.ok(purge.throughSeq > 0)

    t.match(await verifyOrg(), { ok: true, firstStoredSeq: purge.throughSeq + 1, digestsChecked: 2 })
    await sql.query('UPDATE audit_events SET ip = $3 WHERE org_id = $1 AND seq = $2', [orgId, purge.throughSeq + 1, '203.0.113.9'])
    t.match(await verifyOrg(), { ok: false, mismatch: { seq: purge.throughSeq + 1, column: 'ip', expected: null, found: '203.0.113.9' } })
  })
})

t.test('ledgerline audit verify exits 0 on a true log and 1 with the mismatch on an altered one', async (t) => {
  const db = await openTestDatabase('pglite')
  t.teardown(db.dispose)
  const config = loadConfig({ AUDIT_SIGNING_KEY: KEY_PEM, NODE_ENV: 'production' })
  const runtime = await openRuntime(config, pino({ level: 'silent' }), { sql: db.sql, runProjections: true })
  t.teardown(() => runtime.close())
  const cli = (args: string[]): Promise<CliRun> => ledgerline(runtime, args)
  const orgId = (await bootstrap(runtime.identity, systemCommand('test'), { email: 'owner@a.example', orgName: 'Org A' })).orgId
  await pastActivity(runtime, orgId, new Date())

  const digested = await cli(['audit', 'digest', '--json'])
  t.equal(digested.code, 0, digested.stderr)
  t.ok(JSON.parse(digested.stdout).digests.length >= 2)

  const good = await cli(['audit', 'verify', '--org', orgId, '--json'])
  t.equal(good.code, 0, good.stderr)
  t.match(JSON.parse(good.stdout), { ok: true, orgId, mismatch: null, digestsChecked: 2 })

  await db.sql.query("UPDATE audit_events SET target_id = 'elsewhere' WHERE org_id = $1 AND seq = 2", [orgId])
  const bad = await cli(['audit', 'verify', '--org', orgId])
  t.equal(bad.code, 1, bad.stderr)
  t.match(bad.stdout, /mismatch at row 2 \(event [0-9a-f-]+\), target_id:\n {2}expected [^\n]+\n {2}found {4}elsewhere/)
  t.equal((await cli(['audit', 'verify'])).code, 2, 'an organization or --platform is required')
})
