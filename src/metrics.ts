/**
 * Prometheus metrics, one registry per runtime: tests open several runtimes
 * in one process, so nothing here is global. HTTP, the event store wrapper
 * (eventstore/instrumented.ts), authorization and the audit tools record into
 * it; projection and readiness gauges are read when scraped.
 *
 * Names and labels are a contract with the alert rules (infra/prometheus).
 * No label carries an organization id: thousands of tenants would be
 * thousands of series per metric. What the per-organization alerts need
 * (one organization denied too often, one changing roles en masse) is
 * counted here per organization over a sliding window, in memory and
 * bounded (src/ops/lib/sliding-window.ts), and exported as aggregate gauges:
 * the highest count of one organization, and how many are over the
 * threshold. Which organization it is, the server's warn log line says when
 * it crosses, and the audit log answers (runbooks/authorization.md, rbac.md).
 * Label values that come from data (denial reasons) are bounded: the first
 * values seen keep their own series, later ones share `other`.
 */
import { DENIAL_REASONS } from './domain/impersonation/events.ts'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { SlidingWindowCounts } from './ops/lib/sliding-window.ts'
import type { ReactorLag, ReactorStatus } from './application/reactors/runner.ts'
import type { ProjectionLag, ProjectionStatus } from './projections/runner.ts'

export const OTHER = 'other'
const DENIAL_REASON_LIMIT = 50
/** Organizations counted per window, per metrics instance: the least recently touched goes first. */
export const ORG_WINDOW_LIMIT = 10_000

/** The windows and thresholds of the per-organization alerts; infra/prometheus/alerts.yml uses the same numbers. */
export const ORG_WINDOWS = {
  /** LedgerlineAuthzDenialBurst: more than 50 refusals in one organization within 5 minutes. */
  denials: { windowMs: 5 * 60_000, threshold: 50 },
  /** LedgerlineMassRoleChanges: more than 20 role changes in one organization within 10 minutes. */
  roleChanges: { windowMs: 10 * 60_000, threshold: 20 }
} as const
export type OrgWindow = keyof typeof ORG_WINDOWS

/** An organization whose count just went over its window's threshold. */
export interface OrgBurst { readonly kind: OrgWindow, readonly orgId: string, readonly count: number, readonly windowMs: number }

/** What the projection gauges read: the runner, attached once it exists. */
export interface ProjectionSource {
  status(): readonly ProjectionStatus[]
  lag(): Promise<readonly ProjectionLag[]>
}
/** What the reactor gauges read: the reactor runner, attached once it exists. */
export interface ReactorSource {
  status(): readonly ReactorStatus[]
  lag(): Promise<readonly ReactorLag[]>
}
/** One /readyz check, as the readiness gauges read it. */
export interface ReadinessCheck { readonly name: string, readonly ok: boolean }
const APPEND_REASONS = ['conflict', 'unavailable', 'invalid', 'other'] as const
export type AppendReason = typeof APPEND_REASONS[number]
const BREAK_GLASS_STAGES = ['requested', 'approved', 'started'] as const
export type BreakGlassStage = typeof BREAK_GLASS_STAGES[number]
const AUDIT_FORMATS = ['csv', 'ndjson', 'json'] as const
const VERIFY_SCOPES = ['org', 'platform'] as const

/** Label values as they come for the first `limit` distinct ones, `other` after; `make` builds what is kept per value. */
export class BoundedLabels<T> {
  readonly #known = new Map<string, T>()
  #other: T | undefined
  constructor (private readonly limit: number, private readonly make: (label: string) => T) {}

  get (value: string): T {
    const known = this.#known.get(value)
    if (known !== undefined) return known
    if (this.#known.size >= this.limit) return (this.#other ??= this.make(OTHER))
    const made = this.make(value)
    this.#known.set(value, made)
    return made
  }
}

type Inc = (value?: number) => void

export class Metrics {
  readonly registry = new Registry()
  readonly httpRequests = counter(this.registry, 'ledgerline_http_requests_total', 'HTTP requests by route and status',
    ['method', 'route', 'status'])
  readonly httpDuration = new Histogram({
    name: 'ledgerline_http_request_duration_seconds', help: 'HTTP request duration', labelNames: ['method', 'route'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry]
  })

  readonly #appendDuration = new Histogram({
    name: 'ledgerline_eventstore_append_duration_seconds',
    help: 'Event store appends by outcome (ok, conflict, error)',
    labelNames: ['outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry]
  })

