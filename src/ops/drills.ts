/**
 * Drills: drive a running instance into an incident on purpose, so the metric
 * behind an alert crosses its threshold, then put things right and run the
 * runbook's verification step. Each works in an organization of its own
 * ("Drill …", created with the token given), so real tenants' alerts and data
 * are untouched; the alert fires for the drill organization, as it would for
 * a real one.
 *
 * - `denial-burst`, `break-glass`: over HTTP only, with an owner's token.
 * - `tampered-audit-row`, `stalled-projection`: also need the instance's
 *   database (DATABASE_URL), to change a stored row or hold a checkpoint.
 * - `tool-errors`: over HTTP only: an AI client repeating a tool call the
 *   organization refuses, as the tool error rate alert counts it.
 * - `webhook-signature-burst`: over HTTP only: forged Standard Webhooks
 *   messages to a source of the drill organization, then a genuine one.
 * - `webhook-endpoint-down`: over HTTP, with a receiver of its own on
 *   127.0.0.1 that answers 410 Gone and then recovers: the instance must run
 *   on the same host with WEBHOOK_ALLOW_PRIVATE_TARGETS=true (staging only;
 *   production's preflight refuses it).
 * - `ai-budget-burn`: over HTTP only, on an instance with a model upstream
 *   (OPENAI_API_KEY): a budget of one request in the drill organization, spent
 *   by an answer long enough to reach the block; then the budget goes back to
 *   the plan's.
 * - `dead-job`: also needs the instance's event store and database (`jobs`:
 *   a runtime's over the instance's database, or the instance's own when the
 *   CLI runs inside it), to schedule a job of the drill's type
 *   (src/application/jobs/drill.ts), which the instance runs and which dies; then
 *   it retries the job as the runbook says (`ledgerline jobs retry`, the same
 *   application function), and reads it as `ledgerline jobs show` does.
 *
 * The metrics are read from the instance's `/metrics` (or `metricsUrl`, when
 * METRICS_PORT gives them a listener of their own), with the metrics token
 * when the instance asks for one. Thresholds are the alert rules'
 * (infra/prometheus/alerts.yml; test/drills.test.ts checks they agree).
 */
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import { Webhook } from 'standardwebhooks'
import { execute, type CommandServices } from '../application/commands.ts'
import { JobHandlers } from '../application/jobs/handlers.ts'
import { jobDetail, retryJob, type JobOperationsDeps } from '../application/jobs/operations.ts'
import { scheduleJob } from '../application/jobs/schedule.ts'
import { aggregate } from '../domain/decider.ts'
import { systemCommand } from '../domain/envelope.ts'
import { jobDecider, jobStreamId, type JobState } from '../domain/jobs/job.ts'
import { ORG_WINDOWS } from '../metrics.ts'
import type { SqlClient } from '../sql/client.ts'
import { DRILL_JOB_TYPE, drillPoisonJob } from '../application/jobs/drill.ts'
import { parseMetrics, valueOf } from './lib/prometheus-text.ts'

export const THRESHOLDS = {
  /** LedgerlineAuthzDenialBurst: denials in one organization over 5 minutes, on one instance. */
  denialBurst: ORG_WINDOWS.denials.threshold,
  /** LedgerlineMassRoleChanges: role changes in one organization over 10 minutes, on one instance. */
  massRoleChanges: ORG_WINDOWS.roleChanges.threshold,
  /** LedgerlineBreakGlassStarted: any break-glass start. */
  breakGlass: 0,
  /** LedgerlineAuditVerifyFailed: any verification failure. */
  auditVerifyFailures: 0,
  /** LedgerlineProjectionLagHigh: seconds behind. */
  projectionLagSeconds: 30,
  /** LedgerlineJobsDeadLetters: any rise of a type's dead jobs. */
  deadJobs: 0,
  /** LedgerlineToolErrorRate: the share of a tool's calls that ran and failed, timed out or answered an invalid output... */
  toolErrorRate: 0.1,
  /** ...over at least this many calls that ran. */
  toolMinCalls: 20,
  /** LedgerlineWebhookSignatureFailures: inbound signature failures of one kind of source over 5 minutes. */
  signatureFailures: 20,
  /** LedgerlineWebhookEndpointDisabled: any rise of the disabled endpoints. */
  endpointsDisabled: 0,
  /** LedgerlineAiBudgetBurnFast: any organization over 14.4 times its budget's even rate over 1 hour and 5 minutes. */
  aiBudgetBurning: 0
} as const

export const SCENARIOS = [
  'denial-burst', 'break-glass', 'tampered-audit-row', 'stalled-projection', 'dead-job', 'tool-errors', 'webhook-signature-burst',
  'webhook-endpoint-down', 'ai-budget-burn'
] as const
export type Scenario = typeof SCENARIOS[number]

export interface DrillOptions {
  /** The instance, e.g. http://127.0.0.1:3000. */
  readonly baseUrl: string
  /** A token of a user who may create organizations (any user may). */
  readonly token: string
  /** Where the instance serves /metrics, when not on `baseUrl` (METRICS_PORT). */
  readonly metricsUrl?: string
  /** The instance's METRICS_TOKEN, when it asks for one. */
  readonly metricsToken?: string
  /** The instance's database, for the drills that need it. */
  readonly sql?: SqlClient
  /** The instance's event store and database, for dead-job. */
  readonly jobs?: JobOperationsDeps
  /**
   * How long stalled-projection may wait for the lag to cross the threshold, dead-job for each step of its job, and
   * ai-budget-burn for the gauges to show the burn and then the unblock.
   */
  readonly maxWaitMs?: number
  /**
   * dead-job: how long the job stays dead before the drill retries it; webhook-endpoint-down: how long the endpoint stays
   * disabled before the drill recovers it; ai-budget-burn: how long the organization stays blocked before the drill raises
   * its budget back; so Prometheus scrapes it and the alert fires.
   */
  readonly holdMs?: number
  readonly log?: (line: string) => void
}

