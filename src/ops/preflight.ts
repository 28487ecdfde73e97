/**
 * `ledgerline preflight`: what an on-call engineer checks before a deployment
 * takes traffic. Each check answers `{ name, ok, severity, detail }`: a check
 * not ok with severity `fail` stops the deployment, with `warn` is only
 * reported. A detail names the variable at fault, never its value.
 *
 * Nothing here writes. Migrations are compared, never applied; the runtime
 * (whose opening migrates) is opened only once they are all applied, and
 * with projections stopped. The embedded PGlite directory is not opened at
 * all: a second process on a directory the server uses is unsafe.
 */
import { spawnSync } from 'node:child_process'
import { createPublicKey } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import type { Logger } from 'pino'
import { DEVELOPMENT_KEY_FILE, keyIdOf } from '../application/audit/signing-key.ts'
import { verifyAuditLog, type Mismatch, type VerifyDeps } from '../application/audit/verify.ts'
import { describeStorage, type Config } from '../config.ts'
import { MIN_RETENTION_DAYS, PLATFORM_RETENTION_DAYS, RETENTION_DAYS, retentionDays } from '../domain/audit/retention.ts'
import type { Plan } from '../domain/identity/events.ts'
import { formatPosition } from '../eventstore/position.ts'
import type { EventStore } from '../eventstore/types.ts'
import { checkAlertRules, DEFAULT_RULES_FILE, REPO_ROOT } from './lib/alert-rules.ts'
import { metricsExposure, metricsOpenProblem } from './lib/metrics-access.ts'
import type { ProjectionRunner } from '../projections/runner.ts'
import { openRuntime, type Runtime } from '../runtime.ts'
import { openSqlClient, type SqlClient } from '../sql/client.ts'
import { loadMigrations, type Migration } from '../sql/migrate.ts'

export type Severity = 'fail' | 'warn'

export interface Check {
  readonly name: string
  readonly ok: boolean
  /** What a check that is not ok means: `fail` stops the deployment, `warn` does not. */
  readonly severity: Severity
  readonly detail: string
}

export interface PreflightReport {
  /** No check failed with severity `fail`. */
  readonly ok: boolean
  readonly checks: readonly Check[]
}

const pass = (name: string, detail: string): Check => ({ name, ok: true, severity: 'fail', detail })
const problem = (name: string, severity: Severity, detail: string): Check => ({ name, ok: false, severity, detail })
const skipped = (names: readonly string[], why: string, severity: Severity = 'fail'): Check[] =>
  names.map((name) => problem(name, severity, `not checked: ${why}`))
const listed = (items: readonly string[], max = 5): string =>
  items.length <= max ? items.join('; ') : `${items.slice(0, max).join('; ')}; and ${items.length - max} more`

// ---- 1. Configuration ------------------------------------------------------------------------

/** Passwords of every default, example and CI set-up; the repository's own are added from its files. */
const WELL_KNOWN_PASSWORDS = ['postgres', 'password', 'ledgerline', 'ledgerline-ci', 'changeme', 'changeit', 'secret', 'admin', 'root']