  readonly #appendErrors = counter(this.registry, 'ledgerline_eventstore_append_errors_total',
    'Failed appends by reason (conflict, unavailable, invalid, other)', ['reason'])
  readonly #authz = counter(this.registry, 'ledgerline_authz_decisions_total', 'can() decisions by outcome (allow, deny)', ['outcome'])
  // Children built once: authorize runs on every organization request.
  readonly #allow: Inc = this.#authz.labels({ outcome: 'allow' }).inc
  readonly #deny: Inc = this.#authz.labels({ outcome: 'deny' }).inc
  readonly #roleChanges = new Counter({
    name: 'ledgerline_rbac_role_changes_total', help: 'Role and membership changes written', registers: [this.registry]
  })
  readonly #windows: Record<OrgWindow, SlidingWindowCounts>
  #onBurst: ((burst: OrgBurst) => void) | undefined

  readonly #impersonationStarts = counter(this.registry, 'ledgerline_impersonation_starts_total', 'Impersonation sessions started',
    ['via', 'critical'])
  readonly #impersonationDenials = counter(this.registry, 'ledgerline_impersonation_denials_total',
    'Impersonation requests refused, by reason', ['reason'])
  readonly #denialReasons = new BoundedLabels<Inc>(DENIAL_REASON_LIMIT, (reason) => this.#impersonationDenials.labels({ reason }).inc)
  readonly #breakGlass = counter(this.registry, 'ledgerline_impersonation_break_glass_total',
    'Break-glass impersonations by stage (requested, approved, started)', ['stage'])
  readonly #exports = counter(this.registry, 'ledgerline_audit_exports_total', 'Audit exports begun, by format', ['format'])
  readonly #exportRows = counter(this.registry, 'ledgerline_audit_export_rows_total', 'Audit rows exported, by format', ['format'])
  readonly #verifyFailures = counter(this.registry, 'ledgerline_audit_verify_failures_total',
    'Audit verifications that found a mismatch', ['scope'])
  readonly #verifyRuns = counter(this.registry, 'ledgerline_audit_verify_runs_total', 'Audit verifications by scope and result',
    ['scope', 'result'])

  #projections: ProjectionSource | undefined
  #reactors: ReactorSource | undefined
  #readiness: (() => Promise<readonly ReadinessCheck[]>) | undefined

  /** The projections' lag, measured once per scrape and shared by the lag gauges and readiness. */
  readonly projectionLag = perScrape(async (): Promise<readonly ProjectionLag[]> => this.#projections?.lag() ?? [])
  /** The reactors' lag, measured once per scrape and shared by the lag gauges and readiness. */
  readonly reactorLag = perScrape(async (): Promise<readonly ReactorLag[]> => this.#reactors?.lag() ?? [])
  readonly #ready = perScrape(async (): Promise<readonly ReadinessCheck[] | undefined> => this.#readiness?.())

  /** `now` is the clock of the per-organization windows (tests move it). */
  constructor (now: () => number = Date.now) {
    this.#windows = {
      denials: new SlidingWindowCounts(ORG_WINDOWS.denials.windowMs, ORG_WINDOW_LIMIT, now),
      roleChanges: new SlidingWindowCounts(ORG_WINDOWS.roleChanges.windowMs, ORG_WINDOW_LIMIT, now)
    }
    collectDefaultMetrics({ register: this.registry })
    windowGauges(this.registry, this.#windows.denials, ORG_WINDOWS.denials.threshold,
      ['ledgerline_authz_max_org_denials_5m', 'The most authorization denials one organization had on this instance in the last 5 minutes'],
      ['ledgerline_authz_denial_burst_orgs',
        `Organizations with more than ${ORG_WINDOWS.denials.threshold} denials on this instance in the last 5 minutes`])
    windowGauges(this.registry, this.#windows.roleChanges, ORG_WINDOWS.roleChanges.threshold,
      ['ledgerline_rbac_max_org_role_changes_10m',
        'The most role and membership changes one organization had on this instance in the last 10 minutes'],
      ['ledgerline_rbac_mass_role_change_orgs',
        `Organizations with more than ${ORG_WINDOWS.roleChanges.threshold} role changes on this instance in the last 10 minutes`])
    consumerGauges(this.registry, PROJECTION_METRICS, () => (this.#projections?.status() ?? []).map(projectionSample), this.projectionLag)
    consumerGauges(this.registry, REACTOR_METRICS, () => (this.#reactors?.status() ?? []).map(reactorSample), this.reactorLag)
    readinessGauges(this.registry, this.#ready)
    this.#exportKnownSeriesAtZero()
  }

  /**
   * increase() cannot see the increment that creates a series, so series
   * whose labels are known in advance exist from start-up, at 0: the first
   * break-glass start after a restart still raises its alert.
   */
  #exportKnownSeriesAtZero (): void {
    for (const outcome of ['ok', 'conflict', 'error']) this.#appendDuration.zero({ outcome })
    for (const reason of APPEND_REASONS) this.#appendErrors.inc({ reason }, 0)
    this.#allow(0)
    this.#deny(0)
    for (const via of ['support', 'member']) for (const critical of ['true', 'false']) this.#impersonationStarts.inc({ via, critical }, 0)
    for (const stage of BREAK_GLASS_STAGES) this.#breakGlass.inc({ stage }, 0)
    for (const reason of DENIAL_REASONS) this.#impersonationDenials.inc({ reason }, 0)
    for (const format of AUDIT_FORMATS) {
      this.#exports.inc({ format }, 0)
      this.#exportRows.inc({ format }, 0)
    }
    for (const scope of VERIFY_SCOPES) {
      this.#verifyFailures.inc({ scope }, 0)
      for (const result of ['ok', 'failed']) this.#verifyRuns.inc({ scope, result }, 0)
    }
  }

  /** The projection gauges read this runner from now on. */
  observeProjections (source: ProjectionSource): void { this.#projections = source }
  /** The reactor gauges read this runner from now on. */
  observeReactors (source: ReactorSource): void { this.#reactors = source }
  /** The readiness gauges ask this when scraped: the function /readyz answers with. */
  observeReadiness (readiness: () => Promise<readonly ReadinessCheck[]>): void { this.#readiness = readiness }

  appended (seconds: number): void { this.#appendDuration.observe({ outcome: 'ok' }, seconds) }
  appendFailed (reason: AppendReason, seconds: number): void {
    this.#appendDuration.observe({ outcome: reason === 'conflict' ? 'conflict' : 'error' }, seconds)
    this.#appendErrors.inc({ reason })
  }

  /** Called with the organization whose count goes over its window's threshold, once per crossing. */
  onOrgBurst (listener: (burst: OrgBurst) => void): void { this.#onBurst = listener }

  authzDecision (orgId: string, allowed: boolean, count = 1): void {
    if (allowed) {
      this.#allow(count)
      return
    }
    this.#deny(count)
    this.#countInWindow('denials', orgId, count)
  }

  roleChanged (orgId: string): void {
    this.#roleChanges.inc()
    this.#countInWindow('roleChanges', orgId, 1)
  }

  /** The organization's count over the window. */
  orgCount (kind: OrgWindow, orgId: string): number { return this.#windows[kind].total(orgId) }
  /** The organizations with the highest counts over the window, on this instance: what the runbooks ask `/metrics/organizations` for. */
  topOrgs (kind: OrgWindow, n: number): Array<{ orgId: string, count: number }> {
    return this.#windows[kind].top(n).map(({ key, count }) => ({ orgId: key, count }))
  }

  #countInWindow (kind: OrgWindow, orgId: string, count: number): void {
    const total = this.#windows[kind].add(orgId, count)
    const { threshold, windowMs } = ORG_WINDOWS[kind]
    if (total > threshold && total - count <= threshold) this.#onBurst?.({ kind, orgId, count: total, windowMs })
  }
  impersonationStarted (via: string, critical: boolean): void {
    this.#impersonationStarts.inc({ via, critical: critical ? 'true' : 'false' })
  }
  impersonationDenied (reason: string): void { this.#denialReasons.get(reason)() }
  breakGlass (stage: BreakGlassStage): void { this.#breakGlass.inc({ stage }) }
  auditExportStarted (format: string): void { this.#exports.inc({ format }) }
  auditRowsExported (format: string, rows: number): void { this.#exportRows.inc({ format }, rows) }

  auditVerified (scope: typeof VERIFY_SCOPES[number], ok: boolean): void {
    this.#verifyRuns.inc({ scope, result: ok ? 'ok' : 'failed' })
    if (!ok) this.#verifyFailures.inc({ scope })
  }
}

function counter<L extends string> (registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] })
}

/**
 * One measurement shared by the collectors of a scrape: prom-client runs
 * them concurrently, and each would otherwise query the database again.
 */
function perScrape<T> (measure: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined
  return () => {
    pending ??= measure().finally(() => { setTimeout(() => { pending = undefined }, 100).unref() })
    return pending
  }
}

/** What the gauges of a checkpointed consumer (a projection, a reactor) read of its status. */
interface ConsumerSample {
  readonly name: string
  readonly count: number
  readonly eventsPerSecond: number
  readonly leader: boolean
  readonly lastBatchAt: Date | undefined
  readonly running: boolean
  readonly errors: number
}

/** The names and help texts of one kind of consumer's metrics: `ledgerline_<kind>_…{<kind>}`. */
interface ConsumerMetrics {
  readonly kind: 'projection' | 'reactor'
  readonly count: readonly [string, string]
  readonly throughput: string
  readonly errors: string
}

const PROJECTION_METRICS: ConsumerMetrics = {
  kind: 'projection',
  count: ['events_applied_total', 'Events applied by the projection (this generation)'],
  throughput: 'Events applied per second, smoothed over a minute',
  errors: 'Failures of the projection on this instance (each is retried)'
}

const REACTOR_METRICS: ConsumerMetrics = {
  kind: 'reactor',
  count: ['events_handled_total', 'Events handled by the reactor since its checkpoint was made'],
  throughput: 'Events handled per second on this instance, smoothed over a minute',
  errors: 'Failed batches of the reactor on this instance (each is retried)'
}

function projectionSample (s: ProjectionStatus): ConsumerSample { return { ...s, count: s.eventsApplied } }
function reactorSample (s: ReactorStatus): ConsumerSample { return { ...s, count: s.eventsHandled } }

function consumerGauges (
  registry: Registry, metrics: ConsumerMetrics, status: () => readonly ConsumerSample[], lag: () => Promise<readonly ProjectionLag[]>
): void {
  const { kind } = metrics
  const fromStatus = (name: string, help: string, value: (s: ConsumerSample) => number | undefined): void => {
    new Gauge({
      name: `ledgerline_${kind}_${name}`, help, labelNames: [kind], registers: [registry],
      collect () {
        for (const s of status()) {
          const v = value(s)
          if (v !== undefined) this.set({ [kind]: s.name }, v)
        }
      }
    })
  }
  fromStatus(metrics.count[0], metrics.count[1], (s) => s.count)
  fromStatus('throughput_events_per_second', metrics.throughput, (s) => s.eventsPerSecond)
  fromStatus('leader', `1 when this instance runs the ${kind}`, (s) => s.leader ? 1 : 0)
  fromStatus('last_batch_timestamp_seconds', `When the ${kind} last applied a batch on this instance`,
    (s) => s.lastBatchAt === undefined ? undefined : s.lastBatchAt.getTime() / 1000)
  fromStatus('running', `1 while the ${kind}'s worker loop runs on this instance (leading or standing by)`, (s) => s.running ? 1 : 0)
  new Counter({
    name: `ledgerline_${kind}_errors_total`, help: metrics.errors, labelNames: [kind], registers: [registry],
    // The runner keeps the count; reset-then-inc exports it as a counter.
    collect () {
      this.reset()
      for (const s of status()) this.inc({ [kind]: s.name }, s.errors)
    }
  })
  const fromLag = (name: string, help: string, value: (l: ProjectionLag) => number): void => {
    new Gauge({
      name: `ledgerline_${kind}_${name}`, help, labelNames: [kind], registers: [registry],
      async collect () { for (const l of await lag().catch(() => [])) this.set({ [kind]: l.name }, value(l)) }
    })
  }
  fromLag('lag_events', 'Events in the log after the checkpoint (counted up to 1000)', (l) => l.events)
  fromLag('lag_seconds', 'Age of the oldest event after the checkpoint', (l) => l.seconds)
}

/** The highest count of one organization over the window, and how many organizations are over the threshold: no organization label. */
function windowGauges (
  registry: Registry, counts: SlidingWindowCounts, threshold: number, max: [string, string], over: [string, string]
): void {
  // A pass over at most ORG_WINDOW_LIMIT organizations per gauge and scrape: microseconds, no cache needed.
  new Gauge({ name: max[0], help: max[1], registers: [registry], collect () { this.set(counts.summary(threshold).max) } })
  new Gauge({ name: over[0], help: over[1], registers: [registry], collect () { this.set(counts.summary(threshold).over) } })
}

/** Undefined checks (no HTTP server attached readiness) leave `ledgerline_ready` at 0: not known to be ready. */
function readinessGauges (registry: Registry, checks: () => Promise<readonly ReadinessCheck[] | undefined>): void {
  new Gauge({
    name: 'ledgerline_ready', help: '1 when /readyz answers ready', registers: [registry],
    async collect () {
      const found = await checks().catch(() => undefined)
      this.set(found !== undefined && found.every((check) => check.ok) ? 1 : 0)
    }
  })
  new Gauge({
    name: 'ledgerline_readiness_check',
    help: '1 when the /readyz check passes (database, event_store, projections, reactors)',
    labelNames: ['check'],
    registers: [registry],
    async collect () { for (const check of await checks().catch(() => undefined) ?? []) this.set({ check: check.name }, check.ok ? 1 : 0) }
  })
}
