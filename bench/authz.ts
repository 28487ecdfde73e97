/**
 * Authorization benchmark: `npm run bench:authz`.
 *
 * One policy set, made from a seeded PRNG: 100 roles × 20 grants over 5 verbs
 * on 20 resource types, every grant with a condition of three clauses (an
 * amount bound, ownership or a region, a status among a few), about one grant
 * in seven a deny. It is translated into three engines with the same meaning
 * (any holding allow allows, any holding deny beats it, default deny):
 *
 *   ours            new Policy(roles); can(principal, 'invoice:update', resource, context)
 *   @casl/ability   one ability per principal, built once from its roles' rules
 *                   with its id interpolated (as CASL recommends), `cannot` rules
 *                   after `can` rules so that a holding deny wins;
 *                   ability.can('update', subject('invoice', resource))
 *   casbin (node)   RBAC with ABAC rules: g(user, role) lines, p(role, type, verb,
 *                   condition, eft) lines whose condition the matcher eval()s,
 *                   effect `some(allow) && !some(deny)`; enforce(user, resource, verb)
 *
 * Each principal holds 3 roles. The same pre-generated cases (allowed, denied
 * by a deny, with no holding allow) go to all three, and before any timing every
 * disagreement between the engines is counted and shown. Then, in one run:
 *
 *   can-conditional  our p50 per check in ns, the median over batches (one batch
 *                    = one pass over the cases) of batch time ÷ cases; peer CASL
 *                    measured alike, in alternating rounds; ratio = our checks/s
 *                    ÷ CASL's
 *   can-vs-casbin    our checks/s ÷ casbin's, enforce() awaited one at a time
 *                    (enforceSync is measured too and noted)
 *   compile-1000     new Policy() of 50 roles × 20 grants, median ms
 *
 *   http-check       POST /v1/orgs/:orgId/authz/check over HTTP, req/s against
 *                    a bare Fastify route taking the same request (POST /checks:
 *                    the same body parsed, as many results answered, nothing
 *                    decided; bench/lib/http-check.ts): the real server
 *                    (src/main.ts, NODE_ENV=production) on a database of its
 *                    own, the owner's token, a batch of 10 checks about a
 *                    member holding 2 custom roles of conditional grants; the
 *                    answer checked before timing and every timed response
 *                    checked against it; warm-ups, then alternating rounds,
 *                    same connections and duration; p50/p99 as
 *                    http-check-p50 / -p99, and http-check-vs-hello: ours
 *                    against GET /hello on the same bare app
 *
 * Results go to bench/results/authz.json (DESIGN.md §9). Only http-check uses
 * a database: a fresh one on the DATABASE_URL server (dropped at the end);
 * without DATABASE_URL, on the default server, or PGlite in a temporary
 * directory when no server listens there.
 *
 * Settings, as env vars or flags (`npm run bench:authz -- --scale 0.2`):
 *   BENCH_SCALE          --scale           multiplies every duration (1; 0.2 = smoke run)
 *   BENCH_SEED           --seed            PRNG seed of the policy set and the cases (7)
 *   BENCH_CASES          --cases           cases, i.e. checks per batch (1000)
 *   BENCH_PRINCIPALS     --principals      principals the cases are spread over (50)
 *   BENCH_ROUNDS         --rounds          alternating rounds of ours and CASL (5)
 *   BENCH_ROUND_SECONDS  --round-seconds   seconds per contender per round (1)
 *   BENCH_CASBIN_SECONDS --casbin-seconds  seconds of casbin per API, whole passes (3)
 *   BENCH_COMPILE_RUNS   --compile-runs    timed runs of compile-1000 (21)
 *   DATABASE_URL                           server to create http-check's database on
 *                                          (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_HTTP_SECONDS   --http-seconds    seconds per contender per round of http-check (5)
 *   BENCH_HTTP_ROUNDS    --http-rounds     alternating rounds of http-check (3)
 *   BENCH_HTTP_WARMUP_SECONDS --http-warmup-seconds  seconds of each warm-up run (3)
 *   BENCH_CONNECTIONS    --connections     autocannon connections (50)
 *   BENCH_ONLY           --only            all | can (in-process) | http (all); the results file then holds only those
 *   BENCH_SERVER_NODE_ARGS                 extra node flags for the Ledgerline server,
 *                                          e.g. "--cpu-prof --cpu-prof-dir=.scratch/prof"
 *   BENCH_KEEP_DB=1      --keep-db         keep http-check's database for a look afterwards
 *   BENCH_STRICT=1                         exit 1 when a target is missed or the engines disagree
 */
