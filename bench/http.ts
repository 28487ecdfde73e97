/**
 * HTTP benchmark: `npm run bench:http`.
 *
 * On a fresh PostgreSQL database (created on the DATABASE_URL server, dropped
 * at the end), sets up an owner with an API token, organizations they own,
 * users to add and a session reader, through the application functions. Then
 * starts the Ledgerline server (`node --import tsx src/main.ts`,
 * NODE_ENV=production) and, as its peer, a bare Fastify hello-world
 * (bench/lib/hello-server.ts), each in its own process, and drives them with
 * autocannon over real sockets, in one run:
 *
 *   session-read        GET /v1/session with a bearer token, req/s against
 *                       GET /hello on the bare Fastify app
 *   command-add-member  POST /v1/orgs/:orgId/members (auth, decide, append,
 *                       respond): every request invites a different user's
 *                       address, the organizations taken in turn (members join
 *                       by accepting; each answer is an org.invitation.created)
 *
 * with p50/p99 latencies of each, and the server's CPU time per request
 * (user + system of its process, from /proc/<pid>/stat, read around each
 * measured run): `session-read-cpu` against the hello-world's, and
 * `command-add-member-cpu`. Every measured run follows a warm-up run of
 * the same load that is not counted. Only 2xx responses count; more than 1%
 * of anything else (or socket errors) fails the run. Results go to
 * bench/results/http.json (DESIGN.md §9).
 *
 * Settings, as env vars or flags (`npm run bench:http -- --seconds 5`):
 *   DATABASE_URL                          server to create the bench database on
 *                                         (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_SECONDS       --seconds         seconds per measured run (10)
 *   BENCH_WARMUP_SECONDS --warmup-seconds seconds per warm-up run (3)
 *   BENCH_CONNECTIONS   --connections     autocannon connections (50)
 *   BENCH_ORGS          --orgs            organizations the owner owns, where members are added (100)
 *   BENCH_USERS         --users           users registered to add (3,000 per second of add-member load)
 *   BENCH_SESSION_ORGS  --session-orgs    memberships of the user whose session is read (3)
 *   BENCH_ROUNDS        --rounds          alternating rounds of session-read, hello then ours (1)
 *   BENCH_ONLY          --only            all | read | command (all); the results file then holds only those
 *   BENCH_SERVER_NODE_ARGS                extra node flags for the Ledgerline server,
 *                                         e.g. "--cpu-prof --cpu-prof-dir=.scratch/prof"
 *   BENCH_KEEP_DB=1     --keep-db         keep the bench database for a look afterwards
 *   BENCH_STRICT=1                        exit 1 when a target is missed
 */
import pg from 'pg'
import { pino } from 'pino'
import { addMember, bootstrap, createOrganization, createToken, registerUser } from '../src/application/identity/commands.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand, type CommandMetadata } from '../src/domain/envelope.ts'
import { formatPosition } from '../src/eventstore/position.ts'
import { openRuntime } from '../src/runtime.ts'
import {
  formatReport, latency, machineInfo, measure, missedTargets, newReport, packageVersion, throughput, writeReport, type BenchResult
} from './lib/results.ts'
import { createBenchDatabase, DEFAULT_SERVER_URL, redact } from './lib/database.ts'
import { compete, CPU_METRIC, cpuPerRequest, run, versusResults, type LoadPlan, type Target } from './lib/load.ts'
import { log } from './lib/log.ts'
import { readOptions } from './lib/options.ts'
import { awaitCaughtUp, HELLO_BODY, serverNodeArgs, startHello, startLedgerline, withServers, type Server } from './lib/server.ts'

// ── configuration ──────────────────────────────────────────────────────────

interface Config {
  serverUrl: string
  seconds: number
  warmupSeconds: number
  connections: number
  orgs: number
  users: number
  sessionOrgs: number
  rounds: number
  only: 'all' | 'read' | 'command'
  serverNodeArgs: string[]
  keepDatabase: boolean
}

