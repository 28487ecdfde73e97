/**
 * http-check of bench/authz.ts: POST /v1/orgs/:orgId/authz/check over HTTP
 * against a bare Fastify route taking the same request: POST /checks on a
 * bare app, the same body parsed and answered with as many results, nothing
 * decided (`http-check`, the target: 60% of its req/s). Also against
 * GET /hello on that app (`http-check-vs-hello`), which does not read a
 * 2.4 KB body: what the request itself costs. All three in the same run, in
 * turn.
 *
 * Set-up, through the application functions: an owner with an API token and
 * an organization; a member holding the built-in `member` role and two custom
 * roles with conditional grants (amount, region, ownership, status and MFA,
 * an IP range, office hours, a deny beating an allow). The owner's request
 * carries a batch of ten checks about that member, with resource attributes
 * and context, as a service asking on behalf of its users would. Before any
 * timing the answer is checked against the decisions written below, and
 * every timed response must be that same body.
 */
import { pino } from 'pino'
import { addMember, bootstrap, changeOrganization, createRole, registerUser } from '../../src/application/identity/commands.ts'
import { loadConfig } from '../../src/config.ts'
import { systemCommand, type CommandMetadata } from '../../src/domain/envelope.ts'
import { parseCondition } from '../../src/domain/rbac/conditions.ts'
import type { GrantData } from '../../src/domain/rbac/events.ts'
import { formatPosition } from '../../src/eventstore/position.ts'
import { openRuntime } from '../../src/runtime.ts'
import { openBenchStorage } from './database.ts'
import { compete, CPU_METRIC, cpuPerRequest, versusResults, type Load, type LoadPlan } from './load.ts'
import { log } from './log.ts'
import { latency, throughput, type BenchResult } from './results.ts'
import { awaitCaughtUp, HELLO_BODY, startHello, startLedgerline, withServers, type Server } from './server.ts'

export interface HttpCheckOptions extends LoadPlan {
  /** DATABASE_URL: the server to create the bench database on (else the default one, else PGlite). */
  readonly databaseUrl: string | undefined
  readonly serverNodeArgs: readonly string[]
  readonly keepDatabase: boolean
}

export interface HttpCheck {
  readonly results: BenchResult[]
  /** Where the data was, for `machine.database`. */
  readonly database: string
  /** What was measured, for the notes. */
  readonly note: string
}

const PEER = 'fastify-hello-world (GET /hello, bare Fastify app)'
const POST_PEER = 'bare Fastify POST /checks, same body, answers without deciding'

/** Custom roles of the member, as the API takes them (conditions checked by parseCondition). */
const ROLES: ReadonlyArray<{ name: string, grants: GrantData[] }> = [
  {
    name: 'Billing clerk',
    grants: [
      // Invoices up to 10,000 in the clerk's regions, and their own invoices of any amount...
      { actions: ['billing:read'], resource: 'invoice', effect: 'allow',
        when: parseCondition({ and: [{ lte: [{ ref: 'resource.amount' }, 10_000] },
          { in: [{ ref: 'resource.region' }, ['eu', 'us']] }] }) },
      { actions: ['billing:read'], resource: 'invoice', effect: 'allow',
        when: parseCondition({ eq: [{ ref: 'resource.createdBy' }, { ref: 'principal.id' }] }) },
      // ...but a disputed one only with MFA.
      { actions: ['billing:read'], resource: 'invoice', effect: 'deny',
        when: parseCondition({ and: [{ eq: [{ ref: 'resource.status' }, 'disputed'] },
          { not: { eq: [{ ref: 'context.mfa' }, true] } }] }) },
      { actions: ['audit:read'], resource: '*', effect: 'allow', when: parseCondition({ and: [{ eq: [{ ref: 'context.mfa' }, true] },
        { ipInCidr: [{ ref: 'context.ip' }, '10.0.0.0/8'] }] }) }
    ]
  },
  {
    name: 'Integrations operator',
    grants: [
      { actions: ['member:invite'], resource: 'organization', effect: 'allow',
        when: parseCondition({ timeBetween: [{ ref: 'context.time' }, '08:00', '18:00', 'Europe/Paris'] }) },
      { actions: ['webhook:manage'], resource: 'webhook', effect: 'allow',
        when: parseCondition({ and: [{ eq: [{ ref: 'resource.ownerTeam' }, 'payments'] }, { eq: [{ ref: 'context.mfa' }, true] }] }) },
      { actions: ['webhook:manage'], resource: 'webhook', effect: 'deny',
        when: parseCondition({ eq: [{ ref: 'resource.environment' }, 'production'] }) }
    ]
  }
]