import { loadavg } from 'node:os'
import { AbilityBuilder, createMongoAbility, subject, type MongoAbility, type MongoQuery } from '@casl/ability'
import { newEnforcer, newModelFromString, type Enforcer } from 'casbin'
import { parseCondition, type Condition } from '../src/domain/rbac/conditions.ts'
import { Policy, type Context, type Grant, type Principal, type Resource, type RoleDefinition } from '../src/domain/rbac/policy.ts'
import {
  formatReport, latency, machineInfo, missedTargets, newReport, packageVersion, percentile, throughput, writeReport,
  type BenchReport, type BenchResult
} from './lib/results.ts'
import { httpCheck, type HttpCheckOptions } from './lib/http-check.ts'
import { redact } from './lib/database.ts'
import { log } from './lib/log.ts'
import { readOptions } from './lib/options.ts'
import { serverNodeArgs } from './lib/server.ts'
import { seededRandom, type Random } from './lib/random.ts'

// ── configuration ──────────────────────────────────────────────────────────

interface Config {
  seed: number
  cases: number
  principals: number
  rounds: number
  roundSeconds: number
  warmupSeconds: number
  casbinSeconds: number
  compileRuns: number
  only: 'all' | 'can' | 'http'
  http: HttpCheckOptions
}

const OPTIONS = {
  scale: { env: 'BENCH_SCALE', fallback: '1' },
  seed: { env: 'BENCH_SEED', fallback: '7' },
  cases: { env: 'BENCH_CASES', fallback: '1000' },
  principals: { env: 'BENCH_PRINCIPALS', fallback: '50' },
  rounds: { env: 'BENCH_ROUNDS', fallback: '5' },
  'round-seconds': { env: 'BENCH_ROUND_SECONDS', fallback: '1' },
  'casbin-seconds': { env: 'BENCH_CASBIN_SECONDS', fallback: '3' },
  'compile-runs': { env: 'BENCH_COMPILE_RUNS', fallback: '21' },
  'http-seconds': { env: 'BENCH_HTTP_SECONDS', fallback: '5' },
  'http-rounds': { env: 'BENCH_HTTP_ROUNDS', fallback: '3' },
  'http-warmup-seconds': { env: 'BENCH_HTTP_WARMUP_SECONDS', fallback: '3' },
  connections: { env: 'BENCH_CONNECTIONS', fallback: '50' },
  only: { env: 'BENCH_ONLY', fallback: 'all' },
  'keep-db': { type: 'boolean', env: 'BENCH_KEEP_DB', fallback: '' }
} as const

function config (): Config {
  const { get, num } = readOptions(OPTIONS)
  const scale = num('scale')
  // Seconds times the scale, without float noise (0.6, not 0.6000000000000001).
  const scaled = (key: keyof typeof OPTIONS): number => Number((num(key) * scale).toPrecision(6))
  const only = get('only')
  if (only !== 'all' && only !== 'can' && only !== 'http') throw new Error('--only / BENCH_ONLY is all, can or http')
  return {
    seed: Math.round(num('seed')),
    cases: Math.round(num('cases')),
    principals: Math.round(num('principals')),
    rounds: Math.round(num('rounds')),
    roundSeconds: scaled('round-seconds'),
    warmupSeconds: Math.min(1, scaled('round-seconds')),
    casbinSeconds: scaled('casbin-seconds'),
    compileRuns: Math.round(num('compile-runs')),
    only,
    http: {
      databaseUrl: process.env.DATABASE_URL || undefined,
      connections: Math.round(num('connections')),
      seconds: scaled('http-seconds'),
      warmupSeconds: scaled('http-warmup-seconds'),
      rounds: Math.round(num('http-rounds')),
      serverNodeArgs: serverNodeArgs(),
      keepDatabase: ['1', 'true'].includes(get('keep-db'))
    }
  }
}

// ── the policy set, engine-neutral ─────────────────────────────────────────

const TYPES = ['invoice', 'payment', 'order', 'customer', 'contract', 'project', 'task', 'ticket', 'document', 'report',
  'expense', 'vendor', 'asset', 'budget', 'campaign', 'lead', 'shipment', 'product', 'subscription', 'refund'] as const
const VERBS = ['read', 'create', 'update', 'delete', 'approve'] as const
const STATUSES = ['draft', 'open', 'pending', 'approved', 'paid', 'disputed', 'locked', 'archived'] as const
const REGIONS = ['eu', 'us', 'apac', 'latam'] as const
const ROLES = 100
const GRANTS_PER_ROLE = 20
const ROLES_PER_PRINCIPAL = 3
const DENY_SHARE = 0.15
const COMPILE_ROLES = 50 // × 20 grants = compile-1000
const ALLOW_BOUNDS = [1000, 5000, 10_000, 50_000]
const DENY_BOUNDS = [500, 1000, 5000, 20_000]
const AMOUNT_BOUNDS = [...new Set([...ALLOW_BOUNDS, ...DENY_BOUNDS])]

