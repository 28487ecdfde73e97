/**
 * Organization-scale benchmark: `npm run bench:org-scale`.
 *
 * One organization grown to 1,000 custom roles, 10,000 members (1,000 of them
 * holding a custom role) and 10,000 invitations, beside a fresh organization
 * of the same owner (one custom role, one member): the peer, read and
 * commanded alike in the same run. The large one is built fast, through the
 * store (events appended in batches of 500 to its stream; 10,000 users
 * registered one stream each), not through HTTP; everything measured goes
 * through real HTTP to the real server (src/main.ts, NODE_ENV=production) on
 * a database of its own:
 *
 *   roles-p95 / members-p95 / retention-p95
 *                      GET …/roles, GET …/members (a page of 50) and
 *                      GET …/audit-retention, one client, p95 in ms; peer:
 *                      the same read on the fresh organization
 *   command-p95        PATCH /v1/orgs/:orgId (a setting), one client, p95 ms
 *   role-command-p95   PATCH …/roles/:roleId (its description): a role event,
 *                      which also renews the organization's policy snapshot
 *   loop-delay-max     the longest event-loop delay in the server while 20
 *                      clients read GET …/roles and GET …/members of the
 *                      large organization, from perf_hooks'
 *                      monitorEventLoopDelay in a module loaded only for the
 *                      bench (bench/lib/loop-delay.mjs); peer: the same load
 *                      on the fresh organization
 *   session-under-load-p95
 *                      GET /v1/session from one more client during that load
 *   server-ms-per-read-under-load
 *                      how long the server's event loop was busy during that
 *                      load, per request served (event-loop utilization):
 *                      what each read costs the server, whatever else runs
 *                      on the machine
 *   cold-read          the first GET …/audit-retention after the server
 *                      started: nothing cached, the whole stream is read and
 *                      folded (what a snapshot would shorten)
 *
 * Every response is checked (status, and the roles' and members' counts).
 * Results go to bench/results/org-scale.json (DESIGN.md §9). Database: a
 * fresh one on the DATABASE_URL server (dropped at the end); without
 * DATABASE_URL, on the default server, or PGlite in a temporary directory
 * when no server listens there or with --pglite.
 *
 * Settings, as env vars or flags (`npm run bench:org-scale -- --members 2000`):
 *   BENCH_ROLES        --roles        custom roles of the large organization (1000)
 *   BENCH_MEMBERS      --members      members (10000)
 *   BENCH_INVITATIONS  --invitations  invitations (10000)
 *   BENCH_OPS          --ops          timed requests per sequential measure (200)
 *   BENCH_LOAD_SECONDS --load-seconds seconds of the 20-client load, per organization (10)
 *   BENCH_CLIENTS      --clients      clients of that load (20)
 *   BENCH_PGLITE=1     --pglite       on PGlite in a temporary directory, whatever server listens
 *   BENCH_KEEP_DB=1    --keep-db      keep the database for a look afterwards
 *   BENCH_STRICT=1                    exit 1 when a target is missed
 */
import { loadavg } from 'node:os'
import pino from 'pino'
import { bootstrap, createOrganization, createRole } from '../src/application/identity/commands.ts'
import { loadConfig } from '../src/config.ts'
import { metadataFor, systemCommand, type CommandMetadata } from '../src/domain/envelope.ts'
import { orgStreamId } from '../src/domain/identity/organization.ts'
import { userStreamId } from '../src/domain/identity/user.ts'
import { formatPosition } from '../src/eventstore/position.ts'
import type { EventStore, NewEvent } from '../src/eventstore/types.ts'
import { openRuntime } from '../src/runtime.ts'
import { openBenchStorage } from './lib/database.ts'
import { log } from './lib/log.ts'
import { readOptions } from './lib/options.ts'
import {
  formatReport, latency, machineInfo, measure, missedTargets, newReport, percentile, writeReport, type BenchResult
} from './lib/results.ts'
import { seededRandom } from './lib/random.ts'
import { awaitCaughtUp, serverNodeArgs, startLedgerline, withServers, type Server } from './lib/server.ts'