export interface DrillReport {
  readonly scenario: Scenario
  readonly orgId: string
  readonly alert: string
  readonly runbook: string
  readonly metric: string
  readonly labels: Record<string, string>
  readonly threshold: number
  readonly before: number
  /** The highest value seen during the drill (for a gauge) or after it (a counter). */
  readonly peak: number
  readonly crossed: boolean
  readonly verification: { readonly step: string, readonly ok: boolean, readonly detail: string }
  /** dead-job: the job it made die. */
  readonly jobId?: string
  /** webhook-endpoint-down: whether the recovery sent the refused message before the one held after it. */
  readonly inOrder?: boolean
  /** ai-budget-burn: the blocked organizations (ledgerline_ai_budget_orgs_blocked) before, at the peak, and after the fix. */
  readonly blocked?: { readonly before: number, readonly peak: number, readonly after: number }
  /**
   * ai-budget-burn: whether GET /v1/admin/ai/budgets?over=14.4x listed the drill organization (the runbook's first
   * step); null when the token is not a platform administrator's, so it could not ask.
   */
  readonly listed?: boolean | null
}

export class DrillFailed extends Error {
  readonly code = 'drill.failed'
}

interface Api {
  /** `token: null` sends none. */
  call(
    method: string, path: string, options?: { token?: string | null, body?: unknown, headers?: Record<string, string> }
  ): Promise<{ status: number, body: unknown }>
  metric(name: string, labels?: Record<string, string>): Promise<number>
  /** The organization's count in a per-organization window, from /metrics/organizations. */
  orgCount(kind: 'denials' | 'roleChanges', orgId: string): Promise<number>
}

function api (options: DrillOptions): Api {
  const base = options.baseUrl.replace(/\/$/, '')
  const metricsBase = (options.metricsUrl ?? options.baseUrl).replace(/\/$/, '')
  const metrics = async (path: string): Promise<Response> => {
    const response = await fetch(`${metricsBase}${path}`,
      options.metricsToken === undefined ? {} : { headers: { authorization: `Bearer ${options.metricsToken}` } })
    if (response.status === 401) {
      throw new DrillFailed(`GET ${path} answered 401: give the instance's METRICS_TOKEN (--metrics-token or the environment)`)
    }
    if (!response.ok) throw new DrillFailed(`GET ${path} answered ${response.status}`)
    return response
  }
  return {
    async call (method, path, call = {}) {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: {
          ...(call.token === null ? {} : { authorization: `Bearer ${call.token ?? options.token}` }),
          ...(call.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...call.headers
        },
        ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) })
      })
      const text = await response.text()
      // An SSE answer (the assistant's) is returned as its text.
      const json = (response.headers.get('content-type') ?? '').includes('json')
      return { status: response.status, body: text === '' ? undefined : json ? JSON.parse(text) : text }
    },
    async metric (name, labels = {}) {
      return valueOf(parseMetrics(await (await metrics('/metrics')).text()), name, labels)
    },
    async orgCount (kind, orgId) {
      const windows = await (await metrics('/metrics/organizations')).json() as
        Record<string, { organizations: Array<{ orgId: string, count: number }> }>
      return windows[kind]?.organizations.find((o) => o.orgId === orgId)?.count ?? 0
    }
  }
}

/** The answer's body once its status is the one expected; `T` names the documented fields the drill reads. */
async function expect<T = Record<string, unknown>> (
  call: Promise<{ status: number, body: unknown }>, status: number, what: string
): Promise<T> {
  const response = await call
  if (response.status !== status) {
    throw new DrillFailed(`${what}: expected ${status}, got ${response.status} ${JSON.stringify(response.body)?.slice(0, 300)}`)
  }
  return response.body as T
}

interface Verified { ok: boolean, through: string, mismatch: unknown }

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A drill organization owned by the token's user, and a way to bring people into it. */
async function drillOrg (http: Api, scenario: Scenario) {
  const { orgId, position } = await expect<{ orgId: string, position: string }>(
    http.call('POST', '/v1/orgs', { body: { name: `Drill ${scenario} ${new Date().toISOString()}` } }),
    201, 'create the drill organization')
  // Members join by invitation: the drill invites a new address and accepts, creating the account.
  const person = async (role: string): Promise<{ userId: string, token: string }> => {
    const email = `drill-${randomBytes(6).toString('hex')}@drill.invalid`
    const invited = await expect<{ token: string }>(
      http.call('POST', `/v1/orgs/${orgId}/invitations`, { body: { email, roles: [role] } }), 201, `invite a drill ${role}`)
    const body = { password: randomBytes(18).toString('base64url'), displayName: `drill ${role}` }
    const joined = await expect<{ userId: string, token: string }>(
      http.call('POST', `/v1/invitations/${encodeURIComponent(invited.token)}/accept`, { token: null, body }),
      201, `accept as a drill ${role}`)
    return { userId: joined.userId, token: joined.token }
  }
  return { orgId, position, person }
}

/**
 * The alert reads a gauge, the highest count of one organization over 5
 * minutes on the instance; the drill organization's own count comes from
 * /metrics/organizations, as the runbook finds it. A gauge needs no priming.
 */
async function denialBurst (http: Api, options: DrillOptions): Promise<DrillReport> {
  const { orgId, person } = await drillOrg(http, 'denial-burst')
  const viewer = await person('viewer')
  const name = 'ledgerline_authz_max_org_denials_5m'
  const denied = () =>
    expect(http.call('GET', `/v1/orgs/${orgId}/audit-events`, { token: viewer.token }), 403, 'a viewer reading the audit log')
  const before = await http.metric(name)
  for (let i = 0; i <= THRESHOLDS.denialBurst; i++) await denied()
  const peak = await http.metric(name)
  const own = await http.orgCount('denials', orgId)
  options.log?.(`highest denials of one organization: ${before} → ${peak}; ${orgId}: ${own}`)
  // Mitigation: the member the denials came from is out; their requests are no longer decisions in the organization.
  await expect(http.call('DELETE', `/v1/orgs/${orgId}/members/${viewer.userId}`), 200, 'remove the drill member')
  await expect(http.call('GET', `/v1/orgs/${orgId}/audit-events`, { token: viewer.token }), 404, 'the removed member')
  const after = await http.orgCount('denials', orgId)
  return {
    scenario: 'denial-burst', orgId, alert: 'LedgerlineAuthzDenialBurst', runbook: 'runbooks/authorization.md#denial-burst',
    metric: name, labels: {}, threshold: THRESHOLDS.denialBurst, before, peak,
    crossed: peak > THRESHOLDS.denialBurst && own > THRESHOLDS.denialBurst,
    verification: {
      step: 'the member is removed; their next request is 404 and the organization\'s denials (GET /metrics/organizations) stop rising',
      ok: after === own,
      detail: `${orgId}: ${own} → ${after} denials`
    }
  }
}