/** One clause of a condition, in terms every engine can say. */
type Clause =
  | { readonly kind: 'amount', readonly op: 'lt' | 'lte' | 'gte', readonly bound: number } // resource.amount < bound
  | { readonly kind: 'owner' } // resource.createdBy == principal.id
  | { readonly kind: 'region', readonly region: string } // resource.region == region
  | { readonly kind: 'status', readonly statuses: readonly string[] } // resource.status in statuses

interface SpecGrant {
  readonly type: string
  readonly verb: string
  readonly effect: 'allow' | 'deny'
  readonly clauses: readonly Clause[]
}

interface SpecRole {
  readonly roleId: string
  readonly grants: readonly SpecGrant[]
}

interface Attributes {
  readonly id: string
  readonly amount: number
  readonly createdBy: string
  readonly region: string
  readonly status: string
}

interface Case {
  readonly principal: Principal
  readonly type: string
  readonly verb: string
  /** Ours: `<type>:<verb>`. */
  readonly action: string
  readonly attributes: Attributes
  readonly context: Context
}

const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!

/**
 * A value as it would reach an engine: roles from stored events, checks from
 * request bodies. JSON-parsed strings, not literals or concatenations (V8
 * compares and hashes those differently in map lookups), and no shared objects.
 */
const wire = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T

function sample<T> (random: Random, items: readonly T[], count: number): T[] {
  const copy = [...items]
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (copy.length - i))
    ;[copy[i], copy[j]] = [copy[j]!, copy[i]!]
  }
  return copy.slice(0, count)
}

function specGrant (random: Random, type: string, verb: string): SpecGrant {
  if (random() < DENY_SHARE) {
    return {
      type,
      verb,
      effect: 'deny',
      clauses: [
        { kind: 'amount', op: 'gte', bound: pick(random, DENY_BOUNDS) },
        { kind: 'region', region: pick(random, REGIONS) },
        { kind: 'status', statuses: sample(random, STATUSES, 2 + Math.floor(random() * 2)) }
      ]
    }
  }
  return {
    type,
    verb,
    effect: 'allow',
    clauses: [
      { kind: 'amount', op: random() < 0.5 ? 'lt' : 'lte', bound: pick(random, ALLOW_BOUNDS) },
      random() < 0.6 ? { kind: 'owner' } : { kind: 'region', region: pick(random, REGIONS) },
      { kind: 'status', statuses: sample(random, STATUSES.slice(0, 6), 2 + Math.floor(random() * 3)) }
    ]
  }
}

function specRoles (random: Random): SpecRole[] {
  const actions = TYPES.flatMap((type) => VERBS.map((verb) => ({ type, verb })))
  return Array.from({ length: ROLES }, (_, r) => ({
    roleId: `role_${String(r).padStart(2, '0')}`,
    grants: sample(random, actions, GRANTS_PER_ROLE).map(({ type, verb }) => specGrant(random, type, verb))
  }))
}

interface Constraints {
  low: number
  high: number
  owner: boolean
  region: string | undefined
  statuses: readonly string[]
}

/** Narrows `c` by one clause; false when no resource can meet it and the ones before. */
function constrain (c: Constraints, clause: Clause): boolean {
  switch (clause.kind) {
    case 'amount':
      if (clause.op === 'gte') c.low = Math.max(c.low, clause.bound)
      else c.high = Math.min(c.high, clause.op === 'lt' ? clause.bound : clause.bound + 1)
      return true
    case 'owner': c.owner = true; return true
    case 'region':
      if (c.region !== undefined && c.region !== clause.region) return false
      c.region = clause.region
      return true
    case 'status': c.statuses = c.statuses.filter((s) => clause.statuses.includes(s)); return true
  }
}

/** What the clauses ask of a resource together, or undefined when no resource meets them all. */
function constraintsOf (clauses: readonly Clause[]): Constraints | undefined {
  const c: Constraints = { low: 0, high: Infinity, owner: false, region: undefined, statuses: STATUSES }
  for (const clause of clauses) if (!constrain(c, clause)) return undefined
  return c.low >= c.high || c.statuses.length === 0 ? undefined : c
}

/**
 * Unconstrained amounts spread from 100 to 100,000 on a log scale, so every bound is crossed, and
 * land on a bound now and then; constrained ones on an edge of their range now and then (< against <=).
 */
function amountWithin (random: Random, low: number, high: number): number {
  const edge = random() < 0.25
  if (low === 0 && high === Infinity) return edge ? pick(random, AMOUNT_BOUNDS) : Math.floor(10 ** (2 + 3 * random()))
  if (edge) return high === Infinity || (low > 0 && random() < 0.5) ? low : high - 1
  return low + Math.floor(random() * ((high === Infinity ? Math.max(low * 10, 100_000) : high) - low))
}