/** Add-member rate the default user count leaves room for, per second of load. */
const USERS_PER_SECOND = 3000

const OPTIONS = {
  seconds: { type: 'string', env: 'BENCH_SECONDS', fallback: '10' },
  'warmup-seconds': { type: 'string', env: 'BENCH_WARMUP_SECONDS', fallback: '3' },
  connections: { type: 'string', env: 'BENCH_CONNECTIONS', fallback: '50' },
  orgs: { type: 'string', env: 'BENCH_ORGS', fallback: '100' },
  users: { type: 'string', env: 'BENCH_USERS', fallback: '' },
  'session-orgs': { type: 'string', env: 'BENCH_SESSION_ORGS', fallback: '3' },
  rounds: { type: 'string', env: 'BENCH_ROUNDS', fallback: '1' },
  only: { type: 'string', env: 'BENCH_ONLY', fallback: 'all' },
  'keep-db': { type: 'boolean', env: 'BENCH_KEEP_DB', fallback: '' }
} as const

function config (): Config {
  const { get, num } = readOptions(OPTIONS)
  const only = get('only')
  if (only !== 'all' && only !== 'read' && only !== 'command') throw new Error('--only / BENCH_ONLY is all, read or command')
  const seconds = num('seconds')
  const warmupSeconds = num('warmup-seconds')
  const orgs = Math.round(num('orgs'))
  const sessionOrgs = Math.round(num('session-orgs'))
  if (sessionOrgs > orgs) throw new Error('--session-orgs cannot exceed --orgs')
  return {
    serverUrl: process.env.DATABASE_URL || DEFAULT_SERVER_URL,
    seconds,
    warmupSeconds,
    connections: Math.round(num('connections')),
    orgs,
    users: get('users') === '' ? Math.ceil(USERS_PER_SECOND * (seconds + warmupSeconds)) : Math.round(num('users')),
    sessionOrgs,
    rounds: Math.max(1, Math.round(num('rounds'))),
    only,
    serverNodeArgs: serverNodeArgs(),
    keepDatabase: ['1', 'true'].includes(get('keep-db'))
  }
}

// ── set-up ─────────────────────────────────────────────────────────────────

interface Fixture {
  /** The owner of every bench organization: the caller of add-member. */
  readonly ownerToken: string
  /** A user with `sessionOrgs` memberships: the caller of session-read. */
  readonly readerToken: string
  readonly orgIds: readonly string[]
  /** Registered, in no organization yet: one per add-member request. */
  readonly userIds: readonly string[]
  /** The log's head once set up: the servers' read models must reach it before a run. */
  readonly head: string
}

/** Concurrent commands while setting up. */
const SETUP_CONCURRENCY = 16

/** Writes the fixture through the application functions, as the CLI's `ledgerline bootstrap` would. */
async function setUp (cfg: Config, databaseUrl: string): Promise<Fixture> {
  const runtime = await openRuntime(
    loadConfig({ NODE_ENV: 'production', DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: String(SETUP_CONCURRENCY + 4) }),
    pino({ level: 'warn' }))
  try {
    const services = runtime.identity
    const owner = await bootstrap(services, systemCommand('bench-http'),
      { email: 'owner@bench.example', orgName: 'Bench Org 0', displayName: 'Bench Owner' })
    const as = (userId: string): CommandMetadata => ({ ...systemCommand('bench-http'), actor: { type: 'user', id: userId } })

    const orgIds = [owner.orgId]
    await measure({ concurrency: SETUP_CONCURRENCY, ops: cfg.orgs - 1 }, async () => {
      const { orgId } = await createOrganization(services, as(owner.userId), owner.userId, { name: `Bench Org ${orgIds.length}` })
      orgIds.push(orgId)
    })

    // Without a password: registering is two appends, no scrypt.
    const userIds: string[] = []
    const started = performance.now()
    let next = 0
    await measure({ concurrency: SETUP_CONCURRENCY, ops: cfg.users }, async () => {
      const n = next++
      const user = { email: `user${n}@bench.example`, displayName: `Bench User ${n}` }
      const { userId } = await registerUser(services, systemCommand('bench-http'), user)
      userIds.push(userId)
      if (userIds.length % 10_000 === 0) {
        log(`  registered ${userIds.length.toLocaleString('en-US')} of ${cfg.users.toLocaleString('en-US')} users`)
      }
    })
    log(`  registered ${userIds.length.toLocaleString('en-US')} users in ${((performance.now() - started) / 1000).toFixed(1)} s`)

    const reader = await registerUser(services, systemCommand('bench-http'), { email: 'reader@bench.example', displayName: 'Bench Reader' })
    const { token: readerToken } = await createToken(services, as(reader.userId), reader.userId, { name: 'bench', kind: 'api' })
    for (const orgId of orgIds.slice(0, cfg.sessionOrgs)) {
      await addMember(services, as(owner.userId), orgId, { userId: reader.userId, roles: ['member'] })
    }
    return { ownerToken: owner.token, readerToken, orgIds, userIds, head: formatPosition(await runtime.store.headPosition()) }
  } finally {
    await runtime.close()
  }
}

