/**
 * `ledgerline preflight` as an on-call engineer runs it, against a database
 * of its own on the PostgreSQL server. A correctly configured production
 * instance passes every check; each misconfiguration fails, naming its
 * check. The command runs in the test's process with the environment a
 * process would be given (test/helpers/ledgerline.ts); the table of a
 * passing run and of a failing one are printed by a process of its own,
 * whose exit status is the check's. The pure configuration checks are
 * tested beside.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { digestCompleteDays } from '../src/application/audit/digests.ts'
import { signingKeyOf } from '../src/application/audit/signing-key.ts'
import { bootstrap, changeOrganization, createOrganization, registerUser } from '../src/application/identity/commands.ts'
import { checkAlerts, configChecks, isLocalHost, parseServiceUrl, weakPasswords, type Check } from '../src/ops/preflight.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { openRuntime, type Runtime } from '../src/runtime.ts'
import { settled } from './helpers/assertions.ts'
import { cli } from './helpers/cli.ts'
import { onServer } from './helpers/databases.ts'
import { ledgerline } from './helpers/ledgerline.ts'

const SERVER_URL = process.env.DATABASE_URL
const DAY = 86_400_000
const KEY = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
const WEBHOOK_SECRETS_KEY = randomBytes(32).toString('base64')

t.setTimeout(600_000)

interface Report { ok: boolean, checks: Check[] }

const named = (report: Report, name: string): Check => {
  const check = report.checks.find((c) => c.name === name)
  if (check === undefined) throw new Error(`no check ${name} in ${JSON.stringify(report)}`)
  return check
}

const failed = (report: Report): string[] => report.checks.filter((c) => !c.ok && c.severity === 'fail').map((c) => c.name)

async function preflight (t: Test, env: Record<string, string>,
  args: string[] = []): Promise<Report & { code: number | null, stdout: string }> {
  const run = await ledgerline(undefined, ['preflight', '--production', '--json', ...args], { env })
  let report: Report
  try {
    report = JSON.parse(run.stdout) as Report
  } catch {
    throw new Error(`preflight printed no JSON (exit ${run.code}): ${run.stdout}\n${run.stderr}`)
  }
  t.comment(`failed: ${failed(report).join(', ') || 'none'}`)
  return { ...report, code: run.code, stdout: run.stdout }
}

/**
 * A failing run: exit code non-zero, the check failed, and its name in the table a person reads too (printed by a
 * process of its own when `spawn`).
 */
async function failsOn (t: Test, env: Record<string, string>, name: string,
  { args = [] as string[], alone = false, spawn = false } = {}): Promise<Check> {
  const report = await preflight(t, env, args)
  t.not(report.code, 0, 'exits non-zero')
  t.equal(report.ok, false)
  const check = named(report, name)
  t.match(check, { ok: false, severity: 'fail' }, `${name} fails`)
  if (alone) t.same(failed(report), [name], 'and nothing else does')
  const table = spawn
    ? await cli(['preflight', '--production', ...args], env, 90_000)
    : await ledgerline(undefined, ['preflight', '--production', ...args], { env })
  t.not(table.code, 0)
  t.match(table.stdout, new RegExp(`${name.replace('.', '\\.')}\\s+FAIL`), 'the table names the failing check')
  return check
}

interface Instance {
  readonly env: Record<string, string>
  readonly password: string
  readonly orgId: string
  readonly query: (text: string, params?: unknown[]) => Promise<pg.QueryResult>
  /** The runtime of this instance, projections stopped; closed by the test. */
  readonly runtime: () => Promise<Runtime>
}

/**
 * A production instance done right: a database (and a role owning it, with a
 * strong password) of its own on the local server, an Ed25519 signing key,
 * migrated, some activity (a digest signed over a finished day, rows today),
 * projections run once. The server's local trust authentication ignores the
 * password; a server asking for one (scram) gets the right one.
 */