/** Attributes under which every clause holds (or undefined when they cannot all hold); the rest at random. */
function attributesFor (
  random: Random, clauses: readonly Clause[], principalId: string, others: readonly string[], id: string
): Attributes | undefined {
  const c = constraintsOf(clauses)
  if (c === undefined) return undefined
  const amount = amountWithin(random, c.low, c.high)
  return {
    id,
    amount,
    createdBy: c.owner || random() < 0.3 ? principalId : pick(random, others),
    region: c.region ?? pick(random, REGIONS),
    status: pick(random, c.statuses)
  }
}

const IPS = ['10.1.2.3', '10.20.30.40', '192.168.1.7', '203.0.113.9'] as const

/**
 * The checks: about 20% on an action the principal both may and may not do
 * (a deny and an allow of its roles), the resource made to meet both when it
 * can; 65% on an action one of its grants names, the resource meeting that
 * grant's condition 60% of the time; 15% on any action at all.
 */
function makeCases (random: Random, roles: readonly SpecRole[], principals: readonly Principal[], count: number): Case[] {
  const byId = new Map(roles.map((role) => [role.roleId, role]))
  const ids = principals.map((p) => p.id)
  return Array.from({ length: count }, (_, i) => {
    const principal = pick(random, principals)
    const held = principal.roles.flatMap((roleId) => byId.get(roleId)!.grants)
    const others = ids.filter((id) => id !== principal.id)
    const roll = random()
    let type: string
    let verb: string
    let meet: readonly Clause[] = []
    const conflicts = held.flatMap((deny) => deny.effect !== 'deny' ? [] : held.filter((g) => g.effect === 'allow' &&
      g.type === deny.type && g.verb === deny.verb).map((allow) => [deny, allow] as const))
    if (roll < 0.2 && conflicts.length > 0) {
      const [deny, allow] = pick(random, conflicts)
      ;({ type, verb } = deny)
      meet = random() < 0.8 ? [...deny.clauses, ...allow.clauses] : allow.clauses
    } else if (roll < 0.85) {
      const grant = pick(random, held)
      ;({ type, verb } = grant)
      if (random() < 0.6) meet = grant.clauses
    } else {
      type = pick(random, TYPES)
      verb = pick(random, VERBS)
    }
    const id = `${type}_${i}`
    const attributes = attributesFor(random, meet, principal.id, others, id) ?? attributesFor(random, [], principal.id, others, id)!
    return { principal, type, verb, action: `${type}:${verb}`, attributes, context: { ip: pick(random, IPS), mfa: random() < 0.5 } }
  })
}

// ── the three translations ─────────────────────────────────────────────────

function oursClause (clause: Clause): Condition {
  switch (clause.kind) {
    case 'amount': return { [clause.op]: [{ ref: 'resource.amount' }, clause.bound] } as Condition
    case 'owner': return { eq: [{ ref: 'resource.createdBy' }, { ref: 'principal.id' }] }
    case 'region': return { eq: [{ ref: 'resource.region' }, clause.region] }
    case 'status': return { in: [{ ref: 'resource.status' }, [...clause.statuses]] }
  }
}

/** Our role definitions; conditions go through parseCondition once, as stored grants would have. */
function oursRoles (roles: readonly SpecRole[], clause: (c: Clause) => Condition = oursClause): RoleDefinition[] {
  return roles.map((role) => ({
    roleId: role.roleId,
    grants: role.grants.map((g): Grant => ({
      actions: [`${g.type}:${g.verb}`],
      resource: g.type,
      effect: g.effect,
      when: parseCondition({ and: g.clauses.map(clause) })
    }))
  }))
}

/** A MongoDB-style query, one field per clause (the principal's id interpolated). */
function caslConditions (clauses: readonly Clause[], principalId: string): MongoQuery {
  const query: Record<string, unknown> = {}
  for (const clause of clauses) {
    const [field, test]: [string, unknown] =
      clause.kind === 'amount' ? ['amount', { [`$${clause.op}`]: clause.bound }]
        : clause.kind === 'owner' ? ['createdBy', { $eq: principalId }]
          : clause.kind === 'region' ? ['region', { $eq: clause.region }]
            : ['status', { $in: [...clause.statuses] }]
    if (field in query) throw new Error(`two clauses on ${field}: the CASL translation would need $and`)
    query[field] = test
  }
  return query as MongoQuery
}

/** The ability of one principal: its roles' rules, `cannot` after `can` (later rules win in CASL). */
function caslAbility (byId: ReadonlyMap<string, SpecRole>, principal: Principal): MongoAbility {
  const { can, cannot, build } = new AbilityBuilder<MongoAbility>(createMongoAbility)
  const grants = principal.roles.flatMap((roleId) => byId.get(roleId)!.grants)
  for (const g of grants) if (g.effect === 'allow') can(g.verb, g.type, caslConditions(g.clauses, principal.id))
  for (const g of grants) if (g.effect === 'deny') cannot(g.verb, g.type, caslConditions(g.clauses, principal.id))
  return build()
}

const CASBIN_MODEL = `
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, typ, act, cond, eft

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = r.act == p.act && r.obj.type == p.typ && g(r.sub, p.sub) && eval(p.cond)
`