// ── load ───────────────────────────────────────────────────────────────────

async function sessionRead (cfg: Config, hello: Server, ledgerline: Server, fixture: Fixture): Promise<BenchResult[]> {
  log(`session-read: GET /v1/session (${cfg.sessionOrgs} memberships) vs GET /hello, ${cfg.connections} connections`)
  const plan: LoadPlan = { connections: cfg.connections, seconds: cfg.seconds, warmupSeconds: cfg.warmupSeconds, rounds: cfg.rounds }
  const [peer, ours] = await compete(plan, [
    { label: 'hello', target: { url: `${hello.url}/hello`, expectBody: HELLO_BODY }, server: hello },
    {
      label: 'session',
      target: { url: `${ledgerline.url}/v1/session`, headers: { authorization: `Bearer ${fixture.readerToken}` } },
      server: ledgerline
    }
  ])
  return versusResults('session-read', 'fastify-hello-world', ours!, peer!, { ratio: '>= 0.6' })
}

async function commandAddMember (cfg: Config, ledgerline: Server, fixture: Fixture, databaseUrl: string): Promise<BenchResult[]> {
  const { orgIds, userIds } = fixture
  log(`command-add-member: POST /v1/orgs/:orgId/members over ${orgIds.length} organizations, ` +
    `${userIds.length.toLocaleString('en-US')} users, ${cfg.connections} connections`)
  // Request n adds user n to organization n mod orgs. Past the last user, they
  // are added again, each to the next organization along: (user, org) pairs
  // stay distinct for orgs × users requests.
  let sent = 0
  const target: Target = {
    url: ledgerline.url,
    headers: { authorization: `Bearer ${fixture.ownerToken}`, 'content-type': 'application/json' },
    requests: [{
      method: 'POST',
      setupRequest: (request) => {
        const n = sent++
        const user = n % userIds.length
        const orgId = orgIds[(user + Math.floor(n / userIds.length)) % orgIds.length]!
        // The route invites (members join by accepting): one invitation per request, to the user's address.
        const body = JSON.stringify({ email: `${userIds[user]}@bench.example`, roles: ['member'] })
        return { ...request, path: `/v1/orgs/${orgId}/members`, body }
      }
    }]
  }
  const warm = await run(`warm-up add-member (${cfg.warmupSeconds} s)`, cfg.connections, cfg.warmupSeconds, target)
  const ours = await run(`add-member (${cfg.seconds} s)`, cfg.connections, cfg.seconds, target, ledgerline)
  if (sent > userIds.length) {
    log(`  note: ${sent} requests for ${userIds.length} users: some users were added to a second organization (raise --users)`)
  }
  await checkAppended(databaseUrl, warm.ok + ours.ok)
  const cpu = cpuPerRequest(ours)
  return [
    throughput({ name: 'command-add-member', metric: 'req/s', value: ours.rate, targets: { value: '>= 1500' } }),
    latency({ name: 'command-add-member-p50', metric: 'ms', value: ours.p50 }),
    latency({ name: 'command-add-member-p99', metric: 'ms', value: ours.p99 }),
    ...cpu === undefined ? [] : [latency({ name: 'command-add-member-cpu', metric: CPU_METRIC, value: cpu })]
  ]
}