const OPTIONS = {
  roles: { env: 'BENCH_ROLES', fallback: '1000' },
  members: { env: 'BENCH_MEMBERS', fallback: '10000' },
  invitations: { env: 'BENCH_INVITATIONS', fallback: '10000' },
  ops: { env: 'BENCH_OPS', fallback: '200' },
  'load-seconds': { env: 'BENCH_LOAD_SECONDS', fallback: '10' },
  clients: { env: 'BENCH_CLIENTS', fallback: '20' },
  pglite: { type: 'boolean', env: 'BENCH_PGLITE', fallback: '' },
  'keep-db': { type: 'boolean', env: 'BENCH_KEEP_DB', fallback: '' }
} as const

const { get, num } = readOptions(OPTIONS)
const config = {
  roles: Math.round(num('roles')),
  members: Math.round(num('members')),
  invitations: Math.round(num('invitations')),
  ops: Math.round(num('ops')),
  loadSeconds: num('load-seconds'),
  clients: Math.round(num('clients')),
  keep: ['1', 'true'].includes(get('keep-db')),
  pglite: ['1', 'true'].includes(get('pglite'))
}
const BATCH = 500
/** Custom roles held: one each by the first members, so holders lists are not empty. */
const HELD = Math.min(config.roles, config.members)

interface Org {
  readonly orgId: string
  readonly roleId: string
  readonly roles: number
  readonly members: number
  /** Holders of `roleId`. */
  readonly holders: number
}

interface Fixture {
  readonly token: string
  readonly large: Org
  readonly fresh: Org
  readonly head: string
}

/** Appends `events` to the stream in batches, each batch one command. */
async function appendBatches (store: EventStore, streamId: string, events: ReadonlyArray<Pick<NewEvent, 'type' | 'data'>>): Promise<void> {
  let version = await store.streamVersion(streamId)
  for (let from = 0; from < events.length; from += BATCH) {
    const command = systemCommand('bench-org-scale')
    const batch = events.slice(from, from + BATCH)
      .map((event, index) => ({ ...event, id: metadataFor(command, index).eventId, metadata: metadataFor(command, index) }))
    version = (await store.append(streamId, batch, { expectedVersion: version })).nextExpectedVersion
  }
}

async function setUp (storage: Readonly<Record<string, string>>): Promise<Fixture> {
  const runtime = await openRuntime(loadConfig({ NODE_ENV: 'production', ...storage }), pino({ level: 'warn' }))
  try {
    const services = runtime.identity
    const started = performance.now()
    const owner = await bootstrap(services, systemCommand('bench-org-scale'),
      { email: 'owner@bench.example', orgName: 'Large Org', displayName: 'Bench Owner' })
    const asOwner = (): CommandMetadata => ({ ...systemCommand('bench-org-scale'), actor: { type: 'user', id: owner.userId } })
    const grants = [{ actions: ['audit:read'], resource: '*', effect: 'allow' as const }]
    const fresh = await createOrganization(services, asOwner(), owner.userId, { name: 'Fresh Org' })
    const freshRole = await createRole(services, asOwner(), fresh.orgId, { name: 'Auditor', grants })
    const largeRole = await createRole(services, asOwner(), owner.orgId, { name: 'Auditor', grants })

    const random = seededRandom(13)
    const userIds = Array.from({ length: config.members }, (_, i) => `usr_bench_${String(i).padStart(6, '0')}`)
    for (let from = 0; from < userIds.length; from += 50) {
      await Promise.all(userIds.slice(from, from + 50).map((userId) => {
        const command = systemCommand('bench-org-scale')
        const data = { userId, email: `${userId}@bench.example`, displayName: `Member ${userId.slice(-6)}` }
        return runtime.store.append(userStreamId(userId),
          [{ id: metadataFor(command, 0).eventId, type: 'identity.user.registered', data, metadata: metadataFor(command, 0) }],
          { expectedVersion: 'no_stream' })
      }))
    }
    const roleIds = Array.from({ length: config.roles - 1 }, (_, i) => `role_bench${String(i).padStart(5, '0')}`)
    const hex = (): string => Array.from({ length: 64 }, () => '0123456789abcdef'[Math.floor(random() * 16)]).join('')
    const expiresAt = new Date(Date.now() + 7 * 86_400_000).toISOString()
    await appendBatches(runtime.store, orgStreamId(owner.orgId), [
      ...roleIds.map((roleId, i) => ({
        type: 'rbac.role.created', data: { roleId, name: `Role ${i}`, description: `bench role ${i}`, grants }
      })),
      ...userIds.map((userId) => ({ type: 'org.member.added', data: { userId, roles: ['viewer'] } })),
      ...userIds.slice(0, HELD).map((userId, i) => ({
        type: 'rbac.role.assigned', data: { roleId: i === 0 ? largeRole.roleId : roleIds[i - 1]!, userId }
      })),
      ...Array.from({ length: config.invitations }, (_, i) => ({
        type: 'org.invitation.created',
        data: {
          inviteId: `inv_bench_${i}`, email: `invitee${i}@bench.example`, roles: ['member'],
          invitedBy: { type: 'user', id: owner.userId }, tokenHash: hex(), expiresAt
        }
      }))
    ])
    const events = config.roles - 1 + config.members + HELD + config.invitations
    log(`  set up in ${((performance.now() - started) / 1000).toFixed(1)} s: ${config.members} users, ` +
      `${events} events in the large organization's stream`)
    return {
      token: owner.token,
      large: { orgId: owner.orgId, roleId: largeRole.roleId, roles: config.roles, members: config.members + 1, holders: 1 },
      fresh: { orgId: fresh.orgId, roleId: freshRole.roleId, roles: 1, members: 1, holders: 0 },
      head: formatPosition(await runtime.store.headPosition())
    }
  } finally {
    await runtime.close()
  }
}