interface Check {
  readonly action: string
  readonly resource: Readonly<Record<string, unknown>>
  readonly context: Readonly<Record<string, unknown>>
  /** The decision the roles above call for. */
  readonly allowed: boolean
}

/** The batch, about the member (`memberId` stands for their id); six allowed, four not, for as many reasons. */
function batch (memberId: string): Check[] {
  const office = { ip: '10.1.2.3', mfa: false, time: '2026-03-02T10:15:00+01:00' }
  const invoice = (id: string, attributes: Record<string, unknown>): Record<string, unknown> =>
    ({ type: 'invoice', id, currency: 'EUR', createdBy: 'usr_someoneelse', tags: ['q1', 'recurring'], ...attributes })
  return [
    { action: 'billing:read', resource: invoice('inv_1001', { amount: 4200, region: 'eu', status: 'open' }), context: office,
      allowed: true },
    { action: 'billing:read', resource: invoice('inv_1002', { amount: 25_000, region: 'eu', status: 'open' }), context: office,
      allowed: false },
    { action: 'billing:read', resource: invoice('inv_1003', { amount: 25_000, region: 'apac', status: 'paid', createdBy: memberId }),
      context: office, allowed: true },
    { action: 'billing:read', resource: invoice('inv_1004', { amount: 900, region: 'us', status: 'disputed' }), context: office,
      allowed: false },
    { action: 'billing:read', resource: invoice('inv_1004', { amount: 900, region: 'us', status: 'disputed' }),
      context: { ...office, mfa: true }, allowed: true },
    { action: 'audit:read', resource: { type: 'organization' }, context: { ip: '10.20.30.40', mfa: true }, allowed: true },
    { action: 'audit:read', resource: { type: 'organization' }, context: { ip: '203.0.113.9', mfa: true }, allowed: false },
    { action: 'member:invite', resource: { type: 'organization' }, context: office, allowed: true },
    { action: 'webhook:manage', resource: { type: 'webhook', id: 'wh_17', ownerTeam: 'payments', environment: 'staging' },
      context: { ...office, mfa: true }, allowed: true },
    { action: 'webhook:manage', resource: { type: 'webhook', id: 'wh_18', ownerTeam: 'payments', environment: 'production' },
      context: { ...office, mfa: true }, allowed: false }
  ]
}

interface Fixture {
  readonly ownerToken: string
  readonly orgId: string
  readonly memberId: string
  /** The log's head once set up: the server's read models must reach it before a run. */
  readonly head: string
}

async function setUp (storage: Readonly<Record<string, string>>): Promise<Fixture> {
  const runtime = await openRuntime(loadConfig({ NODE_ENV: 'production', ...storage }), pino({ level: 'warn' }))
  try {
    const services = runtime.identity
    const owner = await bootstrap(services, systemCommand('bench-authz'),
      { email: 'owner@bench.example', orgName: 'Bench Org', displayName: 'Bench Owner' })
    // A command id of its own for each command: ids of new aggregates derive from it.
    const asOwner = (): CommandMetadata => ({ ...systemCommand('bench-authz'), actor: { type: 'user', id: owner.userId } })
    const member = { email: 'member@bench.example', displayName: 'Bench Member' }
    const { userId: memberId } = await registerUser(services, systemCommand('bench-authz'), member)
    await addMember(services, asOwner(), owner.orgId, { userId: memberId, roles: ['member'] })
    for (const role of ROLES) {
      const { roleId } = await createRole(services, asOwner(), owner.orgId, role)
      await changeOrganization(services, asOwner(), owner.orgId, { type: 'AssignCustomRole', data: { roleId, userId: memberId } })
    }
    return { ownerToken: owner.token, orgId: owner.orgId, memberId, head: formatPosition(await runtime.store.headPosition()) }
  } finally {
    await runtime.close()
  }
}

/** Sends the batch once and checks every decision; answers the body every timed response must repeat. */
async function sampleAnswer (
  server: Server, path: string, headers: Record<string, string>, checks: readonly Check[], body: string
): Promise<string> {
  const response = await fetch(server.url + path, { method: 'POST', headers, body })
  const text = await response.text()
  if (response.status !== 200) throw new Error(`POST ${path} answered ${response.status}: ${text}`)
  const got = (JSON.parse(text) as { results: Array<{ allowed: boolean }> }).results.map((r) => r.allowed)
  const expected = checks.map((check) => check.allowed)
  const wrong = expected.flatMap((allowed, i) =>
    got[i] === allowed ? [] : [`check ${i} (${checks[i]!.action}): ${String(got[i])}, ${allowed} expected`])
  if (got.length !== expected.length || wrong.length > 0) throw new Error(`POST ${path} decided otherwise: ${wrong.join('; ') || text}`)
  log(`  sample answer checked: ${expected.filter(Boolean).length} of ${expected.length} allowed, as expected`)
  return text
}