const CASBIN_OPS = { lt: '<', lte: '<=', gte: '>=' } as const

/**
 * A casbin matcher expression. `status in [...]` is written as `==` joined by
 * `||`: node-casbin rewrites ` (… , …)` to an array when an expression holds
 * ` in `, and the parentheses it wraps an eval()ed rule in are caught too
 * (the matcher then yields an array and enforce throws).
 */
function casbinCondition (clauses: readonly Clause[]): string {
  return clauses.map((clause) => {
    switch (clause.kind) {
      case 'amount': return `r.obj.amount ${CASBIN_OPS[clause.op]} ${clause.bound}`
      case 'owner': return 'r.obj.createdBy == r.sub'
      case 'region': return `r.obj.region == '${clause.region}'`
      case 'status': return `(${clause.statuses.map((s) => `r.obj.status == '${s}'`).join(' || ')})`
    }
  }).join(' && ')
}

async function casbinEnforcer (roles: readonly SpecRole[], principals: readonly Principal[]): Promise<Enforcer> {
  const enforcer = await newEnforcer(newModelFromString(CASBIN_MODEL))
  const rules = roles.flatMap((role) => role.grants.map((g) => [role.roleId, g.type, g.verb, casbinCondition(g.clauses), g.effect]))
  if (!await enforcer.addPolicies(rules)) throw new Error('casbin refused the policies')
  if (!await enforcer.addGroupingPolicies(principals.flatMap((p) => p.roles.map((roleId) =>
    [p.id, roleId])))) throw new Error('casbin refused the role links')
  return enforcer
}

// ── measuring ──────────────────────────────────────────────────────────────

/** One pass over the cases; returns how many were allowed. */
type Pass = () => number

interface Timing {
  /** Nanoseconds of every pass. */
  readonly passes: number[]
  readonly checks: number
  readonly ns: number
}

/** Runs passes for `seconds`; checks each pass allowed as many as it should. */
function runPasses (
  name: string, pass: Pass, expected: number, cases: number, seconds: number, into: { passes: number[], checks: number, ns: number }
): void {
  const deadline = performance.now() + seconds * 1000
  do {
    const t0 = process.hrtime.bigint()
    const allowed = pass()
    const ns = Number(process.hrtime.bigint() - t0)
    if (allowed !== expected) throw new Error(`${name}: a pass allowed ${allowed} checks, ${expected} expected`)
    into.passes.push(ns)
    into.checks += cases
    into.ns += ns
  } while (performance.now() < deadline)
}

/** Warms every contender up, then runs them in alternating rounds so drift hits them alike. */
function inRounds (cfg: Config, contenders: readonly { name: string, pass: Pass, expected: number }[]): Map<string, Timing> {
  const timings = new Map(contenders.map((c) => [c.name, { passes: [] as number[], checks: 0, ns: 0 }]))
  for (const c of contenders) runPasses(c.name, c.pass, c.expected, cfg.cases, cfg.warmupSeconds, { passes: [], checks: 0, ns: 0 })
  for (let round = 0; round < cfg.rounds; round++) {
    for (const c of contenders) {
      const timing = timings.get(c.name)!
      const before = { checks: timing.checks, ns: timing.ns }
      runPasses(c.name, c.pass, c.expected, cfg.cases, cfg.roundSeconds, timing)
      log(`  round ${round + 1}/${cfg.rounds} ${c.name}: ${rateText((timing.checks - before.checks) / ((timing.ns - before.ns) / 1e9))}`)
    }
  }
  return timings
}

const p50PerCheck = (timing: Timing, cases: number): number => percentile(timing.passes, 50) / cases
const rateOf = (timing: Timing): number => timing.checks / (timing.ns / 1e9)

interface CasbinTiming { readonly rate: number, readonly p50ms: number, readonly checks: number }

/** Whole passes over the cases, one check at a time, until `seconds` have gone by. */
async function timeCasbin (
  seconds: number, cases: readonly CasbinCase[], expected: number, check: (c: CasbinCase) => boolean | Promise<boolean>
): Promise<CasbinTiming> {
  const samples: number[] = []
  const start = performance.now()
  do {
    let allowed = 0
    for (const c of cases) {
      const t0 = performance.now()
      const result = check(c)
      // Awaiting only a promise: an await of enforceSync's boolean would cost it a microtask per check.
      if (typeof result === 'boolean' ? result : await result) allowed++
      samples.push(performance.now() - t0)
    }
    if (allowed !== expected) throw new Error(`casbin: a pass allowed ${allowed} checks, ${expected} expected`)
  } while (performance.now() - start < seconds * 1000)
  const elapsed = (performance.now() - start) / 1000
  return { rate: samples.length / elapsed, p50ms: percentile(samples, 50), checks: samples.length }
}