/** The well-known passwords plus those `docker-compose.yml` and `.env.example` use (lower case). */
export function weakPasswords (root = REPO_ROOT): Set<string> {
  const found = new Set(WELL_KNOWN_PASSWORDS)
  for (const file of ['docker-compose.yml', '.env.example']) {
    let text: string
    try {
      text = readFileSync(join(root, file), 'utf8')
    } catch {
      continue // a deployed image need not carry them; the list above still holds
    }
    const values = [...text.matchAll(/PASSWORD\s*[:=]\s*["']?([^\s"'#]+)/gi), ...text.matchAll(/:\/\/[^\s:/@]+:([^\s@/]+)@/g)].map((m) => m[1]!)
    for (const value of values) if (!value.startsWith('$')) found.add(safeDecode(value).toLowerCase())
  }
  return found
}

function safeDecode (text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

interface ParsedUrl { user: string, password: string, hosts: string[], params: URLSearchParams }

/** Credentials, hosts and parameters of a PostgreSQL or KurrentDB URL (KurrentDB may list several hosts). */
export function parseServiceUrl (url: string): ParsedUrl {
  const match = /^[a-z][a-z0-9+.-]*:\/\/(?:([^@/?#]*)@)?([^/?#]*)[^?#]*(?:\?([^#]*))?/i.exec(url)
  const userinfo = match?.[1] ?? ''
  const colon = userinfo.indexOf(':')
  const params = new URLSearchParams(match?.[3] ?? '')
  const lowered = new URLSearchParams([...params].map(([key, value]): [string, string] => [key.toLowerCase(), value]))
  const hosts = (match?.[2] ?? '').split(',').map((host) => /^\[([^\]]*)\]/.exec(host)?.[1] ?? host.replace(/:\d*$/, ''))
  const socket = lowered.get('host')
  return {
    user: safeDecode(colon === -1 ? userinfo : userinfo.slice(0, colon)),
    password: colon === -1 ? '' : safeDecode(userinfo.slice(colon + 1)),
    hosts: socket !== null && socket !== '' ? [socket] : hosts,
    params: lowered
  }
}

/** Loopback or a Unix socket: traffic that never leaves the machine. */
export function isLocalHost (host: string): boolean {
  const h = host.toLowerCase()
  return h === '' || h.startsWith('/') || h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}

export interface ConfigCheckOptions {
  /** Judge as production whatever NODE_ENV says (`--production`). */
  readonly production: boolean
  readonly weakPasswords: ReadonlySet<string>
}

/**
 * The configuration as production needs it. Judged as production (NODE_ENV
 * or `--production`), what production forbids fails; otherwise it warns, so
 * a developer sees what a production run would say.
 */
export function configChecks (config: Config, options: ConfigCheckOptions): Check[] {
  const severity: Severity = options.production || config.env === 'production' ? 'fail' : 'warn'
  return [
    nodeEnvCheck(config, options.production),
    signingKeyCheck(config, severity),
    config.databaseUrl === undefined
      ? problem('config.database_url', severity,
        'DATABASE_URL is unset: the embedded PGlite database serves one process only, not a production deployment')
      : pass('config.database_url', describeStorage(config)),
    secretsCheck(config, severity, options.weakPasswords),
    tlsCheck(config, severity),
    config.trustProxy === true
      ? problem('config.trust_proxy', severity,
        'TRUST_PROXY=true believes every X-Forwarded-For hop, so clients choose their own address (login rate limits, audit ip): ' +
        'give the number of proxies or their addresses')
      : pass('config.trust_proxy', `TRUST_PROXY ${config.trustProxy === false ? 'off' : 'names the proxies to believe'}`),
    config.logLevel === 'debug' || config.logLevel === 'trace'
      ? problem('config.log_level', 'warn', `LOG_LEVEL=${config.logLevel} logs request and event payloads`)
      : pass('config.log_level', `LOG_LEVEL=${config.logLevel}`),
    metricsCheck(config, severity),
    webhooksCheck(config, severity)
  ]
}

/** Webhook secrets encrypted at rest, and deliveries kept off private networks (WEBHOOK_ALLOW_PRIVATE_TARGETS is for tests). */
function webhooksCheck (config: Config, severity: Severity): Check {
  const problems: string[] = []
  if (config.webhooks.secretsKey === undefined) {
    problems.push('WEBHOOK_SECRETS_KEY is not set: webhook signing secrets would be stored in plain text')
  }
  if (config.webhooks.allowPrivateTargets) {
    problems.push('WEBHOOK_ALLOW_PRIVATE_TARGETS=true lets webhook deliveries reach loopback, private and cloud metadata addresses ' +
      '(tests only)')
  }
  if (problems.length > 0) return problem('config.webhooks', severity, problems.join('; '))
  return pass('config.webhooks', 'webhook secrets encrypted (WEBHOOK_SECRETS_KEY); deliveries refused to private addresses')
}

/** /metrics protected: a token, a listener of its own, or both (the server refuses to start in production otherwise). */
function metricsCheck (config: Config, severity: Severity): Check {
  const open = metricsOpenProblem(config)
  if (open !== undefined) return problem('config.metrics', severity, open)
  const { listener, tokenRequired } = metricsExposure(config)
  const where = listener === 'separate'
    ? `on its own listener (METRICS_HOST ${config.metrics.host}, METRICS_PORT ${config.metrics.port})`
    : 'on the API port'
  return pass('config.metrics', `/metrics ${where}${tokenRequired ? ', METRICS_TOKEN required' : ', no token'}`)
}

function nodeEnvCheck (config: Config, production: boolean): Check {
  if (config.env === 'production') return pass('config.node_env', 'NODE_ENV=production')
  if (production) {
    return problem('config.node_env', 'fail', `NODE_ENV=${config.env}: a production deployment must run with NODE_ENV=production`)
  }
  return problem('config.node_env', 'warn',
    `NODE_ENV=${config.env}: judged as ${config.env}; production rules only warn (run with --production)`)
}

function signingKeyCheck (config: Config, severity: Severity): Check {
  if (config.auditSigningKey === undefined) {
    return problem('config.audit_signing_key', severity,
      'AUDIT_SIGNING_KEY is not set (a development key generated under LEDGERLINE_DATA_DIR does not count): ' +
      'production signs audit digests only with a configured Ed25519 key')
  }
  return pass('config.audit_signing_key', `AUDIT_SIGNING_KEY set (key id ${keyIdOf(createPublicKey(config.auditSigningKey))})`)
}

function urlsOf (config: Config): Array<[string, string]> {
  return [['DATABASE_URL', config.databaseUrl], ['KURRENTDB_URL', config.kurrentDbUrl]]
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
}

function secretsCheck (config: Config, severity: Severity, weak: ReadonlySet<string>): Check {
  const problems: string[] = []
  for (const [variable, url] of urlsOf(config)) {
    const { user, password } = parseServiceUrl(url)
    if (password === '') problems.push(`${variable} has no password`)
    else if (weak.has(password.toLowerCase())) problems.push(`${variable}'s password is a well-known default or example`)
    else if (password === user) problems.push(`${variable}'s password is its user name`)
  }
  if (problems.length > 0) return problem('config.secrets', severity, problems.join('; '))
  const checked = urlsOf(config).map(([variable]) => variable)
  return pass('config.secrets',
    checked.length === 0 ? 'no service URL carries credentials' : `${checked.join(' and ')}: no default or example password`)
}

const TLS_MODES = ['require', 'verify-ca', 'verify-full']

function tlsCheck (config: Config, severity: Severity): Check {
  const problems: string[] = []
  const notes: string[] = []
  if (config.databaseUrl !== undefined) {
    const { hosts, params } = parseServiceUrl(config.databaseUrl)
    const remote = hosts.filter((host) => !isLocalHost(host))
    const mode = params.get('sslmode')
    if (remote.length === 0) notes.push('DATABASE_URL is local: TLS not required')
    else if (mode === null || !TLS_MODES.includes(mode)) {
      problems.push(`DATABASE_URL points at ${remote.join(', ')} without sslmode=require, verify-ca or verify-full`)
    } else notes.push(`DATABASE_URL sslmode=${mode}`)
  }
  if (config.kurrentDbUrl !== undefined) {
    const { hosts, params } = parseServiceUrl(config.kurrentDbUrl)
    const remote = hosts.filter((host) => !isLocalHost(host))
    if (remote.length === 0) notes.push('KURRENTDB_URL is local')
    else if (params.get('tls') === 'false') problems.push(`KURRENTDB_URL points at ${remote.join(', ')} with tls=false`)
    else if (params.get('tlsverifycert') === 'false') problems.push(`KURRENTDB_URL points at ${remote.join(', ')} with tlsVerifyCert=false`)
    else notes.push('KURRENTDB_URL uses TLS')
  }
  if (problems.length > 0) return problem('config.tls', severity, problems.join('; '))
  return pass('config.tls', notes.length === 0 ? 'no database URL' : notes.join('; '))
}

/** Every password the configuration holds replaced, so no detail can leak one (driver errors, hosts). */
function redacted (checks: readonly Check[], config: Config): Check[] {
  const secrets = urlsOf(config).map(([, url]) => parseServiceUrl(url).password).filter((password) => password.length >= 3)
  return checks.map((check) => ({
    ...check, detail: secrets.reduce((detail, secret) => detail.replaceAll(secret, '[redacted]'), check.detail)
  }))
}

// ---- 2.–5. Database, event store, projections, audit -----------------------------------------

/** Rejects after `ms`; what resolves later is disposed of, so nothing is left open. */
async function bounded<T> (work: Promise<T>, ms: number, what: string, dispose?: (late: T) => Promise<void>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      if (dispose !== undefined) work.then(dispose, () => {}).catch(() => {})
      reject(new Error(`${what} took longer than ${ms / 1000} s`))
    }, ms)
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

async function guarded (name: string, fn: () => Promise<Check>): Promise<Check> {
  try {
    return await fn()
  } catch (error) {
    return problem(name, 'fail', (error as Error).message)
  }
}

/** Compares the migrations this release carries with `schema_migrations`; applies nothing. */
export async function checkMigrations (sql: SqlClient, migrations: readonly Migration[] = loadMigrations()): Promise<Check> {
  const { rows: [table] } = await sql.query<{ present: boolean }>("SELECT to_regclass('public.schema_migrations') IS NOT NULL AS present")
  const applied = table?.present === true
    ? (await sql.query<{ version: number, name: string }>('SELECT version, name FROM schema_migrations ORDER BY version')).rows
    : []
  const byVersion = new Map(applied.map((row) => [Number(row.version), row.name]))
  const known = new Set(migrations.map((m) => m.version))
  const problems = [
    ...migrations.filter((m) => !byVersion.has(m.version)).map((m) => `${m.name} not applied`),
    ...migrations.filter((m) => byVersion.has(m.version) && byVersion.get(m.version) !== m.name)
      .map((m) => `${m.version} applied as ${byVersion.get(m.version)}, this release has ${m.name}`),
    ...applied.filter((row) => !known.has(Number(row.version)))
      .map((row) => `${row.name} applied but unknown to this release (a newer one migrated this database)`)
  ]
  if (problems.length > 0) {
    return problem('database.migrations', 'fail', `${listed(problems)} (preflight applies nothing: run \`ledgerline migrate\`)`)
  }
  return pass('database.migrations', `all ${migrations.length} migrations applied, through ${migrations.at(-1)?.name ?? 'none'}`)
}

export async function checkEventStore (store: EventStore, config: Config, timeoutMs: number): Promise<Check> {
  const head = await bounded(store.headPosition(), timeoutMs, 'reading the head of the event log')
  return pass('event_store.reachable',
    `${config.kurrentDbUrl === undefined ? 'PostgreSQL' : 'KurrentDB'} event store, log head at ${formatPosition(head)}`)
}

/** As /readyz judges it: the oldest event a projection has not processed is at most READY_MAX_LAG_SECONDS old. */
export async function checkProjections (runner: ProjectionRunner, maxLagSeconds: number, timeoutMs: number): Promise<Check> {
  const lags = await bounded(runner.lag(), timeoutMs, 'reading the projections\' checkpoints')
  const behind = lags.filter((lag) => lag.seconds > maxLagSeconds)
    .map((lag) => `${lag.name} is ${Math.round(lag.seconds)} s behind (${lag.events}${lag.capped ? '+' : ''} events)`)
  if (behind.length > 0) return problem('projections.caught_up', 'fail', `${behind.join('; ')}; READY_MAX_LAG_SECONDS=${maxLagSeconds}`)
  return pass('projections.caught_up', `${lags.map((lag) => lag.name).join(', ')} within ${maxLagSeconds} s`)
}

const DAY_MS = 86_400_000

/**
 * The chains to verify: every chain with rows dated in the last day, every
 * chain with rows no signed digest covers yet (rows written lately but dated
 * earlier), and always the platform's ('').
 */
async function recentChains (sql: SqlClient, since: Date): Promise<string[]> {
  const { rows: [table] } = await sql.query<{ present: boolean }>("SELECT to_regclass('public.audit_chains') IS NOT NULL AS present")
  if (table?.present !== true) return ['']
  const { rows } = await sql.query<{ chain: string }>(
    `SELECT c.chain FROM audit_chains c
       LEFT JOIN (SELECT chain, max(last_seq) AS last_seq FROM audit_digests GROUP BY chain) d ON d.chain = c.chain
      WHERE c.seq > coalesce(d.last_seq, 0)
         OR EXISTS (SELECT 1 FROM audit_events e WHERE coalesce(e.org_id, '') = c.chain AND e.occurred_at >= $1)
      ORDER BY c.chain`, [since])
  return ['', ...rows.map((row) => row.chain).filter((chain) => chain !== '')]
}

const chainName = (chain: string): string => (chain === '' ? 'platform log' : `org ${chain}`)

function describeMismatch (chain: string, m: Mismatch): string {
  const what = m.kind === 'digest' ? `digest of ${m.day ?? '?'}, ${m.column}` : m.column
  return `${chainName(chain)}: first bad seq ${m.seq} (${what})`
}

export interface AuditCheckOptions {
  readonly now: Date
  /** Chains still unverified when it runs out are reported, not verified. */
  readonly budgetMs: number
}

/**
 * `verifyAuditLog` on each recent chain. It cannot start from a digest: the
 * audit rows are recomputed from the start of the event log (their working
 * state spans chains), so each chain costs a read of the whole log. Hence the
 * budget: the platform's chain first, then organizations until it runs out;
 * those left are named in a warning (`ledgerline audit verify --org` checks
 * them one by one). A single chain is never cut short.
 */
export async function checkAuditChains (deps: VerifyDeps, options: AuditCheckOptions): Promise<Check> {
  const deadline = Date.now() + options.budgetMs
  const chains = await recentChains(deps.sql, new Date(options.now.getTime() - DAY_MS))
  const bad: string[] = []
  const left: string[] = []
  let verified = 0
  for (const chain of chains) {
    if (verified > 0 && Date.now() > deadline) {
      left.push(chainName(chain))
      continue
    }
    try {
      const report = await verifyAuditLog(deps, chain === '' ? null : chain)
      if (report.mismatch !== null) bad.push(describeMismatch(chain, report.mismatch))
    } catch (error) {
      bad.push(`${chainName(chain)}: ${(error as Error).message}`)
    }
    verified++
  }
  const unverified = left.length === 0 ? '' : `; not verified within ${options.budgetMs / 1000} s: ${listed(left)}`
  if (bad.length > 0) return problem('audit.chain_verified', 'fail', `${listed(bad)}${unverified}`)
  if (left.length > 0) return problem('audit.chain_verified', 'warn', `${verified} chains verified${unverified}`)
  return pass('audit.chain_verified', `${verified} chains with recent or undigested rows verified against the event log ` +
    `(the platform's and ${verified - 1} organizations)`)
}

/** Why the audit chains cannot be verified with this configuration, if they cannot, without generating a key. */
function auditKeyProblem (config: Config, production: boolean): string | undefined {
  if (config.auditSigningKey !== undefined) return undefined
  if (production || config.env === 'production') return 'AUDIT_SIGNING_KEY is not set, so digests cannot be checked'
  if (config.env === 'development' && !existsSync(join(config.dataDir, DEVELOPMENT_KEY_FILE))) {
    return 'no AUDIT_SIGNING_KEY and no development key file'
  }
  return undefined
}

// ---- 7. Retention ------------------------------------------------------------------------------

/** Rows may outlive their retention by this much: the purge runs an hour apart, and a minute after start. */
const RETENTION_GRACE_MS = 2 * 3_600_000

interface RetentionRow { chain: string, plan: string | null, days: string | null, oldest: number | null }

/**
 * "Retention configured" means the policy is in force, as the state shows it:
 * - every organization's retention in force is within its plan's limits (a
 *   setting below the minimum would purge rows the customer is owed; one
 *   above the plan's maximum is capped, by design, and passes);
 * - no audit chain keeps rows past its retention by more than two hours: the
 *   purge runs hourly and leaves no trace when it has nothing to remove, so
 *   a row overdue is the evidence that it has not run (or has failed), and
 *   no row overdue means it ran or had nothing to do.
 * A purge appended but not yet projected still shows as overdue: the rows
 * are still there.
 */
export async function checkRetention (sql: SqlClient, now: Date, graceMs = RETENTION_GRACE_MS): Promise<Check> {
  const { rows: [table] } = await sql.query<{ present: boolean }>("SELECT to_regclass('public.audit_chains') IS NOT NULL AS present")
  if (table?.present !== true) return pass('audit.retention_configured', 'the audit log is not built yet: nothing is kept, nothing is due')
  const { rows } = await sql.query<RetentionRow>(
    `SELECT c.chain, s.value->>'plan' AS plan, s.value->>'auditRetentionDays' AS days,
            (SELECT extract(epoch FROM e.occurred_at)::float8 FROM audit_events e
              WHERE coalesce(e.org_id, '') = c.chain ORDER BY e.seq LIMIT 1) AS oldest
       FROM audit_chains c LEFT JOIN audit_state s ON s.key = 'org:' || c.chain ORDER BY c.chain`)
  const problems = rows.flatMap((row) => retentionProblems(row, now, graceMs))
  if (problems.length > 0) return problem('audit.retention_configured', 'fail', `${listed(problems)} (runbooks/audit-retention.md)`)
  return pass('audit.retention_configured',
    `${rows.length} audit chains within their plans' retention, none past it by more than ${graceMs / 3_600_000} h`)
}

function retentionProblems (row: RetentionRow, now: Date, graceMs: number): string[] {
  const who = chainName(row.chain)
  const setting = row.days === null ? null : Number(row.days)
  const plan = (row.plan ?? 'free') as Plan // the purge's own fallback for an organization it knows no plan of
  if (row.chain !== '' && RETENTION_DAYS[plan] === undefined) return [`${who}: unknown plan ${row.plan ?? ''}`]
  if (row.chain !== '' && setting !== null && (!Number.isInteger(setting) || setting < MIN_RETENTION_DAYS)) {
    return [`${who}: retention set to ${row.days ?? ''} days, below the minimum of ${MIN_RETENTION_DAYS}`]
  }
  const keep = row.chain === '' ? PLATFORM_RETENTION_DAYS : retentionDays(plan, setting)
  if (row.oldest === null || row.oldest * 1000 >= now.getTime() - keep * DAY_MS - graceMs) return []
  return [`${who} keeps rows from ${new Date(row.oldest * 1000).toISOString()}, past its ${keep}-day retention: the purge is overdue`]
}

// ---- 6. Alerts -----------------------------------------------------------------------------------

export interface AlertCheckOptions {
  readonly rulesFile?: string | undefined
  readonly runbooksDir?: string | undefined
  readonly timeoutMs: number
}

/** The alert rules (src/ops/lib/alert-rules.ts, and `promtool check rules` when it is on PATH) and their runbooks. */
export function checkAlerts (options: AlertCheckOptions): Check[] {
  const rulesFile = options.rulesFile ?? DEFAULT_RULES_FILE
  const shown = relative(REPO_ROOT, rulesFile).startsWith('..') ? rulesFile : relative(REPO_ROOT, rulesFile)
  const { alerts, problems } = checkAlertRules({
    rulesFile, ...(options.runbooksDir === undefined ? {} : { runbooksDir: options.runbooksDir })
  })
  // Every problem about a runbook says "runbook"; the others are about the rules themselves.
  const runbook = problems.filter((p) => /runbook/i.test(p))
  const rules = problems.filter((p) => !/runbook/i.test(p))
  const promtool = runPromtool(rulesFile, options.timeoutMs)
  if (promtool.problem !== undefined) rules.push(promtool.problem)
  if (alerts.length === 0 && rules.length === 0) rules.push(`${shown} defines no alerts`)
  const valid = rules.length > 0
    ? problem('alerts.rules_valid', 'fail', listed(rules))
    : pass('alerts.rules_valid', `${alerts.length} alerts in ${shown}; ${promtool.note}`)
  const mapped = alerts.length === 0
    ? problem('alerts.runbooks_mapped', 'fail', `not checked: no alerts read from ${shown}`)
    : runbook.length > 0
      ? problem('alerts.runbooks_mapped', 'fail', listed(runbook))
      : pass('alerts.runbooks_mapped', `every alert's runbook_url names an existing runbook and heading`)
  return [valid, mapped]
}

function runPromtool (rulesFile: string, timeoutMs: number): { problem?: string, note: string } {
  const result = spawnSync('promtool', ['check', 'rules', rulesFile], { encoding: 'utf8', timeout: timeoutMs })
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return { note: 'promtool is not on PATH: not run' }
  if (result.error !== undefined) return { problem: `promtool check rules: ${result.error.message}`, note: '' }
  if (result.status !== 0) {
    const output = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-3).join(' ')
    return { problem: `promtool check rules failed: ${output}`, note: '' }
  }
  return { note: 'promtool check rules passed' }
}

// ---- All of it -------------------------------------------------------------------------------------

export interface PreflightOptions {
  /** Judge as production whatever NODE_ENV says, and require NODE_ENV=production. */
  readonly production: boolean
  readonly logger: Logger
  readonly rulesFile?: string | undefined
  readonly runbooksDir?: string | undefined
  /** Bound on each step that waits on a server (connect, a query, the log head). */
  readonly timeoutMs: number
  /** Time for audit chain verification (see checkAuditChains). */
  readonly auditBudgetMs: number
  readonly now?: Date
}

const AFTER_DATABASE = [
  'database.migrations', 'event_store.reachable', 'projections.caught_up', 'audit.chain_verified', 'audit.retention_configured'
]

export async function runPreflight (config: Config, options: PreflightOptions): Promise<PreflightReport> {
  const checks = [
    ...configChecks(config, { production: options.production, weakPasswords: weakPasswords() }),
    ...await storageChecks(config, options),
    ...checkAlerts(options)
  ]
  const shown = redacted(checks, config)
  return { ok: shown.every((check) => check.ok || check.severity === 'warn'), checks: shown }
}

async function storageChecks (config: Config, options: PreflightOptions): Promise<Check[]> {
  if (config.databaseUrl === undefined) {
    const severity = options.production || config.env === 'production' ? 'fail' : 'warn'
    return skipped(['database.reachable', ...AFTER_DATABASE],
      'DATABASE_URL is unset, and the embedded PGlite directory is not opened (a second process on it is unsafe)', severity)
  }
  let sql: SqlClient
  try {
    sql = await bounded(openSqlClient({ databaseUrl: config.databaseUrl, poolSize: 3 }), options.timeoutMs, 'connecting',
      (late) => late.close())
  } catch (error) {
    return [
      problem('database.reachable', 'fail', `${describeStorage(config)}: ${(error as Error).message}`),
      ...skipped(AFTER_DATABASE, 'the database is unreachable')
    ]
  }
  try {
    const { rows: [server] } = await bounded(sql.query<{ version: string }>("SELECT current_setting('server_version') AS version"),
      options.timeoutMs, 'a query')
    const reachable = pass('database.reachable', `PostgreSQL ${server?.version ?? '?'}: ${describeStorage(config)}`)
    const migrations = await guarded('database.migrations',
      () => bounded(checkMigrations(sql), options.timeoutMs, 'reading schema_migrations'))
    const retention = await guarded('audit.retention_configured',
      () => bounded(checkRetention(sql, options.now ?? new Date()), options.timeoutMs, 'reading the audit chains'))
    const runtimeChecks = migrations.ok
      ? await runtimeDependent(config, sql, options)
      : skipped(AFTER_DATABASE.slice(1, 4), 'migrations are pending, and opening the runtime would apply them')
    return [reachable, migrations, ...runtimeChecks, retention]
  } finally {
    await sql.close()
  }
}

/** Event store, projections and audit chains, through the runtime the server would open (projections stopped). */
async function runtimeDependent (config: Config, sql: SqlClient, options: PreflightOptions): Promise<Check[]> {
  const { timeoutMs } = options
  const names = AFTER_DATABASE.slice(1, 4)
  let runtime: Runtime
  try {
    runtime = await bounded(openRuntime(config, options.logger, { sql, runProjections: false }), timeoutMs, 'opening the runtime',
      (late) => late.close())
  } catch (error) {
    return [problem('event_store.reachable', 'fail', (error as Error).message), ...skipped(names.slice(1), 'the runtime did not open')]
  }
  try {
    const store = await guarded('event_store.reachable', () => checkEventStore(runtime.store, config, timeoutMs))
    if (!store.ok) return [store, ...skipped(names.slice(1), 'the event store is unreachable')]
    const projections = await guarded('projections.caught_up', () => checkProjections(runtime.runner, config.readyMaxLagSeconds, timeoutMs))
    const keyProblem = auditKeyProblem(config, options.production)
    const audit = keyProblem !== undefined
      ? problem('audit.chain_verified', options.production || config.env === 'production' ? 'fail' : 'warn', `not checked: ${keyProblem}`)
      : await guarded('audit.chain_verified',
        () => checkAuditChains(runtime, { now: options.now ?? new Date(), budgetMs: options.auditBudgetMs }))
    return [store, projections, audit]
  } finally {
    await runtime.close()
  }
}