async function instance (t: Test, seed: (runtime: Runtime, owner: { userId: string, orgId: string }) =>
  Promise<void> = async () => {}): Promise<Instance> {
  const id = randomBytes(5).toString('hex')
  const role = `ledgerline_pf_${id}`
  const password = randomBytes(18).toString('base64url')
  await onServer(async (client) => {
    await client.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`)
    await client.query(`CREATE DATABASE ${role} OWNER ${role}`)
  })
  t.teardown(() => onServer(async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${role} WITH (FORCE)`)
    await client.query(`DROP ROLE IF EXISTS ${role}`)
  }))
  const url = new URL(SERVER_URL!)
  url.username = role
  url.password = password
  url.pathname = `/${role}`
  const env = { NODE_ENV: 'production', DATABASE_URL: url.toString(), AUDIT_SIGNING_KEY: KEY, LOG_LEVEL: 'warn',
    METRICS_TOKEN: 'a-metrics-token-of-32-characters', WEBHOOK_SECRETS_KEY }
  const open = (): Promise<Runtime> => openRuntime(loadConfig(env), pino({ level: 'silent' }))
  const runtime = await open() // migrates
  let orgId = ''
  try {
    const owner = await bootstrap(runtime.identity, systemCommand('test'), { email: `owner-${id}@example.com`, orgName: 'Acme' })
    orgId = owner.orgId
    const twoDaysAgo = systemCommand('test', new Date(Date.now() - 2 * DAY))
    const old = await createOrganization(runtime.identity, twoDaysAgo, owner.userId, { name: 'Old Co' })
    await seed(runtime, owner)
    runtime.runner.start()
    await settled(runtime)
    t.ok((await digestCompleteDays(runtime.sql, signingKeyOf(runtime.config), new Date())).length > 0,
      'a digest is signed over a finished day')
    // A row today on the digested chain: preflight verifies that chain, digest included.
    await changeOrganization(runtime.identity, { ...systemCommand('test'), orgId: old.orgId }, old.orgId,
      { type: 'RenameOrganization', data: { name: 'Old Co 2' } })
    await settled(runtime)
  } finally {
    await runtime.close()
  }
  const query = async (text: string, params: unknown[] = []): Promise<pg.QueryResult> => {
    const client = new pg.Client({ connectionString: url.toString() })
    await client.connect()
    try {
      return await client.query(text, params)
    } finally {
      await client.end()
    }
  }
  return { env, password, orgId, query, runtime: open }
}

/** Alert rules and runbooks that pass, in a directory of their own, for tests that break a copy. */
function alertFixture (t: Test): { rules: string, runbooks: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ledgerline-preflight-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'runbooks'))
  writeFileSync(join(dir, 'runbooks', 'service.md'), '# Service\n\n## Service down\n\nRestart it.\n\n## Errors high\n\nRead the logs.\n')
  const rule = (alert: string, anchor: string): string => `      - alert: ${alert}
        expr: up{job="ledgerline"} == 0
        for: 5m
        labels: { severity: page }
        annotations:
          summary: ${alert}
          runbook_url: https://github.com/example/ledgerline/blob/main/runbooks/service.md#${anchor}
`
  writeFileSync(join(dir, 'alerts.yml'),
    `groups:\n  - name: ledgerline\n    rules:\n${rule('LedgerlineDown', 'service-down')}${rule('LedgerlineErrorsHigh', 'errors-high')}`)
  return { rules: join(dir, 'alerts.yml'), runbooks: join(dir, 'runbooks') }
}