function median (values: readonly number[]): number {
  return percentile(values, 50)
}

// ── workloads ──────────────────────────────────────────────────────────────

interface OursCase { readonly principal: Principal, readonly action: string, readonly resource: Resource, readonly context: Context }
interface CaslCase { readonly ability: MongoAbility, readonly verb: string, readonly type: string,
  readonly resource: Attributes & { readonly type: string } }
interface CasbinCase { readonly user: string, readonly verb: string, readonly resource: Attributes & { readonly type: string } }

/** compile-1000: our Policy over 50 roles × 20 grants; the first (cold) run is logged apart. */
function compileThousand (cfg: Config, roles: readonly RoleDefinition[]): number {
  const grants = roles.reduce((n, role) => n + role.grants.length, 0)
  const time = (): number => {
    const t0 = process.hrtime.bigint()
    const policy = new Policy(roles)
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    if (!(policy instanceof Policy)) throw new Error('unreachable')
    return ms
  }
  const cold = time()
  for (let i = 0; i < 5; i++) time()
  const runs = Array.from({ length: cfg.compileRuns }, time)
  const ms = median(runs)
  log(`compile-1000: ${grants} grants in ${roles.length} roles: cold ${cold.toFixed(2)} ms, then median ${ms.toFixed(3)} ms of ` +
    `${runs.length} (min ${Math.min(...runs).toFixed(3)}, max ${Math.max(...runs).toFixed(3)})`)
  return ms
}

interface Agreement {
  /** Disagreements with ours. */
  readonly casl: number
  readonly casbin: number
  readonly casbinSync: number
  readonly examples: string[]
  /** Checks each peer allowed. */
  readonly allowed: { readonly casl: number, readonly casbin: number, readonly casbinSync: number }
}

async function agreement (
  decisions: readonly boolean[], caslCases: readonly CaslCase[], casbinCases: readonly CasbinCase[], enforcer: Enforcer
): Promise<Agreement> {
  let casl = 0
  let casbin = 0
  let casbinSync = 0
  const allowed = { casl: 0, casbin: 0, casbinSync: 0 }
  const examples: string[] = []
  for (let i = 0; i < decisions.length; i++) {
    const ours = decisions[i]!
    const c = caslCases[i]!
    const b = casbinCases[i]!
    const byCasl = c.ability.can(c.verb, subject(c.type, c.resource))
    const byCasbin = await enforcer.enforce(b.user, b.resource, b.verb)
    const byCasbinSync = enforcer.enforceSync(b.user, b.resource, b.verb)
    allowed.casl += Number(byCasl)
    allowed.casbin += Number(byCasbin)
    allowed.casbinSync += Number(byCasbinSync)
    if (byCasl !== ours) casl++
    if (byCasbin !== ours) casbin++
    if (byCasbinSync !== ours) casbinSync++
    if ((byCasl !== ours || byCasbin !== ours || byCasbinSync !== ours) && examples.length < 5) {
      examples.push(`case ${i}: ${b.user} ${c.type}:${c.verb} ${JSON.stringify(b.resource)}: ours ${ours}, CASL ${byCasl}, casbin ` +
        `${byCasbin}/${byCasbinSync}`)
    }
  }
  return { casl, casbin, casbinSync, examples, allowed }
}

// ── main ───────────────────────────────────────────────────────────────────

/** What one part of the bench adds to the report. */
interface Part {
  readonly results: readonly BenchResult[]
  readonly notes: readonly string[]
  readonly machine: Readonly<Record<string, unknown>>
  /** A disagreement between the engines: BENCH_STRICT fails the run. */
  readonly disagreements: number
}