async function breakGlass (http: Api): Promise<DrillReport> {
  const { orgId, person } = await drillOrg(http, 'break-glass')
  // Admins: a critical account (role administration), a requester, a second approver.
  const target = await person('admin')
  const requester = await person('admin')
  const approver = await person('admin')
  const name = 'ledgerline_impersonation_break_glass_total'
  const labels = { stage: 'started' }
  const before = await http.metric(name, labels)
  const requested = await expect<{ sessionId: string }>(http.call('POST', `/v1/orgs/${orgId}/impersonations`, {
    token: requester.token,
    body: { targetUserId: target.userId, reason: 'break-glass drill: checking the alert and runbook', ticket: `DRILL-${Date.now()}` }
  }), 202, 'request break-glass')
  const url = `/v1/orgs/${orgId}/impersonations/${requested.sessionId}`
  await expect(http.call('POST', `${url}/approve`, { token: approver.token }), 200, 'approve by a second person')
  const started = await expect<{ token: string }>(
    http.call('POST', `${url}/start`, { token: requester.token }), 201, 'start the approved session')
  await expect(http.call('GET', '/v1/session', { token: started.token }), 200, 'act as the critical account')
  const peak = await http.metric(name, labels)
  const stopped = await expect<{ position: string }>(
    http.call('POST', '/v1/impersonation/stop', { token: started.token }), 200, 'stop the session')
  const active = await expect<{ items: unknown[] }>(
    http.call('GET', `/v1/orgs/${orgId}/impersonations?status=active`, { headers: { 'x-consistent-with': stopped.position } }),
    200, 'list active sessions')
  return {
    scenario: 'break-glass', orgId, alert: 'LedgerlineBreakGlassStarted', runbook: 'runbooks/impersonation.md#break-glass-used',
    metric: name, labels, threshold: THRESHOLDS.breakGlass, before, peak, crossed: peak - before > THRESHOLDS.breakGlass,
    verification: {
      step: 'ledgerline impersonation list --org <orgId> --status active is empty',
      ok: active.items.length === 0,
      detail: `${active.items.length} active sessions`
    }
  }
}

function needSql (options: DrillOptions, scenario: Scenario): SqlClient {
  if (options.sql === undefined) {
    throw new DrillFailed(`${scenario} changes the instance's database: run it with the instance's DATABASE_URL`)
  }
  return options.sql
}

/**
 * Verifies the organization's log in the server, as a scheduler would: the
 * POST answers 202 and where to poll, the verification runs as a job, and its
 * report is there once it succeeded (ok or not).
 */
async function verifyInServer (http: Api, orgId: string, what: string, waitMs: number): Promise<Verified> {
  const { location } = await expect<{ location: string }>(http.call('POST', `/v1/orgs/${orgId}/audit-events/verify`), 202, what)
  const done = await poll(Date.now() + waitMs, async () => {
    const job = await expect<{ state: string, report: Verified | null, error: unknown }>(http.call('GET', location), 200, `${what}: poll`)
    return job.state === 'waiting' || job.state === 'running' ? undefined : job
  })
  if (done?.report == null) {
    const why = done === undefined ? `did not finish within ${waitMs / 1000} s` : `is ${done.state}`
    throw new DrillFailed(`${what}: the verification ${why}${done?.error == null ? '' : `: ${JSON.stringify(done.error)}`}`)
  }
  return done.report
}

async function tamperedAuditRow (http: Api, options: DrillOptions): Promise<DrillReport> {
  const sql = needSql(options, 'tampered-audit-row')
  const { orgId, position } = await drillOrg(http, 'tampered-audit-row')
  const page = await expect<{ items: Array<{ seq: number }> }>(
    http.call('GET', `/v1/orgs/${orgId}/audit-events?limit=1`, { headers: { 'x-consistent-with': position } }),
    200, 'read the drill organization\'s log')
  const seq = page.items[0]?.seq
  if (seq === undefined) throw new DrillFailed('the drill organization has no audit row yet')
  const name = 'ledgerline_audit_verify_failures_total'
  const labels = { scope: 'org' }
  const before = await http.metric(name, labels)
  const { rows } = await sql.query<{ actor_label: string | null }>(
    'SELECT actor_label FROM audit_events WHERE org_id = $1 AND seq = $2', [orgId, seq])
  await sql.query("UPDATE audit_events SET actor_label = 'tampered by a drill' WHERE org_id = $1 AND seq = $2", [orgId, seq])
  let report: Verified
  try {
    report = await verifyInServer(http, orgId, 'verify the tampered log', options.maxWaitMs ?? 120_000)
  } finally {
    // Put the row back as it was: the chain then verifies again.
    await sql.query('UPDATE audit_events SET actor_label = $3 WHERE org_id = $1 AND seq = $2', [orgId, seq, rows[0]?.actor_label ?? null])
  }
  const peak = await http.metric(name, labels)
  options.log?.(`verify found: ${JSON.stringify(report.mismatch)}`)
  const again = await verifyInServer(http, orgId, 'verify the restored log', options.maxWaitMs ?? 120_000)
  return {
    scenario: 'tampered-audit-row', orgId, alert: 'LedgerlineAuditVerifyFailed', runbook: 'runbooks/audit.md#audit-verification-failed',
    metric: name, labels, threshold: THRESHOLDS.auditVerifyFailures, before, peak,
    crossed: !report.ok && peak - before > THRESHOLDS.auditVerifyFailures,
    verification: {
      step: 'ledgerline audit verify --org <orgId> matches the event log',
      ok: again.ok,
      detail: again.ok ? `verified through ${again.through}` : JSON.stringify(again.mismatch)
    }
  }
}

/**
 * Holds the audit projection's tables in SHARE mode while the drill
 * organization keeps writing: readers go on, but the projection cannot write
 * a batch, and the age of its oldest unapplied event grows past the
 * threshold. A table lock, not a row lock: a transaction that locks rows
 * gets a transaction id and, while open, hides every later event from every
 * reader of the log (DESIGN §3), which would stall all projections at once.
 */