export async function httpCheck (options: HttpCheckOptions): Promise<HttpCheck> {
  const storage = await openBenchStorage('ledgerline_bench_authz', options.databaseUrl)
  log(`http-check: ${storage.where}`)
  const measured = await withServers(() => storage.release(options.keepDatabase), async (start) => {
    const fixture = await setUp(storage.env)
    const ledgerline = await start(startLedgerline(storage.env, options.serverNodeArgs))
    const hello = await start(startHello())
    log(`  servers: ledgerline at ${ledgerline.url}, hello-world at ${hello.url}`)
    await awaitCaughtUp(ledgerline, fixture.ownerToken, fixture.head, 1)
    return measureChecks(options, ledgerline, hello, fixture)
  })
  return { ...measured, database: storage.version }
}

/** What the bare route answers for every check. */
function allowedOnly (): { allowed: true } {
  return { allowed: true }
}

/** `http-check-vs-hello-cpu`: the server's CPU time per request against the hello-world's for GET /hello. */
function cpuVersusHello (ours: Load, hello: Load): BenchResult[] {
  const [oursCpu, helloCpu] = [cpuPerRequest(ours), cpuPerRequest(hello)]
  if (oursCpu === undefined || helloCpu === undefined) return []
  return [latency({ name: 'http-check-vs-hello-cpu', metric: CPU_METRIC, value: oursCpu, peer: { name: PEER, value: helloCpu } })]
}

/** The batch checked once, then GET /hello, the bare POST /checks and ours in turn. */
async function measureChecks (
  options: LoadPlan, ledgerline: Server, hello: Server, fixture: Fixture
): Promise<Omit<HttpCheck, 'database'>> {
  const path = `/v1/orgs/${fixture.orgId}/authz/check`
  const checks = batch(fixture.memberId)
  const asked = checks.map(({ action, resource, context }) => ({ userId: fixture.memberId, action, resource, context }))
  const body = JSON.stringify({ checks: asked })
  const headers = { authorization: `Bearer ${fixture.ownerToken}`, 'content-type': 'application/json' }
  const expectBody = await sampleAnswer(ledgerline, path, { ...headers, 'x-consistent-with': fixture.head }, checks, body)
  log(`  POST ${path} (${checks.length} checks, ${body.length} bytes) vs GET /hello and POST /checks, ` +
    `${options.connections} connections, ` +
    `${options.rounds} round(s) of ${options.seconds} s each after ${options.warmupSeconds} s of warm-up`)
  const [hi, post, ours] = await compete(options, [
    { label: 'hello', target: { url: `${hello.url}/hello`, expectBody: HELLO_BODY }, server: hello },
    {
      label: 'bare POST /checks',
      target: { url: `${hello.url}/checks`, method: 'POST', headers, body,
        expectBody: JSON.stringify({ results: checks.map(allowedOnly) }) },
      server: hello
    },
    { label: 'authz/check', target: { url: ledgerline.url + path, method: 'POST', headers, body, expectBody }, server: ledgerline }
  ])
  const results = [
    ...versusResults('http-check', POST_PEER, ours!, post!, { ratio: '>= 0.6' }),
    throughput({ name: 'http-check-vs-hello', metric: 'req/s', value: ours!.rate, peer: { name: PEER, value: hi!.rate } }),
    ...cpuVersusHello(ours!, hi!)
  ]
  const note = `http-check: the owner POSTs ${checks.length} checks (${body.length} bytes) about a member holding \`member\` ` +
    `and ${ROLES.length} custom roles of conditional grants, every response checked against the expected decisions; ` +
    `${options.connections} connections, ${options.rounds} alternating round(s) of ${options.seconds} s per contender ` +
    `after ${options.warmupSeconds} s of warm-up each; peer: ${POST_PEER}; http-check-vs-hello: ours against ${PEER}; ` +
    `${CPU_METRIC}: utime + stime of each server's process (from /proc/<pid>/stat) over its measured runs, ÷ the requests it answered`
  return { results, note }
}