t.test('configuration checks, without a database', async (t) => {
  const weak = weakPasswords()
  t.ok(weak.has('ledgerline'), 'docker-compose.yml\'s password is known')
  t.ok(weak.has('ledgerline-ci') && weak.has('postgres'))
  t.same(parseServiceUrl('kurrentdb://admin:p%40ss@a.example:2113,[::1]:2113?TLS=false').hosts, ['a.example', '::1'])
  t.equal(parseServiceUrl('kurrentdb://admin:p%40ss@a.example:2113?TLS=false').password, 'p@ss')
  t.equal(parseServiceUrl('postgres://u:p@x:5432/db?tls=false').params.get('tls'), 'false')
  t.ok(isLocalHost('127.0.0.1') && isLocalHost('localhost') && isLocalHost('/var/run/postgresql'))
  t.notOk(isLocalHost('postgres') || isLocalHost('10.0.0.5') || isLocalHost('db.example.com'))

  const base = { NODE_ENV: 'production', DATABASE_URL: 'postgres://app:Zq8-strong-9xT@127.0.0.1/app', AUDIT_SIGNING_KEY: KEY, METRICS_TOKEN: 'a-metrics-token-of-32-characters', WEBHOOK_SECRETS_KEY }
  const checks = (env: Record<string, string>): Check[] => configChecks(loadConfig(env), { production: true, weakPasswords: weak })
  t.same(checks(base).filter((c) => !c.ok), [], 'a production configuration done right passes')
  const failing = (env: Record<string, string>): string[] =>
    checks({ ...base, ...env }).filter((c) => !c.ok).map((c) => `${c.name}:${c.severity}`)
  t.same(failing({ TRUST_PROXY: 'true' }), ['config.trust_proxy:fail'])
  t.same(failing({ TRUST_PROXY: '1' }), [], 'a number of hops is fine')
  t.same(failing({ LOG_LEVEL: 'debug' }), ['config.log_level:warn'], 'payload logging warns')
  t.same(failing({ DATABASE_URL: 'postgres://app:app@127.0.0.1/app' }), ['config.secrets:fail'], 'the user name as password')
  t.same(failing({ DATABASE_URL: 'postgres://app:Zq8-strong-9xT@db.example.com/app?sslmode=prefer' }), ['config.tls:fail'], 'prefer can fall back to plain text')
  t.same(failing({ DATABASE_URL: 'postgres://app:Zq8-strong-9xT@db.example.com/app?sslmode=verify-full' }), [])
  t.same(failing({ KURRENTDB_URL: 'kurrentdb://admin:Zq8-strong-9xT@127.0.0.1:2113?tls=false' }), [], 'tls=false on loopback is local')
  t.same(failing({ KURRENTDB_URL: 'kurrentdb://127.0.0.1:2113' }), ['config.secrets:fail'], 'no password')
  t.same(failing({ METRICS_TOKEN: '' }), ['config.metrics:fail'], '/metrics open on the API port')
  t.same(failing({ METRICS_TOKEN: '', METRICS_PORT: '9464' }), [], 'a listener of its own')
  t.same(failing({ WEBHOOK_SECRETS_KEY: '' }), ['config.webhooks:fail'], 'webhook secrets in plain text')
  t.same(failing({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' }), ['config.webhooks:fail'], 'deliveries to private addresses')
  t.same(failing({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'false' }), [])
  for (const check of checks(base)) t.notMatch(check.detail, WEBHOOK_SECRETS_KEY, 'no detail shows the webhook secrets key')
  const metrics = (env: Record<string, string>): Check | undefined => checks({ ...base, ...env }).find((c) => c.name === 'config.metrics')
  t.match(metrics({ METRICS_TOKEN: '' })?.detail, /METRICS_TOKEN.*METRICS_PORT/)
  t.equal(metrics({})?.detail, '/metrics on the API port, METRICS_TOKEN required')
  t.equal(metrics({ METRICS_PORT: '9464' })?.detail,
    '/metrics on its own listener (METRICS_HOST 127.0.0.1, METRICS_PORT 9464), METRICS_TOKEN required')
  for (const check of checks(base)) t.notMatch(check.detail, base.METRICS_TOKEN, 'no detail shows the metrics token')
  const dev = configChecks(loadConfig({ ...base, NODE_ENV: 'development', AUDIT_SIGNING_KEY: '', METRICS_TOKEN: '' }),
    { production: false, weakPasswords: weak })
  t.same(dev.filter((c) => !c.ok).map((c) => `${c.name}:${c.severity}`),
    ['config.node_env:warn', 'config.audit_signing_key:warn', 'config.metrics:warn'], 'not judged as production: warnings')
  for (const check of checks({ ...base, DATABASE_URL: 'postgres://app:changeme@db.example.com/app' })) t.notMatch(check.detail, 'changeme', 'no detail shows the password')
})

t.test('alert rules: the fixture passes, a missing runbook heading does not', async (t) => {
  const { rules, runbooks } = alertFixture(t)
  t.same(checkAlerts({ rulesFile: rules, runbooksDir: runbooks, timeoutMs: 10_000 }).filter((c) => !c.ok), [])
  writeFileSync(rules, readFileSync(rules, 'utf8').replace('#errors-high', '#no-such-heading'))
  t.match(checkAlerts({ rulesFile: rules, runbooksDir: runbooks, timeoutMs: 10_000 }), [{ name: 'alerts.rules_valid', ok: true }, { name: 'alerts.runbooks_mapped', ok: false, detail: /LedgerlineErrorsHigh.*no heading #no-such-heading/ }])
})

if (SERVER_URL === undefined || SERVER_URL === '') {
  t.comment('preflight against a PostgreSQL server skipped: DATABASE_URL is not set (preflight never opens PGlite)')
} else {
  t.test('on the PostgreSQL server', async (t) => {
    const good = await instance(t)
    const { rules, runbooks } = alertFixture(t)

    t.test('a correctly configured production instance passes every check', async (t) => {
      const report = await preflight(t, good.env)
      t.equal(report.code, 0)
      t.equal(report.ok, true)
      t.same(report.checks.filter((c) => !c.ok), [], 'no failure, no warning')
      t.same(report.checks.map((c) => c.name), [
        'config.node_env', 'config.audit_signing_key', 'config.database_url', 'config.secrets', 'config.tls', 'config.trust_proxy',
        'config.log_level', 'config.metrics', 'config.webhooks',
        'database.reachable', 'database.migrations', 'event_store.reachable', 'projections.caught_up', 'audit.chain_verified',
        'audit.retention_configured',
        'alerts.rules_valid', 'alerts.runbooks_mapped'])
      t.match(named(report, 'audit.chain_verified').detail, /3 chains/, 'the platform\'s and two organizations\' chains')
      t.notMatch(report.stdout, good.password, 'the password is never printed')
      const table = await cli(['preflight', '--production'], good.env, 90_000)
      t.equal(table.code, 0, table.stderr)
      t.match(table.stdout, /preflight passed: 0 failed, 0 warnings/)
    })

    t.test('NODE_ENV not production', async (t) => {
      await failsOn(t, { ...good.env, NODE_ENV: 'development' }, 'config.node_env', { alone: true, spawn: true })
    })

    t.test('the signing key missing (a development key file does not count)', async (t) => {
      const dataDir = mkdtempSync(join(tmpdir(), 'ledgerline-preflight-data-'))
      t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
      writeFileSync(join(dataDir, 'audit-signing-key.pem'), KEY, { mode: 0o600 })
      await failsOn(t, { ...good.env, AUDIT_SIGNING_KEY: '', LEDGERLINE_DATA_DIR: dataDir }, 'config.audit_signing_key')
    })

    t.test('DATABASE_URL unset', async (t) => {
      const { DATABASE_URL: _unset, ...env } = good.env
      const check = await failsOn(t, env, 'config.database_url')
      t.match(check.detail, /PGlite/)
    })

    t.test('a default password', async (t) => {
      const url = new URL(good.env.DATABASE_URL!)
      url.password = 'ledgerline'
      const check = await failsOn(t, { ...good.env, DATABASE_URL: url.toString() }, 'config.secrets')
      t.match(check.detail, /DATABASE_URL/)
    })

    t.test('a remote DATABASE_URL without sslmode', async (t) => {
      const url = new URL(good.env.DATABASE_URL!)
      url.hostname = 'db.example.invalid'
      const check = await failsOn(t, { ...good.env, DATABASE_URL: url.toString() }, 'config.tls', { args: ['--timeout', '3'] })
      t.match(check.detail, /DATABASE_URL points at db\.example\.invalid without sslmode/)
    })

    t.test('KURRENTDB_URL with tls=false to a remote host', async (t) => {
      const env = { ...good.env, KURRENTDB_URL: 'kurrentdb://admin:Zq8-strong-9xT@events.example.invalid:2113?tls=false' }
      const check = await failsOn(t, env, 'config.tls', { args: ['--timeout', '3'] })
      t.match(check.detail, /KURRENTDB_URL points at events\.example\.invalid with tls=false/)
    })

    t.test('an unreachable database', async (t) => {
      const url = new URL(good.env.DATABASE_URL!)
      url.port = '1'
      await failsOn(t, { ...good.env, DATABASE_URL: url.toString() }, 'database.reachable', { args: ['--timeout', '5'] })
    })

    t.test('a migration missing: reported, not applied', async (t) => {
      const db = await instance(t)
      await db.query('DELETE FROM schema_migrations WHERE version = 4')
      const check = await failsOn(t, db.env, 'database.migrations')
      t.match(check.detail, /004_audit_digests\.sql not applied/)
      t.equal((await db.query('SELECT 1 FROM schema_migrations WHERE version = 4')).rowCount, 0, 'preflight applied nothing')
    })

    t.test('projections behind', async (t) => {
      const db = await instance(t)
      const { rows: [{ head }] } = await db.query('SELECT max(global_position) AS head FROM events')
      const runtime = await db.runtime()
      try {
        await registerUser(runtime.identity, systemCommand('test'), { email: 'late@example.com', displayName: 'Late' })
      } finally {
        await runtime.close()
      }
      // As if they had waited ten minutes for projections that do not run.
      await db.query("UPDATE events SET recorded_at = now() - interval '10 minutes' WHERE global_position > $1", [head])
      const check = await failsOn(t, { ...db.env, READY_MAX_LAG_SECONDS: '60' }, 'projections.caught_up', { alone: true })
      t.match(check.detail, /s behind/)
    })

    t.test('a tampered audit row', async (t) => {
      const db = await instance(t)
      t.equal((await db.query("UPDATE audit_events SET actor_label = 'someone else' WHERE org_id = $1 AND seq = 2", [db.orgId])).rowCount,
        1)
      const check = await failsOn(t, db.env, 'audit.chain_verified', { alone: true })
      t.match(check.detail, `org ${db.orgId}: first bad seq 2 (actor_label)`)
    })

    t.test('an alert without a runbook, and a runbook_url to a missing file', async (t) => {
      const report = await preflight(t, good.env, ['--rules', rules, '--runbooks', runbooks])
      t.equal(report.code, 0, 'the fixture passes')
      const text = readFileSync(rules, 'utf8')
      writeFileSync(rules, text.replace(/\n\s+runbook_url: .*#service-down/, '').replace('#errors-high', '').replace('runbooks/service.md\n', 'runbooks/gone.md\n'))
      const check = await failsOn(t, good.env, 'alerts.runbooks_mapped', { args: ['--rules', rules, '--runbooks', runbooks], alone: true })
      t.match(check.detail, /LedgerlineDown: no annotations\.runbook_url/)
      t.match(check.detail, /LedgerlineErrorsHigh: runbook runbooks\/gone\.md does not exist/)
    })

    t.test('retention not in force: rows past it and no purge', async (t) => {
      let oldOrg = ''
      const db = await instance(t, async (runtime, owner) => {
        const at = systemCommand('test', new Date(Date.now() - 40 * DAY))
        oldOrg = (await createOrganization(runtime.identity, at, owner.userId, { name: 'Forty Days Co' })).orgId
      })
      const check = await failsOn(t, db.env, 'audit.retention_configured', { alone: true })
      t.match(check.detail, new RegExp(`org ${oldOrg} keeps rows from .* past its 30-day retention`))

      const runtime = await db.runtime()
      try {
        runtime.runner.start()
        t.ok((await runtime.auditRetention.runOnce())?.length, 'the purge removes them')
        await settled(runtime)
      } finally {
        await runtime.close()
      }
      const after = await preflight(t, db.env)
      t.equal(after.code, 0, 'once purged, every check passes')
      t.match(named(after, 'audit.retention_configured'), { ok: true })
    })
  })
}