async function stalledProjection (http: Api, options: DrillOptions): Promise<DrillReport> {
  const sql = needSql(options, 'stalled-projection')
  const { orgId } = await drillOrg(http, 'stalled-projection')
  const projection = 'audit'
  const name = 'ledgerline_projection_lag_seconds'
  const labels = { projection }
  const before = await http.metric(name, labels)
  let peak = before
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  let locked!: () => void
  const holding = new Promise<void>((resolve) => { locked = resolve })
  const hold = sql.transaction(async (tx) => {
    await tx.exec('LOCK TABLE public.audit_events, public.audit_chains, public.audit_state IN SHARE MODE')
    locked()
    await released
  })
  try {
    await holding
    const deadline = Date.now() + (options.maxWaitMs ?? 120_000)
    for (let i = 0; peak <= THRESHOLDS.projectionLagSeconds && Date.now() < deadline; i++) {
      await expect(http.call('PATCH', `/v1/orgs/${orgId}`, { body: { name: `Drill stalled-projection ${i}` } }),
        200, 'write while the projection is held')
      await sleep(1000)
      peak = Math.max(peak, await http.metric(name, labels))
    }
    options.log?.(`${projection} lag peaked at ${peak.toFixed(1)} s`)
  } finally {
    release()
    await hold
  }
  // Verification: the lag falls back under the threshold and /readyz answers 200.
  let lag = peak
  let ready = 0
  for (let i = 0; i < 120 && (lag > THRESHOLDS.projectionLagSeconds || ready !== 200); i++) {
    await sleep(500)
    lag = await http.metric(name, labels)
    ready = (await fetch(`${options.baseUrl.replace(/\/$/, '')}/readyz`)).status
  }
  return {
    scenario: 'stalled-projection', orgId, alert: 'LedgerlineProjectionLagHigh', runbook: 'runbooks/projections.md#projection-lag',
    metric: name, labels, threshold: THRESHOLDS.projectionLagSeconds, before, peak, crossed: peak > THRESHOLDS.projectionLagSeconds,
    verification: {
      step: 'the lag is back under the threshold and /readyz answers 200',
      ok: lag <= THRESHOLDS.projectionLagSeconds && ready === 200,
      detail: `lag ${lag.toFixed(1)} s, /readyz ${ready}`
    }
  }
}

/** Polls `probe` every 250 ms until it answers something other than undefined, or the deadline passes (undefined). */
async function poll<T> (deadline: number, probe: () => Promise<T | undefined>): Promise<T | undefined> {
  for (;;) {
    const found = await probe()
    if (found !== undefined || Date.now() >= deadline) return found
    await sleep(250)
  }
}

/** The job's status once it is one of `statuses`, from its stream; undefined at the deadline. */
async function jobReaches (services: CommandServices, jobId: string, statuses: Array<JobState['status']>, deadline: number) {
  return poll(deadline, async () => {
    const state = await aggregate(services.store, jobDecider, jobStreamId(jobId))
    return statuses.includes(state.status) ? state.status : undefined
  })
}

/** Metadata for the drill's commands on a job: the system actor `drill`, in the drill organization. */
const drillCommand = (orgId: string) => ({ ...systemCommand('drill'), orgId })

/** Schedules a `drill.poison` job whose first attempt fails permanently, and waits until the instance has run it and it is dead. */
async function scheduleToDie (services: CommandServices, orgId: string, waitMs: number): Promise<string> {
  const handlers = new JobHandlers()
  handlers.register(drillPoisonJob)
  const { jobId } = await scheduleJob({ services, handlers, now: () => new Date() }, DRILL_JOB_TYPE, { orgId, failures: 1 },
    { metadata: drillCommand(orgId) })
  const status = await jobReaches(services, jobId, ['dead', 'succeeded', 'cancelled'], Date.now() + waitMs)
  if (status === 'dead') return jobId
  // Never run: cancelled, so it does not wait for ever in the queue (and in the backlog alert).
  if (status === undefined) {
    await execute(services, jobDecider, jobStreamId(jobId), { type: 'CancelJob', data: { by: 'drill', note: 'the instance never ran it' } },
      drillCommand(orgId)).catch(() => {})
  }
  throw new DrillFailed(`job ${jobId} is ${status ?? 'still not run'} after ${waitMs / 1000} s: the instance runs no handler ` +
    `for ${DRILL_JOB_TYPE}, or does not share this event store`)
}

/**
 * Schedules a `drill.poison` job in the instance's store that fails its first
 * attempt with a permanent error: the instance runs it and it is dead at
 * once. The alert reads the dead jobs of each type from the jobs table
 * (`ledgerline_jobs{state="dead"}`, the same on every instance), so the drill
 * reads that gauge, then leaves the job dead for `holdMs` so that Prometheus
 * scrapes it. Then, as the runbook's mitigation says, it retries the job: the
 * second attempt succeeds, and the dead count is back where it was.
 */
async function deadJob (http: Api, options: DrillOptions): Promise<DrillReport> {
  const jobs = options.jobs
  if (jobs === undefined) {
    throw new DrillFailed('dead-job schedules a job in the instance\'s event store: run it with the instance\'s DATABASE_URL, ' +
      'or beside an instance on the embedded store (the command then runs in it)')
  }
  const { orgId } = await drillOrg(http, 'dead-job')
  const name = 'ledgerline_jobs'
  const labels = { type: DRILL_JOB_TYPE, state: 'dead' }
  const waitMs = options.maxWaitMs ?? 120_000
  const holdMs = options.holdMs ?? 60_000
  const before = await http.metric(name, labels)
  const jobId = await scheduleToDie(jobs.services, orgId, waitMs)
  const gauge = async (passes: (value: number) => boolean): Promise<number | undefined> =>
    poll(Date.now() + waitMs, async () => { const value = await http.metric(name, labels); return passes(value) ? value : undefined })
  const peak = await gauge((value) => value > before) ?? before
  options.log?.(`job ${jobId} is dead; ${name}{type="${DRILL_JOB_TYPE}",state="dead"} ${before} → ${peak}; kept dead ${holdMs / 1000} s`)
  await sleep(holdMs)
  // Mitigation: the cause is "fixed" (the drill's handler fails only the first attempt), so the job is retried.
  await retryJob(jobs, drillCommand(orgId), jobId)
  // Verification, as `ledgerline jobs show` reads it (the jobs table, which follows the log).
  const after = await poll(Date.now() + waitMs, async () => {
    const { state } = await jobDetail(jobs, jobId)
    return state === 'waiting' || state === 'running' || state === 'dead' ? undefined : state
  })
  const back = await gauge((value) => value <= before)
  return {
    scenario: 'dead-job', orgId, alert: 'LedgerlineJobsDeadLetters', runbook: 'runbooks/jobs.md#dead-letters',
    metric: name, labels, threshold: THRESHOLDS.deadJobs, before, peak, crossed: peak - before > THRESHOLDS.deadJobs, jobId,
    verification: {
      step: `ledgerline jobs retry ${jobId}; ledgerline jobs show ${jobId} says succeeded, and the dead ${DRILL_JOB_TYPE} jobs ` +
        'are back where they were',
      ok: after === 'succeeded' && back !== undefined,
      detail: `job ${after ?? 'not finished'}; dead ${DRILL_JOB_TYPE} jobs ${back ?? 'not back'} (before the drill: ${before})`
    }
  }
}