/**
 * Bodies of reads already checked, by path: a later answer must be the same text (the state does not change
 * while reads are timed), which costs the bench far less CPU than parsing 200 kB of roles again; it shares
 * the machine with the server.
 */
const checked = new Map<string, string>()

/** One request, its status and (for the lists) its size checked; a read checked once must answer the same. */
async function call (
  server: Server, token: string, method: string, path: string, body?: unknown, check?: (json: unknown) => string | undefined
): Promise<void> {
  const response = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  if (response.status !== 200) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 500)}`)
  if (check === undefined) return
  const before = checked.get(path)
  if (before !== undefined) {
    if (text !== before) throw new Error(`${method} ${path} answered otherwise than before`)
    return
  }
  const wrong = check(JSON.parse(text))
  if (wrong !== undefined) throw new Error(`${method} ${path}: ${wrong}`)
  checked.set(path, text)
}

const BUILT_IN = 4
const rolesCheck = (org: Org) => (json: unknown): string | undefined => {
  const items = (json as { items: Array<{ roleId: string, holders?: string[] }> }).items
  if (items.length !== BUILT_IN + org.roles) return `${items.length} roles, ${BUILT_IN + org.roles} expected`
  const holders = items.find((role) => role.roleId === org.roleId)?.holders?.length
  return holders === org.holders ? undefined : `role ${org.roleId} has ${String(holders)} holders, ${org.holders} expected`
}
const membersCheck = (org: Org) => (json: unknown): string | undefined => {
  const items = (json as { items: unknown[] }).items
  return items.length === Math.min(50, org.members) ? undefined : `${items.length} members on the first page`
}

/** p95 of `ops` sequential requests (after 10 untimed). */
async function p95 (label: string, request: (index: number) => Promise<void>): Promise<number> {
  for (let i = 0; i < 10; i++) await request(-1 - i)
  const measured = await measure({ ops: config.ops }, (_worker, index) => request(index))
  const value = percentile(measured.samples, 95)
  log(`  ${label}: p50 ${percentile(measured.samples, 50).toFixed(2)} ms, p95 ${value.toFixed(2)} ms, ` +
    `max ${Math.max(...measured.samples).toFixed(1)} ms`)
  return value
}

interface Delays {
  /** The longest event-loop delay the server reported. */
  readonly maxDelay: number
  /** Reports (one per 200 ms) whose longest delay was over 50 ms, and all reports. */
  readonly over50: number
  readonly windows: number
  /** The longest garbage-collection pause. */
  readonly maxGc: number
  /** Milliseconds the server's event loop was busy. */
  readonly busyMs: number
}

/** What the server reported of its event loop while `work` ran. */
async function loopDelayDuring (server: Server, work: () => Promise<void>): Promise<Delays> {
  await new Promise((resolve) => setTimeout(resolve, 300))
  server.clearOutput()
  await work()
  await new Promise((resolve) => setTimeout(resolve, 300))
  const reports = server.output().split('\n').filter((line) => line.startsWith('LOOP_DELAY '))
    .map((line) => JSON.parse(line.slice('LOOP_DELAY '.length)) as { maxMs: number, gcMaxMs: number, busyMs: number })
  if (reports.length === 0) throw new Error('the server reported no event-loop delay (is bench/lib/loop-delay.mjs loaded?)')
  return {
    maxDelay: Math.max(...reports.map((r) => r.maxMs)),
    over50: reports.filter((r) => r.maxMs > 50).length,
    windows: reports.length,
    maxGc: Math.max(...reports.map((r) => r.gcMaxMs)),
    busyMs: reports.reduce((total, r) => total + r.busyMs, 0)
  }
}

interface Load extends Delays {
  readonly readP95: number
  readonly sessionP95: number
  /** Reads per second. */
  readonly reads: number
  /** The server's busy time per request served (reads and sessions), ms. */
  readonly busyPerRequest: number
}

/** `clients` clients reading the organization's roles and members for the load's seconds, one more reading the session. */
async function readLoad (server: Server, token: string, org: Org): Promise<Load> {
  let readSamples: readonly number[] = []
  let sessionSamples: readonly number[] = []
  const delays = await loopDelayDuring(server, async () => {
    const [reads, sessions] = await Promise.all([
      measure({ concurrency: config.clients, seconds: config.loadSeconds }, (worker, index) => (worker + index) % 2 === 0
        ? call(server, token, 'GET', `/v1/orgs/${org.orgId}/roles`, undefined, rolesCheck(org))
        : call(server, token, 'GET', `/v1/orgs/${org.orgId}/members?limit=50`, undefined, membersCheck(org))),
      measure({ seconds: config.loadSeconds }, () => call(server, token, 'GET', '/v1/session'))
    ])
    readSamples = reads.samples
    sessionSamples = sessions.samples
  })
  const load = {
    ...delays,
    readP95: percentile(readSamples, 95),
    sessionP95: percentile(sessionSamples, 95),
    reads: readSamples.length / config.loadSeconds,
    busyPerRequest: delays.busyMs / (readSamples.length + sessionSamples.length)
  }
  log(`  ${config.clients} clients on ${org.orgId}: ${load.reads.toFixed(0)} reads/s, read p95 ${load.readP95.toFixed(1)} ms, ` +
    `GET /v1/session p95 ${load.sessionP95.toFixed(1)} ms, longest event-loop delay ${load.maxDelay.toFixed(1)} ms ` +
    `(over 50 ms in ${load.over50} of ${load.windows} reports of 200 ms), longest GC pause ${load.maxGc.toFixed(1)} ms, ` +
    `server busy ${load.busyPerRequest.toFixed(2)} ms per request`)
  return load
}

async function main (): Promise<void> {
  const storage = await openBenchStorage('ledgerline_bench_org', process.env.DATABASE_URL || undefined, { pglite: config.pglite })
  log(`org-scale: ${storage.where}`)
  const results: BenchResult[] = []
  const notes: string[] = []
  await withServers(() => storage.release(config.keep), async (start) => {
    const fixture = await setUp(storage.env)
    const server = await start(startLedgerline(storage.env, ['--import', './bench/lib/loop-delay.mjs', ...serverNodeArgs()]))
    await awaitCaughtUp(server, fixture.token, fixture.head, 2)
    const { token, large, fresh } = fixture
    const peer = (value: number): { name: string, value: number } => ({ name: 'the same on a fresh organization', value })
    const both = async (label: string, request: (org: Org, index: number) => Promise<void>): Promise<[number, number]> =>
      [await p95(`${label} (large)`, (i) => request(large, i)), await p95(`${label} (fresh)`, (i) => request(fresh, i))]

    // Nothing of either organization is cached yet: the first read folds its stream.
    const cold = async (org: Org): Promise<number> => {
      const started = performance.now()
      await call(server, token, 'GET', `/v1/orgs/${org.orgId}/audit-retention`)
      return performance.now() - started
    }
    const [coldLarge, coldFresh] = [await cold(large), await cold(fresh)]
    log(`  first read after start (the whole stream read and folded): ${coldLarge.toFixed(0)} ms on the large organization, ` +
      `${coldFresh.toFixed(0)} ms on the fresh one`)

    const [roles, rolesPeer] = await both('GET …/roles',
      (org) => call(server, token, 'GET', `/v1/orgs/${org.orgId}/roles`, undefined, rolesCheck(org)))
    const [members, membersPeer] = await both('GET …/members',
      (org) => call(server, token, 'GET', `/v1/orgs/${org.orgId}/members?limit=50`, undefined, membersCheck(org)))
    const [retention, retentionPeer] = await both('GET …/audit-retention',
      (org) => call(server, token, 'GET', `/v1/orgs/${org.orgId}/audit-retention`))
    const [command, commandPeer] = await both('PATCH /v1/orgs/:orgId',
      (org, i) => call(server, token, 'PATCH', `/v1/orgs/${org.orgId}`, { settings: { benchCounter: i } }))
    const [roleCommand, roleCommandPeer] = await both('PATCH …/roles/:roleId', (org, i) =>
      call(server, token, 'PATCH', `/v1/orgs/${org.orgId}/roles/${org.roleId}`, { description: `described ${i}` }))
    checked.clear() // The commands changed what the reads answer.
    const loaded = await readLoad(server, token, large)
    const quiet = await readLoad(server, token, fresh)

    results.push(
      latency({ name: 'roles-p95', metric: 'ms', value: roles, peer: peer(rolesPeer), targets: { value: '<= 10' } }),
      latency({ name: 'members-p95', metric: 'ms', value: members, peer: peer(membersPeer), targets: { value: '<= 10' } }),
      latency({ name: 'retention-p95', metric: 'ms', value: retention, peer: peer(retentionPeer), targets: { value: '<= 10' } }),
      latency({ name: 'command-p95', metric: 'ms', value: command, peer: peer(commandPeer), targets: { value: '<= 25' } }),
      latency({ name: 'role-command-p95', metric: 'ms', value: roleCommand, peer: peer(roleCommandPeer), targets: { value: '<= 25' } }),
      latency({ name: 'loop-delay-max', metric: 'ms', value: loaded.maxDelay, peer: peer(quiet.maxDelay), targets: { value: '<= 50' } }),
      latency({ name: 'server-ms-per-read-under-load', metric: 'ms', value: loaded.busyPerRequest, peer: peer(quiet.busyPerRequest) }),
      latency({ name: 'cold-read', metric: 'ms', value: coldLarge, peer: peer(coldFresh) }),
      latency({ name: 'reads-under-load-p95', metric: 'ms', value: loaded.readP95, peer: peer(quiet.readP95) }),
      latency({ name: 'session-under-load-p95', metric: 'ms', value: loaded.sessionP95, peer: peer(quiet.sessionP95) })
    )
    notes.push(
      `large organization: ${config.roles} custom roles, ${config.members + 1} members (${HELD} holding a custom role), ` +
      `${config.invitations} invitations, built through the store; fresh: 1 custom role, 1 member. ` +
      `Sequential measures: ${config.ops} requests each after 10 untimed, one client`,
      `load: ${config.clients} clients alternating GET …/roles and GET …/members?limit=50 for ${config.loadSeconds} s ` +
      `plus one client on GET /v1/session; ${loaded.reads.toFixed(0)} reads/s on the large organization, ` +
      `${quiet.reads.toFixed(0)} on the fresh one; event-loop delay from monitorEventLoopDelay ` +
      `(resolution 5 ms) in the server, loaded only for the bench; ` +
      `reports of 200 ms with a delay over 50 ms: ${loaded.over50} of ${loaded.windows} ` +
      `(fresh: ${quiet.over50} of ${quiet.windows}); longest GC pause ${loaded.maxGc.toFixed(1)} ms (fresh: ${quiet.maxGc.toFixed(1)} ms)`,
      `load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (the machine may be shared)`
    )
  })
  const report = { ...newReport('org-scale', 'npm run bench:org-scale', machineInfo(storage.version), results), notes }
  const file = writeReport(report)
  console.log(formatReport(report))
  log(`written to ${file}`)
  if (process.env.BENCH_STRICT === '1' && missedTargets(report).length > 0) process.exitCode = 1
}

await main()