/** can-conditional, can-vs-casbin and compile-1000: in this process, no database. */
async function inProcess (cfg: Config): Promise<Part> {
  const random = seededRandom(cfg.seed)
  const spec = wire(specRoles(random))
  const roles = wire(oursRoles(spec))
  const principals: Principal[] = Array.from({ length: cfg.principals }, (_, i) => ({
    id: `usr_${String(i).padStart(3, '0')}`,
    roles: sample(random, spec.map((r) => r.roleId), ROLES_PER_PRINCIPAL)
  }))
  const cases = wire(makeCases(random, spec, principals, cfg.cases))
  const denies = spec.reduce((n, role) => n + role.grants.filter((g) => g.effect === 'deny').length, 0)
  log(`policy set: ${spec.length} roles × ${GRANTS_PER_ROLE} grants (${denies} denies), 3 clauses each; ${principals.length} principals ` +
    `× ${ROLES_PER_PRINCIPAL} roles; ${cases.length} cases`)

  const compileMs = compileThousand(cfg, roles.slice(0, COMPILE_ROLES))

  // Each engine gets its own copies of the resources, the same attributes.
  const policy = new Policy(roles)
  const oursCases: OursCase[] = cases.map((c) => ({ principal: c.principal, action: c.action, resource: { type: c.type, ...c.attributes },
    context: c.context }))
  const byId = new Map(spec.map((role) => [role.roleId, role]))
  const abilities = new Map(principals.map((p) => [p.id, caslAbility(byId, p)]))
  const caslCases: CaslCase[] = cases.map((c) => ({ ability: abilities.get(c.principal.id)!, verb: c.verb, type: c.type,
    resource: subject(c.type, { type: c.type, ...c.attributes }) }))
  const enforcer = await casbinEnforcer(spec, principals)
  const casbinCases: CasbinCase[] = cases.map((c) => ({ user: c.principal.id, verb: c.verb, resource: { type: c.type, ...c.attributes } }))

  // The mix, and whether the three engines say the same on every case.
  const decisions = oursCases.map((c) => policy.can(c.principal, c.action, c.resource, c.context))
  const withoutDenies = new Policy(roles.map((role) => ({ ...role, grants: role.grants.filter((g) => g.effect === 'allow') })))
  const allowed = decisions.filter(Boolean).length
  const reasons = oursCases.map((c) => policy.explain(c.principal, c.action, c.resource, c.context).reason)
  const deniedByDeny = reasons.filter((r) => r === 'denied').length
  const overridden = oursCases.filter((c, i) => !decisions[i] && withoutDenies.can(c.principal, c.action, c.resource, c.context)).length
  if (reasons.some((r, i) => (r === 'allowed') !== decisions[i])) throw new Error('explain() and can() disagree')
  const mix = `${allowed} allowed, ${deniedByDeny} denied by a holding deny (${overridden} of them over a holding allow), ` +
    `${cases.length - allowed - deniedByDeny} with no holding allow`
  log(`cases: ${mix}`)
  const agreed = await agreement(decisions, caslCases, casbinCases, enforcer)
  const agreementText = `disagreements with ours on ${cases.length} cases: CASL ${agreed.casl}, casbin enforce ${agreed.casbin}, casbin ` +
    `enforceSync ${agreed.casbinSync}`
  log(agreementText)
  for (const example of agreed.examples) log(`  ${example}`)

  // can-conditional: ours against CASL, same cases, alternating rounds.
  const oursPass: Pass = () => {
    let n = 0
    for (let i = 0; i < oursCases.length; i++) {
      const c = oursCases[i]!
      if (policy.can(c.principal, c.action, c.resource, c.context)) n++
    }
    return n
  }
  const caslPass: Pass = () => {
    let n = 0
    for (let i = 0; i < caslCases.length; i++) {
      const c = caslCases[i]!
      if (c.ability.can(c.verb, subject(c.type, c.resource))) n++
    }
    return n
  }
  log(`can-conditional: ours vs CASL, batches of ${cfg.cases} checks, ${cfg.rounds} rounds of ${cfg.roundSeconds} s each`)
  const timings = inRounds(cfg, [{ name: 'ours', pass: oursPass, expected: allowed },
    { name: 'casl', pass: caslPass, expected: agreed.allowed.casl }])
  const ours = timings.get('ours')!
  const casl = timings.get('casl')!
  const oursRate = rateOf(ours)
  const caslRate = rateOf(casl)
  log(`  ours: p50 ${p50PerCheck(ours, cfg.cases).toFixed(1)} ns/check, ${rateText(oursRate)}; CASL: p50 ` +
    `${p50PerCheck(casl, cfg.cases).toFixed(1)} ns/check, ${rateText(caslRate)}`)

  // The issue's own example condition: an ipInCidr clause on context.ip in place of the status clause (ours only).
  const cidrPolicy = new Policy(oursRoles(spec, (clause) => clause.kind === 'status' ? { ipInCidr: [{ ref: 'context.ip' },
    '10.0.0.0/8'] } : oursClause(clause)))
  const cidrPass: Pass = () => {
    let n = 0
    for (let i = 0; i < oursCases.length; i++) {
      const c = oursCases[i]!
      if (cidrPolicy.can(c.principal, c.action, c.resource, c.context)) n++
    }
    return n
  }
  const cidr = inRounds({ ...cfg, rounds: 1 }, [{ name: 'ours, ipInCidr clause', pass: cidrPass,
    expected: cidrPass() }]).get('ours, ipInCidr clause')!
  const cidrText = `ours with an ipInCidr clause (context.ip in 10.0.0.0/8) instead of the status clause: p50 ` +
    `${p50PerCheck(cidr, cfg.cases).toFixed(1)} ns/check, ${rateText(rateOf(cidr))}`
  log(`  ${cidrText}`)

  // can-vs-casbin: enforce() awaited one at a time; enforceSync alike, for the notes.
  log(`can-vs-casbin: whole passes over the ${cfg.cases} cases for at least ${cfg.casbinSeconds} s per API`)
  const casbinAsync = await timeCasbin(cfg.casbinSeconds, casbinCases, agreed.allowed.casbin, (c) =>
    enforcer.enforce(c.user, c.resource, c.verb))
  log(`  casbin enforce (awaited one at a time): ${rateText(casbinAsync.rate)}, p50 ${casbinAsync.p50ms.toFixed(3)} ms ` +
    `(${casbinAsync.checks} checks)`)
  const casbinSync = await timeCasbin(cfg.casbinSeconds, casbinCases, agreed.allowed.casbinSync, (c) =>
    enforcer.enforceSync(c.user, c.resource, c.verb))
  log(`  casbin enforceSync: ${rateText(casbinSync.rate)}, p50 ${casbinSync.p50ms.toFixed(3)} ms (${casbinSync.checks} checks)`)

  const versions = { '@casl/ability': packageVersion('@casl/ability'), casbin: packageVersion('casbin') }
  const canConditional = latency({
    name: 'can-conditional',
    metric: 'ns (p50 per check)',
    value: p50PerCheck(ours, cfg.cases),
    peer: { name: `@casl/ability ${versions['@casl/ability']}`, value: p50PerCheck(casl, cfg.cases) },
    targets: { value: '<= 100', ratio: '>= 1.5' }
  })
  const results: BenchResult[] = [
    // The issue's ratio is of throughputs (our checks/s ÷ CASL's), not of the p50s.
    { ...canConditional, ratio: Number((oursRate / caslRate).toFixed(3)) },
    throughput({
      name: 'can-vs-casbin',
      metric: 'checks/s',
      value: oursRate,
      peer: { name: `casbin ${versions.casbin}, enforce() awaited one at a time`, value: casbinAsync.rate },
      targets: { ratio: '>= 100' }
    }),
    latency({ name: 'compile-1000', metric: 'ms', value: compileMs, targets: { value: '<= 5' } })
  ]
  const notes = [
    `cases: ${mix}; ${agreementText}`,
    `can-conditional: p50 = median over passes of (pass time ÷ ${cfg.cases} checks); checks/s: ours ${Math.round(oursRate)}, CASL ` +
      `${Math.round(caslRate)}`,
    `casbin enforceSync: ${Math.round(casbinSync.rate)} checks/s (ours ÷ that = ${(oursRate / casbinSync.rate).toFixed(0)}); enforce p50 ` +
      `${casbinAsync.p50ms.toFixed(3)} ms`,
    'casbin conditions write `status in [...]` as `==` joined by `||`: node-casbin rewrites ` (a, b)` into an array in an expression ' +
      'holding ` in `, ' +
      'which also catches the parentheses it wraps an eval()ed rule in, and enforce then throws',
    cidrText
  ]
  const workload = `${ROLES} roles × ${GRANTS_PER_ROLE} grants, 3-clause conditions, ${denies} denies; ${principals.length} principals × ` +
    `${ROLES_PER_PRINCIPAL} roles; ${cases.length} cases, seed ${cfg.seed}`
  const disagreements = agreed.casl + agreed.casbin + agreed.casbinSync
  return { results, notes, machine: { ...versions, workload }, disagreements }
}