/** The outcomes of a call whose body ran, as LedgerlineToolErrorRate counts them; the first three are its errors. */
const TOOL_RUN_OUTCOMES = ['failed', 'timed_out', 'invalid_output', 'succeeded'] as const
const TOOL_CALLS = 'ledgerline_tool_calls_total'

/** A tool's calls that ran, by TOOL_RUN_OUTCOMES, from the instance's /metrics. */
async function toolRuns (http: Api, tool: string): Promise<number[]> {
  return Promise.all(TOOL_RUN_OUTCOMES.map((outcome) => http.metric(TOOL_CALLS, { tool, outcome })))
}

type ToolAnswer = { code?: string, position: string, output?: { userId: string } }

/**
 * An AI client (the drill organization's owner) calls `users.get` again and
 * again for someone who is not a member: each call runs, and the body's
 * refusal (`org.member_not_found`) is a failed call, which is what the alert
 * counts, as the runbook warns. The drill makes `toolMinCalls` such calls, so
 * the share of failures is far above the threshold on enough calls. Then it
 * follows the runbook: the calls read back by tool show one caller and one
 * code of the domain, so nothing is broken on the server; the client stops,
 * and its next, correct call (the owner's own profile) succeeds.
 */
async function toolErrors (http: Api, options: DrillOptions): Promise<DrillReport> {
  const { orgId, position } = await drillOrg(http, 'tool-errors')
  const tool = 'users.get'
  const call = (input: unknown, status: number, what: string): Promise<ToolAnswer> => expect<ToolAnswer>(
    http.call('POST', `/v1/orgs/${orgId}/tools/${tool}/calls`, { body: { input }, headers: { 'x-consistent-with': position } }),
    status, what)
  const before = await toolRuns(http, tool)
  const stranger = `usr_drill${randomBytes(8).toString('hex')}`
  let last = position
  for (let i = 0; i < THRESHOLDS.toolMinCalls; i++) {
    const refused = await call({ userId: stranger }, 404, `${tool} for someone who is not a member`)
    if (refused.code !== 'org.member_not_found') throw new DrillFailed(`${tool} answered ${JSON.stringify(refused)}`)
    last = refused.position
  }
  const moved = (await toolRuns(http, tool)).map((value, index) => value - before[index]!)
  const ran = moved.reduce((sum, value) => sum + value, 0)
  const errors = moved[0]! + moved[1]! + moved[2]!
  options.log?.(`${tool}: ${errors} of ${ran} calls that ran failed (threshold ${THRESHOLDS.toolErrorRate} of ${THRESHOLDS.toolMinCalls})`)
  const found = await readToolCalls(http, orgId, tool, last)
  // Mitigation: the client stops repeating its wrong call; its next one is right.
  const { user: { userId } } = await expect<{ user: { userId: string } }>(http.call('GET', '/v1/session'), 200, 'read the session')
  const answered = await call({ userId }, 200, `${tool} for the owner`)
  return {
    scenario: 'tool-errors', orgId, alert: 'LedgerlineToolErrorRate', runbook: 'runbooks/tools.md#tool-error-rate',
    metric: TOOL_CALLS, labels: { tool, outcome: 'failed' }, threshold: THRESHOLDS.toolErrorRate,
    before: before[0]!, peak: before[0]! + moved[0]!, crossed: ran >= THRESHOLDS.toolMinCalls && errors / ran > THRESHOLDS.toolErrorRate,
    verification: {
      step: `GET /v1/orgs/<orgId>/tool-calls?tool=${tool} shows one caller and one code of the domain (org.member_not_found); ` +
        'the client\'s next, correct call succeeds',
      ok: found.calls === THRESHOLDS.toolMinCalls && found.kinds.length === 1 && answered.output?.userId === userId,
      detail: `${found.calls} calls listed: ${found.kinds.join('; ')}; ` +
        `then ${tool} for the owner: ${answered.output?.userId ?? 'no output'}`
    }
  }
}

/** The runbook's diagnosis: the tool's calls as the API lists them (once the read model has `position`), by status, code and caller. */
async function readToolCalls (http: Api, orgId: string, tool: string, position: string): Promise<{ calls: number, kinds: string[] }> {
  const { items } = await expect<{ items: Array<{ status: string, errorCode: string | null, callerId: string }> }>(
    http.call('GET', `/v1/orgs/${orgId}/tool-calls?tool=${tool}&limit=${THRESHOLDS.toolMinCalls}`,
      { headers: { 'x-consistent-with': position } }),
    200, 'read the tool calls back')
  return { calls: items.length, kinds: [...new Set(items.map((item) => `${item.status} ${item.errorCode ?? ''} by ${item.callerId}`))] }
}

const SIGNATURE_FAILURES = 'ledgerline_webhooks_signature_failures_total'

/**
 * A Standard Webhooks message signed with `secret`, as its sender would send it to `sourceId`; the signature is over
 * JSON.stringify(payload), the text the drill's `call` sends.
 */
function signedMessage (sourceId: string, secret: string, type: string) {
  const messageId = `msg_drill${randomBytes(8).toString('hex')}`
  const at = new Date()
  const payload = { type, timestamp: at.toISOString(), data: { drill: 'webhook-signature-burst' } }
  const headers = {
    'webhook-id': messageId, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(messageId, at, JSON.stringify(payload))
  }
  return { messageId, payload, headers, path: `/v1/webhooks/in/${sourceId}` }
}

type Received = { received?: boolean, duplicate?: boolean, code?: string, position?: string | null }

/**
 * Someone who knows a source's URL (or a sender left with an old secret)
 * sends messages signed with a secret the source does not hold: one more than
 * the alert's threshold, each refused 401 `webhook.invalid_signature` and
 * counted, nothing stored. Then the runbook's checks: a message signed with
 * the source's own secret still gets in, a second delivery of it is a
 * duplicate, and the source's messages list it once; last, the source is
 * disabled, as the runbook says for a source whose URL leaked.
 */