/**
 * Every 2xx answer wrote its event (more may have landed: requests in flight
 * when a run stopped). The route invites: members join by accepting, so each
 * answer is an `org.invitation.created`.
 */
async function checkAppended (databaseUrl: string, atLeast: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const { rows } = await client.query<{ n: string }>("SELECT count(*)::text AS n FROM events WHERE type = 'org.invitation.created'")
    const appended = Number(rows[0]!.n)
    if (appended < atLeast) throw new Error(`${atLeast} org.invitation.created events expected, ${appended} in the log`)
    const answered = atLeast.toLocaleString('en-US')
    log(`  ${appended.toLocaleString('en-US')} org.invitation.created events in the log (${answered} answered 2xx)`)
  } finally {
    await client.end()
  }
}

const CPU_NOTE = `${CPU_METRIC}: utime + stime of the server's process (from /proc/<pid>/stat) over a measured run, ` +
  '÷ the requests it answered; ' +
  'the load generator runs in another process, so on a 2-core machine this ratio holds where req/s follows what the load generator leaves'

// ── main ───────────────────────────────────────────────────────────────────

async function main (): Promise<void> {
  const cfg = config()
  const started = performance.now()
  log(`bench:http — ${JSON.stringify({ ...cfg, serverUrl: redact(cfg.serverUrl) })}`)
  const db = await createBenchDatabase(cfg.serverUrl, 'ledgerline_bench_http')
  log(`PostgreSQL: ${db.version}, database ${new URL(db.url).pathname.slice(1)}`)
  const release = async (): Promise<void> => {
    if (cfg.keepDatabase) log(`kept ${redact(db.url)}`)
    else await db.drop()
  }
  const results = await withServers(release, async (start) => {
    const users = cfg.users.toLocaleString('en-US')
    log(`set-up: an owner, ${cfg.orgs} organizations, ${users} users, a session reader in ${cfg.sessionOrgs} of them`)
    const fixture = await setUp(cfg, db.url)
    const ledgerline = await start(startLedgerline({ DATABASE_URL: db.url }, cfg.serverNodeArgs))
    const hello = await start(startHello())
    log(`servers: ledgerline at ${ledgerline.url}, hello-world at ${hello.url}`)
    await awaitCaughtUp(ledgerline, fixture.ownerToken, fixture.head, cfg.orgs)
    await awaitCaughtUp(ledgerline, fixture.readerToken, fixture.head, cfg.sessionOrgs)
    return [
      ...cfg.only === 'command' ? [] : await sessionRead(cfg, hello, ledgerline, fixture),
      ...cfg.only === 'read' ? [] : await commandAddMember(cfg, ledgerline, fixture, db.url)
    ]
  })
  const versions = { fastify: packageVersion('fastify'), autocannon: packageVersion('autocannon') }
  const rounds = cfg.rounds === 1 ? '' : `, ${cfg.rounds} alternating rounds of session-read`
  const load = `${cfg.connections} connections, ${cfg.seconds} s per run after ${cfg.warmupSeconds} s of warm-up${rounds}`
  const report = { ...newReport('http', 'npm run bench:http', machineInfo(db.version, { ...versions, load }), results), notes: [CPU_NOTE] }
  const file = writeReport(report)
  console.log('\n' + formatReport(report))
  log(`wrote ${file} in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  if (process.env.BENCH_STRICT === '1' && missedTargets(report).length > 0) process.exitCode = 1
}

await main()