async function main (): Promise<void> {
  const cfg = config()
  const started = performance.now()
  // Nanosecond figures move with whatever else the machine runs: the report keeps the load it started under.
  const load = loadavg()[0]!.toFixed(2)
  const databaseUrl = cfg.http.databaseUrl === undefined ? undefined : redact(cfg.http.databaseUrl)
  log(`bench:authz — ${JSON.stringify({ ...cfg, http: { ...cfg.http, databaseUrl } })}, 1-min load average ${load}`)
  const parts: Part[] = []
  if (cfg.only !== 'http') parts.push(await inProcess(cfg))
  let database = 'none (in-process, no database)'
  if (cfg.only !== 'can') {
    const http = await httpCheck(cfg.http)
    database = cfg.only === 'http' ? http.database : `${http.database} for http-check; the rest in-process, no database`
    const versions = { fastify: packageVersion('fastify'), autocannon: packageVersion('autocannon') }
    parts.push({ results: http.results, notes: [http.note], machine: versions, disagreements: 0 })
  }
  const machine = machineInfo(database, { ...Object.assign({}, ...parts.map((part) => part.machine)), loadAverageAtStart: Number(load) })
  const report: BenchReport = { ...newReport('authz', 'npm run bench:authz', machine, parts.flatMap((part) => part.results)),
    notes: parts.flatMap((part) => part.notes) }
  const file = writeReport(report)
  console.log('\n' + formatReport(report))
  log(`wrote ${file} in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  const disagreements = parts.reduce((n, part) => n + part.disagreements, 0)
  if (process.env.BENCH_STRICT === '1' && (missedTargets(report).length > 0 || disagreements > 0)) process.exitCode = 1
}

function rateText (rate: number): string {
  return `${Math.round(rate).toLocaleString('en-US')} checks/s`
}

await main()