async function webhookSignatureBurst (http: Api, options: DrillOptions): Promise<DrillReport> {
  const { orgId } = await drillOrg(http, 'webhook-signature-burst')
  const source = await expect<{ sourceId: string, secret: { secret: string } }>(
    http.call('POST', `/v1/orgs/${orgId}/webhooks/sources`, { body: { name: 'Drill sender', description: 'webhook-signature-burst' } }),
    201, 'register a drill source')
  const send = async (message: ReturnType<typeof signedMessage>, status: number, what: string): Promise<Received> => expect<Received>(
    http.call('POST', message.path, { token: null, headers: message.headers, body: message.payload }), status, what)
  const labels = { source: 'standard' }
  const before = await http.metric(SIGNATURE_FAILURES, labels)
  const forger = `whsec_${randomBytes(32).toString('base64')}`
  for (let i = 0; i <= THRESHOLDS.signatureFailures; i++) {
    const refused = await send(signedMessage(source.sourceId, forger, 'drill.forged'), 401, 'a message signed with another secret')
    if (refused.code !== 'webhook.invalid_signature') throw new DrillFailed(`a forged message was answered ${JSON.stringify(refused)}`)
  }
  const peak = await http.metric(SIGNATURE_FAILURES, labels)
  options.log?.(`${SIGNATURE_FAILURES}{source="standard"}: ${before} → ${peak} (threshold: more than ${THRESHOLDS.signatureFailures})`)
  const genuine = signedMessage(source.sourceId, source.secret.secret, 'drill.genuine')
  const first = await send(genuine, 200, 'a message signed with the source\'s secret')
  const again = await send(genuine, 200, 'the same message again')
  const { items } = await expect<{ items: Array<{ messageId: string }> }>(
    http.call('GET', `/v1/orgs/${orgId}/webhooks/sources/${source.sourceId}/messages`,
      { headers: first.position == null ? {} : { 'x-consistent-with': first.position } }),
    200, 'list the source\'s messages')
  await expect(http.call('DELETE', `/v1/orgs/${orgId}/webhooks/sources/${source.sourceId}`), 200, 'disable the drill source')
  const stored = items.filter((item) => item.messageId === genuine.messageId).length
  return {
    scenario: 'webhook-signature-burst', orgId, alert: 'LedgerlineWebhookSignatureFailures',
    runbook: 'runbooks/webhooks.md#signature-failures', metric: SIGNATURE_FAILURES, labels,
    threshold: THRESHOLDS.signatureFailures, before, peak, crossed: peak - before > THRESHOLDS.signatureFailures,
    verification: {
      step: 'a message signed with the source\'s secret is taken (200), a second delivery of it is a duplicate, and ' +
        'GET /v1/orgs/<orgId>/webhooks/sources/<sourceId>/messages lists it once, and nothing of the forged ones',
      ok: first.duplicate === false && again.duplicate === true && stored === 1 && items.length === 1,
      detail: `first ${JSON.stringify({ received: first.received, duplicate: first.duplicate })}, ` +
        `again ${JSON.stringify({ duplicate: again.duplicate })}; ` +
        `the source lists ${items.length} message(s), ${stored} of them the genuine one`
    }
  }
}

/** The drill's receiver: answers every POST with `status` (410, then 204) and lists the `webhook-id`s each answer went to. */
async function drillReceiver () {
  const answered: Array<{ id: string, status: number }> = []
  let status = 410
  const server = createServer((request, response) => {
    request.resume().on('end', () => {
      answered.push({ id: String(request.headers['webhook-id']), status })
      response.writeHead(status).end()
    })
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}/ledgerline-drill`,
    answered,
    recover: () => { status = 204 },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}

type EndpointView = { state: string, disabledReason: string | null, createdAt: string }
const ENDPOINTS_DISABLED = 'ledgerline_webhook_endpoints_disabled'
const FAN_OUT_LAG = ['ledgerline_reactor_lag_events', { reactor: 'webhook_fan_out' }] as const

/** An endpoint of the drill organization for the drill's receiver, subscribed to the tool calls that succeed. */
async function subscribeDrillEndpoint (http: Api, orgId: string, url: string): Promise<{ endpointId: string, position: string }> {
  const created = await http.call('POST', `/v1/orgs/${orgId}/webhooks/endpoints`,
    { body: { url, description: 'webhook-endpoint-down drill', eventTypes: ['ai.tool.call.succeeded'] } })
  if (created.status === 400 && (created.body as { code?: string }).code === 'webhook.url_invalid') {
    throw new DrillFailed(`the instance refuses ${url}: this drill needs WEBHOOK_ALLOW_PRIVATE_TARGETS=true on it (staging only)`)
  }
  return expect<{ endpointId: string, position: string }>(Promise.resolve(created), 201, 'subscribe the drill endpoint')
}

/**
 * An organization's receiver goes away: it answers 410 Gone, so the endpoint
 * is disabled at its first delivery (the 5 days of failures the other way
 * cannot be drilled) and the disabled count rises, as the alert reads it. A
 * second event meanwhile is held. Then the runbook's mitigation: the receiver
 * is back, `recover {since}` enables the endpoint and sends both messages,
 * the first with the webhook-id it had; the count falls back. `inOrder` says
 * whether the refused message came first, as a recovery promises.
 */
async function webhookEndpointDown (http: Api, options: DrillOptions): Promise<DrillReport> {
  const { orgId, position } = await drillOrg(http, 'webhook-endpoint-down')
  const receiver = await drillReceiver()
  try {
    const before = await http.metric(ENDPOINTS_DISABLED)
    const drill = await endpointDrill(http, options, orgId, position, receiver.url)
    await drill.event('a tool call, whose event the endpoint subscribes to')
    const disabled = await poll(drill.deadline(), async () => {
      const found = await drill.view()
      return found.state === 'disabled' ? found : undefined
    })
    if (disabled === undefined) {
      throw new DrillFailed(`the endpoint was not disabled: the receiver answered ${receiver.answered.length} time(s)`)
    }
    const peak = await http.metric(ENDPOINTS_DISABLED)
    options.log?.(`endpoint ${drill.endpoint} disabled (${disabled.disabledReason}); ${ENDPOINTS_DISABLED} ${before} → ${peak}`)
    await holdAnother(http, options, drill)
    const goneId = receiver.answered[0]?.id
    receiver.recover()
    await expect(http.call('POST', `${drill.endpoint}/recover`, { body: { since: disabled.createdAt } }), 202, 'recover the endpoint')
    const delivered = await poll(drill.deadline(), async () => {
      const ids = receiver.answered.filter((answer) => answer.status === 204).map((answer) => answer.id)
      return ids.length >= 2 ? ids : undefined
    }) ?? []
    const after = await drill.view()
    const back = await poll(drill.deadline(), async () => (await http.metric(ENDPOINTS_DISABLED)) <= before ? true : undefined)
    await expect(http.call('DELETE', drill.endpoint), 200, 'delete the drill endpoint')
    return {
      scenario: 'webhook-endpoint-down', orgId, alert: 'LedgerlineWebhookEndpointDisabled',
      runbook: 'runbooks/webhooks.md#endpoint-disabled',
      metric: ENDPOINTS_DISABLED, labels: {}, threshold: THRESHOLDS.endpointsDisabled, before, peak,
      crossed: peak - before > THRESHOLDS.endpointsDisabled,
      verification: {
        step: 'ledgerline webhooks recover --endpoint <endpointId> --since <its creation>: the endpoint is active, the receiver ' +
          'gets the refused message (same webhook-id) and the held one, and the disabled count is back',
        ok: disabled.disabledReason === 'gone' && after.state === 'active' && new Set(delivered).size === 2 &&
          goneId !== undefined && delivered.includes(goneId) && back === true,
        detail: `disabled (${disabled.disabledReason}), then ${after.state}; the receiver answered ` +
          `${receiver.answered.map((answer) => `${answer.status} ${answer.id}`).join(', ')}; ` +
          `${ENDPOINTS_DISABLED} ${back === true ? 'back' : 'not back'} to ${before}`
      },
      inOrder: goneId !== undefined && delivered[0] === goneId
    }
  } finally {
    await receiver.close()
  }
}

/** The drill's endpoint (subscribed for the receiver), how to make an event it gets, and how to read it. */
async function endpointDrill (http: Api, options: DrillOptions, orgId: string, position: string, url: string) {
  const { endpointId, position: subscribed } = await subscribeDrillEndpoint(http, orgId, url)
  const endpoint = `/v1/orgs/${orgId}/webhooks/endpoints/${endpointId}`
  return {
    endpoint,
    deadline: (): number => Date.now() + (options.maxWaitMs ?? 60_000),
    event: (what: string) => expect(http.call('POST', `/v1/orgs/${orgId}/tools/org.get/calls`,
      { body: { input: {} }, headers: { 'x-consistent-with': position } }), 200, what),
    view: async (): Promise<EndpointView> => expect<EndpointView>(
      http.call('GET', endpoint, { headers: { 'x-consistent-with': subscribed } }), 200, 'read the endpoint')
  }
}

/**
 * Another event while the endpoint is disabled, whose message the fan-out writes held once it reads it: the drill waits
 * for the reactor to have read the log to its end (a recovery comes later than that), then keeps the endpoint disabled
 * for `holdMs`, long enough for Prometheus to scrape the rise, as dead-job holds its job dead.
 */
async function holdAnother (http: Api, options: DrillOptions, drill: Awaited<ReturnType<typeof endpointDrill>>): Promise<void> {
  await drill.event('a tool call while the endpoint is disabled')
  const read = await poll(drill.deadline(), async () => (await http.metric(...FAN_OUT_LAG)) === 0 ? true : undefined)
  if (read === undefined) options.log?.('the fan-out reactor did not catch up with the log; recovering anyway')
  const holdMs = options.holdMs ?? 60_000
  options.log?.(`holding the endpoint disabled ${holdMs / 1000} s`)
  await sleep(holdMs)
}

const BURNING = 'ledgerline_ai_budget_orgs_burning'
const BLOCKED = 'ledgerline_ai_budget_orgs_blocked'
/** An answer that fills the output cap: one answer spends nearly all one request reserves, the input estimate's margin aside. */
const LONG_ANSWER = 'Count from 1 to 5000 in words, one number per line, and write nothing else.'
/** Answers the drill sends at most before the budget of one request must have refused one. */
const MAX_ANSWERS = 3

type BudgetAnswer = { state: string, budgetMicros: number, planMicros: number, monthlyMicros: number | null, position: string | null }
type Refusal = { code?: string, blocked?: boolean, estimateMicros?: number }

/**
 * One message in a new conversation of the drill organization: the answer's status, and its SSE text or its problem.
 * A new conversation each time, so every message reserves the same: its input is the same, with no history.
 */
async function askAssistant (http: Api, orgId: string, text: string): Promise<{ status: number, body: unknown }> {
  const url = `/v1/orgs/${orgId}/assistant/conversations`
  const { conversationId } = await expect<{ conversationId: string }>(http.call('POST', url), 201, 'start a conversation')
  const answer = await http.call('POST', `${url}/${conversationId}/messages`, { body: { text } })
  if (answer.status === 503) throw new DrillFailed(`the instance has no assistant: ${JSON.stringify(answer.body)} (OPENAI_API_KEY)`)
  const error = answer.status === 200 ? String(answer.body).split('\n').find((line) => line.includes('"type":"error"')) : undefined
  if (error !== undefined) throw new DrillFailed(`the assistant's answer ended in an error: ${error}`)
  return answer
}

/** The budget of one request, spent: a message while the assistant is off says what one reserves, then answers until refused. */
async function burnOneRequest (http: Api, orgId: string, setBudget: (micros: number | null, why: string) => Promise<BudgetAnswer>) {
  await setBudget(0, 'drill ai-budget-burn: the assistant off, to read what one message reserves')
  const probe = await expect<Refusal>(askAssistant(http, orgId, LONG_ANSWER), 402, 'a message while the assistant is off')
  const estimate = probe.estimateMicros
  if (estimate === undefined || !(estimate > 0)) throw new DrillFailed(`the 402 says no estimate: ${JSON.stringify(probe)}`)
  await setBudget(estimate, 'drill ai-budget-burn: a budget of one message, to burn')
  for (let answered = 0; answered <= MAX_ANSWERS; answered++) {
    const answer = await askAssistant(http, orgId, LONG_ANSWER)
    if (answer.status === 200) continue
    const refusal = answer.body as Refusal
    if (answer.status !== 402 || refusal.code !== 'ai.budget_exhausted') {
      throw new DrillFailed(`a message on a budget of one answered ${answer.status} ${JSON.stringify(refusal).slice(0, 300)}`)
    }
    return { estimate, answered, refusal }
  }
  throw new DrillFailed(`${MAX_ANSWERS + 1} answers on a budget of ${estimate} micro-units, none refused`)
}

/** The runbook's first step, for a platform administrator's token: does the list of offenders over 14.4x name the organization? */
async function listedOver (http: Api, orgId: string): Promise<boolean | null> {
  const list = await http.call('GET', '/v1/admin/ai/budgets?over=14.4x&limit=200')
  if (list.status === 403) return null
  const { items } = await expect<{ items: Array<{ orgId: string }> }>(Promise.resolve(list), 200, 'list the offenders over 14.4x')
  return items.some((item) => item.orgId === orgId)
}

/**
 * An organization burns its AI budget: the drill sets a budget of one message
 * (what a message reserves, read from the 402 of one sent while the budget is
 * 0), and sends messages asking for an answer that fills the output cap until
 * one is refused 402 `ai.budget_exhausted`. The first answer spends nearly the
 * whole budget in a minute, far over 14.4 times the even rate over 1 hour and
 * over 5 minutes, and what is left cannot pay for another: the organization is
 * blocked. The drill reads both gauges until they show it, holds for
 * `holdMs` so Prometheus scrapes them, then puts things right as the runbook
 * does: the budget back to the plan's, with a reason, which unblocks it.
 */
async function aiBudgetBurn (http: Api, options: DrillOptions): Promise<DrillReport> {
  const { orgId } = await drillOrg(http, 'ai-budget-burn')
  const path = `/v1/orgs/${orgId}/ai/budget`
  const setBudget = async (monthlyMicros: number | null, reason: string): Promise<BudgetAnswer> =>
    expect<BudgetAnswer>(http.call('PUT', path, { body: { monthlyMicros, reason } }), 200, `set the budget to ${monthlyMicros}`)
  const labels = { rule: 'page_1h' }
  const gauges = async (): Promise<{ burning: number, blocked: number }> =>
    ({ burning: await http.metric(BURNING, labels), blocked: await http.metric(BLOCKED) })
  const before = await gauges()
  const burnt = await burnOneRequest(http, orgId, setBudget)
  options.log?.(`${burnt.answered} answer(s) on a budget of ${burnt.estimate}, then 402 ${JSON.stringify(burnt.refusal)}`)
  const over = (now: { burning: number, blocked: number }): boolean =>
    now.burning > THRESHOLDS.aiBudgetBurning && now.blocked > before.blocked
  const waitMs = options.maxWaitMs ?? 120_000
  let peak = before
  await poll(Date.now() + waitMs, async () => { peak = await gauges(); return over(peak) ? true : undefined })
  const listed = await listedOver(http, orgId)
  options.log?.(`${BURNING}{rule="page_1h"} ${before.burning} → ${peak.burning}, ${BLOCKED} ${before.blocked} → ${peak.blocked}; ` +
    `listed over 14.4x: ${listed ?? 'not asked (not a platform administrator)'}; holding ${(options.holdMs ?? 60_000) / 1000} s`)
  await sleep(options.holdMs ?? 60_000)
  const restored = await setBudget(null, 'drill ai-budget-burn: back to the plan\'s budget')
  const verified = await budgetRestored(http, orgId, restored, before.blocked, waitMs)
  return {
    scenario: 'ai-budget-burn', orgId, alert: 'LedgerlineAiBudgetBurnFast', runbook: 'runbooks/ai-budgets.md#burn-fast',
    metric: BURNING, labels, threshold: THRESHOLDS.aiBudgetBurning, before: before.burning, peak: peak.burning, crossed: over(peak),
    blocked: { before: before.blocked, peak: peak.blocked, after: verified.blocked }, listed,
    verification: {
      step: 'PUT /v1/orgs/<orgId>/ai/budget with a reason: GET …/ai/budget says active with the plan\'s budget, the audit log ' +
        'shows each change with its reason, a member\'s next message is answered, and the blocked organizations are back',
      ok: verified.ok,
      detail: verified.detail
    }
  }
}

/** The runbook's verification after the budget went back to the plan's: the organization's state, its audit log, an answer, the gauge. */
async function budgetRestored (http: Api, orgId: string, restored: BudgetAnswer, blockedBefore: number, waitMs: number) {
  const view = await expect<BudgetAnswer>(http.call('GET', `/v1/orgs/${orgId}/ai/budget`), 200, 'read the budget')
  const { items } = await expect<{ items: Array<{ diff: { reason?: { after?: string } } | null }> }>(
    http.call('GET', `/v1/orgs/${orgId}/audit-events?action=ai.budget.set&limit=10`,
      { headers: restored.position === null ? {} : { 'x-consistent-with': restored.position } }),
    200, 'read the budget changes in the audit log')
  const reasons = items.map((item) => item.diff?.reason?.after).filter((reason) => reason !== undefined)
  const answer = await askAssistant(http, orgId, 'Say OK.')
  const blocked = await poll(Date.now() + waitMs, async () => {
    const now = await http.metric(BLOCKED)
    return now <= blockedBefore ? now : undefined
  }) ?? await http.metric(BLOCKED)
  return {
    blocked,
    ok: view.state === 'active' && view.monthlyMicros === null && view.budgetMicros === view.planMicros && reasons.length === 3 &&
      answer.status === 200 && blocked <= blockedBefore,
    detail: `${view.state}, budget ${view.budgetMicros} (the plan's ${view.planMicros}); ${reasons.length} budget change(s) in the ` +
      `audit log with a reason; the next message answered ${answer.status}; ${BLOCKED} ${blocked} (before: ${blockedBefore})`
  }
}

export async function runDrill (scenario: Scenario, options: DrillOptions): Promise<DrillReport> {
  const http = api(options)
  switch (scenario) {
    case 'denial-burst': return denialBurst(http, options)
    case 'break-glass': return breakGlass(http)
    case 'tampered-audit-row': return tamperedAuditRow(http, options)
    case 'stalled-projection': return stalledProjection(http, options)
    case 'dead-job': return deadJob(http, options)
    case 'tool-errors': return toolErrors(http, options)
    case 'webhook-signature-burst': return webhookSignatureBurst(http, options)
    case 'webhook-endpoint-down': return webhookEndpointDown(http, options)
    case 'ai-budget-burn': return aiBudgetBurn(http, options)
  }
}
