/**
 * `ledgerline drill <scenario>` against a running, listening instance: each
 * drill makes its alert's metric cross the threshold (read here from
 * /metrics, not taken from the drill's word), and the runbook's verification
 * step passes afterwards, run as the runbook says (the CLI where it names
 * one). The drills that change the database need one shared with the
 * server: on PGlite they are skipped, saying so. The thresholds the drills
 * aim at are the alert rules'. The instance asks for a metrics token: the
 * drills read /metrics with it, given as --metrics-token or METRICS_TOKEN.
 * dead-job needs the server's event store: on PostgreSQL the CLI opens it
 * over DATABASE_URL; beside a server on PGlite the CLI runs the drill inside
 * the server, which the test does by running it on the server's runtime.
 * The commands run in the test's process (test/helpers/ledgerline.ts), each
 * opening what a process would from the environment it is given; the
 * runbook's listing after break-glass runs as a process of its own.
 * ai-budget-burn needs a model upstream: the server's is the fake
 * OpenAI-compatible one (test/helpers/fake-openai.ts), at a micro-unit a
 * token, and the drill runs with a platform administrator's token, so that
 * it also finds its organization in the list of offenders.
 */
import t from 'tap'
import { bootstrap } from '../src/application/identity/commands.ts'
import { budgetStreamId } from '../src/domain/assistant/budget.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { jobStreamId } from '../src/domain/jobs/job.ts'
import { DRILL_FAILURE_CODE, DRILL_JOB_TYPE, drillPoisonJob } from '../src/application/jobs/drill.ts'
import { runDrill, THRESHOLDS } from '../src/ops/drills.ts'
import { ORG_WINDOWS } from '../src/metrics.ts'
import { loadAlertRules } from '../src/ops/lib/alert-rules.ts'
import { parseMetrics, valueOf } from '../src/ops/lib/prometheus-text.ts'
import { jobView } from '../src/projections/jobs/queries.ts'
import { ONE_MICRO_PER_TOKEN } from './helpers/ai-budgets.ts'
import { openTestApp } from './helpers/app.ts'
import { settled } from './helpers/assertions.ts'
import { assistantEnv } from './helpers/assistant.ts'
import { cli } from './helpers/cli.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import { until } from './helpers/jobs-harness.ts'
import { ledgerline } from './helpers/ledgerline.ts'

interface Report {
  scenario: string, orgId: string, metric: string, labels: Record<string, string>, threshold: number, before: number, peak: number,
  crossed: boolean,
  verification: { ok: boolean, detail: string },
  jobId?: string
  inOrder?: boolean
  blocked?: { before: number, peak: number, after: number }
  listed?: boolean | null
}

t.test('the drills aim at the thresholds of the alert rules', async (t) => {
  const expr = (alert: string): string => loadAlertRules().find((rule) => rule.alert === alert)?.expr ?? ''
  t.match(expr('LedgerlineAuthzDenialBurst'), new RegExp(`^ledgerline_authz_max_org_denials_5m\\s*>\\s*${THRESHOLDS.denialBurst}$`))
  t.match(expr('LedgerlineMassRoleChanges'), new RegExp(`^ledgerline_rbac_max_org_role_changes_10m\\s*>\\s*${THRESHOLDS.massRoleChanges}$`))
  t.same([ORG_WINDOWS.denials.windowMs, ORG_WINDOWS.roleChanges.windowMs], [5 * 60_000, 10 * 60_000],
    'the server\'s windows are the 5m and 10m the gauges are named for')
  t.match(expr('LedgerlineBreakGlassStarted'), new RegExp(`stage="started".*>\\s*${THRESHOLDS.breakGlass}$`, 's'))
  t.match(expr('LedgerlineAuditVerifyFailed'), new RegExp(`verify_failures_total.*>\\s*${THRESHOLDS.auditVerifyFailures}$`, 's'))
  t.match(expr('LedgerlineProjectionLagHigh'), new RegExp(`lag_seconds.*>\\s*${THRESHOLDS.projectionLagSeconds}$`, 's'))
  t.match(expr('LedgerlineJobsDeadLetters'),
    new RegExp(`^max by \\(type\\) \\(ledgerline_jobs\\{state="dead"\\}.*>\\s*${THRESHOLDS.deadJobs}$`, 's'))
  t.match(expr('LedgerlineToolErrorRate'), new RegExp(`\\)\\s*>\\s*${THRESHOLDS.toolErrorRate}\\s+and on \\(tool\\)`, 's'))
  t.match(expr('LedgerlineToolErrorRate'), new RegExp(`>=\\s*${THRESHOLDS.toolMinCalls}\\s*$`, 's'))
  const signatureFailures = 'sum by (source) (increase(ledgerline_webhooks_signature_failures_total[5m]))'
  t.equal(expr('LedgerlineWebhookSignatureFailures'), `${signatureFailures} > ${THRESHOLDS.signatureFailures}`)
  t.match(expr('LedgerlineWebhookEndpointDisabled'),
    new RegExp(`^max\\(ledgerline_webhook_endpoints_disabled - min_over_time\\(.*\\)\\)\\s*>\\s*${THRESHOLDS.endpointsDisabled}$`))
  t.equal(expr('LedgerlineAiBudgetBurnFast'), `max(ledgerline_ai_budget_orgs_burning{rule="page_1h"}) > ${THRESHOLDS.aiBudgetBurning}`)
})

t.test('each drill crosses its alert threshold on a running instance, and the runbook verification passes', async (t) => {
  await forEachDatabase(t, async (t, { sql, driver, url: databaseUrl }) => {
    const metricsToken = 'drill-metrics-token-0123456789'
    const fake = await startFakeOpenAI()
    t.teardown(() => fake.close())
    // Private targets: webhook-endpoint-down's receiver listens on 127.0.0.1. The model: ai-budget-burn's.
    const api = await openTestApp(t, sql, {
      METRICS_TOKEN: metricsToken, WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
      ...assistantEnv(fake, { AI_PRICES: ONE_MICRO_PER_TOKEN, AI_MAX_OUTPUT_TOKENS: '50' })
    })
    const address = await api.app.listen({ port: 0, host: '127.0.0.1' })
    const env = { NODE_ENV: 'test', ...(databaseUrl === undefined ? {} : { DATABASE_URL: databaseUrl }) }
    const scrape = async (path: string): Promise<Response> =>
      fetch(`${address}${path}`, { headers: { authorization: `Bearer ${metricsToken}` } })
    const metric = async (name: string, labels: Record<string, string>): Promise<number> =>
      valueOf(parseMetrics(await (await scrape('/metrics')).text()), name, labels)
    // The token by flag for denial-burst, from the environment for the others.
    const drill = async (scenario: string, extra: string[] = [], apiToken = api.owner.token): Promise<Report> => {
      const token = scenario === 'denial-burst' ? ['--metrics-token', metricsToken] : []
      const args = ['drill', scenario, '--url', address, '--token', apiToken, ...token, '--max-wait', '90', ...extra, '--json']
      const run = await ledgerline(undefined, args, { env: scenario === 'denial-burst' ? env : { ...env, METRICS_TOKEN: metricsToken } })
      t.equal(run.code, 0, `${scenario} exits 0: ${run.stderr.slice(-2000)}`)
      return JSON.parse(run.stdout)
    }

    await t.test('denial-burst', async (t) => {
      const report = await drill('denial-burst')
      t.ok(report.crossed, `${report.before} → ${report.peak}`)
      const now = await metric('ledgerline_authz_max_org_denials_5m', {})
      t.ok(now > THRESHOLDS.denialBurst, `the alert's gauge reads ${now}, above ${THRESHOLDS.denialBurst}`)
      t.ok(await metric('ledgerline_authz_denial_burst_orgs', {}) >= 1, 'an organization is over the threshold')
      const windows = await (await scrape('/metrics/organizations'))
        .json() as { denials: { organizations: Array<{ orgId: string, count: number }> } }
      const own = windows.denials.organizations.find((o) => o.orgId === report.orgId)
      t.ok((own?.count ?? 0) > THRESHOLDS.denialBurst, `the server counts ${own?.count} denials in the drill organization`)
      t.ok(report.verification.ok, report.verification.detail)
      const members = await api.call('GET', `/v1/orgs/${report.orgId}/members`)
      t.same(members.json().items.map((m: { roles: string[] }) => m.roles), [['owner']], 'the drill member is gone')
    })

    await t.test('break-glass', async (t) => {
      const before = await metric('ledgerline_impersonation_break_glass_total', { stage: 'started' })
      const report = await drill('break-glass')
      t.ok(report.crossed)
      t.equal(await metric('ledgerline_impersonation_break_glass_total', { stage: 'started' }), before + 1, 'one break-glass start')
      t.ok(await metric('ledgerline_impersonation_starts_total', { critical: 'true' }) >= 1, 'a critical account was impersonated')
      t.ok(report.verification.ok, report.verification.detail)
      if (databaseUrl === undefined) return
      // A process of its own: a command that ran projections on PostgreSQL once printed its output and never exited.
      const listed = await cli(['impersonation', 'list', '--org', report.orgId, '--status', 'active', '--json'], env)
      t.equal(listed.code, 0, listed.stderr)
      t.same(JSON.parse(listed.stdout).items, [], 'runbook: ledgerline impersonation list --status active is empty')
    })

    await t.test('tampered-audit-row',
      { skip: driver === 'pglite'
        ? 'the drill changes a stored row: it needs the server\'s database (DATABASE_URL), which PGlite does not share'
        : false }, async (t) => {
      const report = await drill('tampered-audit-row')
      t.ok(report.crossed)
      t.ok(await metric('ledgerline_audit_verify_failures_total', { scope: 'org' }) >= 1, 'the server counted the failed verification')
      const verified = await ledgerline(undefined, ['audit', 'verify', '--org', report.orgId], { env })
      t.equal(verified.code, 0, `runbook: ledgerline audit verify exits 0: ${verified.stdout}${verified.stderr}`)
      t.match(verified.stdout, /matches the event log/)
    })

    await t.test('stalled-projection',
      { skip: driver === 'pglite'
        ? 'the drill holds a checkpoint row: it needs the server\'s database (DATABASE_URL), which PGlite does not share'
        : false }, async (t) => {
      const report = await drill('stalled-projection')
      t.ok(report.crossed, `lag peaked at ${report.peak} s`)
      t.ok(report.peak > THRESHOLDS.projectionLagSeconds)
      t.ok(await metric('ledgerline_projection_lag_seconds', { projection: 'audit' }) <= THRESHOLDS.projectionLagSeconds,
        'runbook: the lag is back under the threshold')
      t.equal((await fetch(`${address}/readyz`)).status, 200, 'runbook: /readyz answers 200')
    })

    await t.test('dead-job', async (t) => {
      t.equal(api.runtime.jobs.handlers.get(DRILL_JOB_TYPE), drillPoisonJob,
        'the application registers the drill\'s job type on every runtime')
      const deadAttempts = { type: DRILL_JOB_TYPE, outcome: 'dead' }
      const attemptsBefore = await metric('ledgerline_job_attempts_total', deadAttempts)
      const report: Report = driver === 'pglite'
        ? await runDrill('dead-job', {
          baseUrl: address, token: api.owner.token, metricsToken, holdMs: 0, maxWaitMs: 90_000,
          jobs: { sql: api.runtime.sql, services: api.runtime.identity }
        })
        : await drill('dead-job', ['--hold', '0'])
      t.ok(report.crossed, `dead ${DRILL_JOB_TYPE} jobs ${report.before} → ${report.peak}`)
      t.equal(report.peak, report.before + 1, 'one more dead job, as the alert reads it')
      t.ok(report.verification.ok, report.verification.detail)
      const jobId = report.jobId ?? ''
      const events = (await api.runtime.store.readStream(jobStreamId(jobId))).filter((e) => e.type !== 'job.lease.renewed')
      t.same(events.map((e) => e.type), ['job.scheduled', 'job.attempt.started', 'job.attempt.failed', 'job.dead', 'job.retried',
        'job.attempt.started', 'job.attempt.succeeded'], 'it died at its first attempt, was retried, and succeeded')
      t.match(events[2]?.data, { attempt: 1, code: DRILL_FAILURE_CODE, retryAt: null })
      t.match(events[3]?.data, { reason: 'do_not_retry' })
      t.equal(await metric('ledgerline_job_attempts_total', deadAttempts), attemptsBefore + 1, 'the server ran the attempt that died')
      t.equal(await metric('ledgerline_jobs', { type: DRILL_JOB_TYPE, state: 'dead' }), report.before,
        'runbook: the dead jobs of the type are back where they were')
      t.equal((await jobView(sql, jobId))?.orgId, report.orgId, 'the job is listed under the drill organization')
    })

    await t.test('tool-errors', async (t) => {
      const failed = { tool: 'users.get', outcome: 'failed' }
      const before = await metric('ledgerline_tool_calls_total', failed)
      const succeeded = await metric('ledgerline_tool_calls_total', { tool: 'users.get', outcome: 'succeeded' })
      const report = await drill('tool-errors')
      t.ok(report.crossed, `failed users.get calls ${report.before} → ${report.peak}`)
      t.equal(report.peak, report.before + THRESHOLDS.toolMinCalls, 'as many failed calls as the alert needs at least')
      t.equal(await metric('ledgerline_tool_calls_total', failed), before + THRESHOLDS.toolMinCalls, 'the server counted each')
      t.equal(await metric('ledgerline_tool_calls_total', { tool: 'users.get', outcome: 'succeeded' }), succeeded + 1,
        'and the correct call after them')
      t.ok(report.verification.ok, report.verification.detail)
      await settled(api.runtime, 20_000)
      const listed = await api.call('GET', `/v1/orgs/${report.orgId}/tool-calls?tool=users.get&limit=50`)
      const items = listed.json().items as Array<{ status: string, errorCode: string | null, callerId: string }>
      t.same(items.map((item) => [item.status, item.errorCode, item.callerId]),
        [['succeeded', null, api.owner.userId],
          ...Array.from({ length: THRESHOLDS.toolMinCalls }, () => ['failed', 'org.member_not_found', api.owner.userId])],
        'runbook: the calls by tool show one caller, one code of the domain, then the call that succeeded')
    })

    await t.test('webhook-signature-burst', async (t) => {
      const standard = { source: 'standard' }
      const failures = await metric('ledgerline_webhooks_signature_failures_total', standard)
      const accepted = await metric('ledgerline_webhooks_received_total', { ...standard, outcome: 'accepted' })
      const duplicates = await metric('ledgerline_webhooks_received_total', { ...standard, outcome: 'duplicate' })
      const report = await drill('webhook-signature-burst')
      t.ok(report.crossed, `signature failures ${report.before} → ${report.peak}`)
      t.equal(report.peak, report.before + THRESHOLDS.signatureFailures + 1, 'one more forged message than the alert needs')
      t.equal(await metric('ledgerline_webhooks_signature_failures_total', standard), failures + THRESHOLDS.signatureFailures + 1,
        'the server counted each forged message')
      t.equal(await metric('ledgerline_webhooks_received_total', { ...standard, outcome: 'invalid_signature' }),
        failures + THRESHOLDS.signatureFailures + 1, 'each as refused for its signature')
      t.equal(await metric('ledgerline_webhooks_received_total', { ...standard, outcome: 'accepted' }), accepted + 1,
        'the genuine message was taken')
      t.equal(await metric('ledgerline_webhooks_received_total', { ...standard, outcome: 'duplicate' }), duplicates + 1,
        'and its second delivery was a duplicate')
      t.ok(report.verification.ok, report.verification.detail)
      const received = (await api.runtime.sql.query<{ stream_id: string }>(
        "SELECT stream_id FROM events WHERE type = 'webhook.received' AND metadata->>'orgId' = $1", [report.orgId])).rows
      t.equal(received.length, 1, 'the log holds one webhook.received in the drill organization: the genuine message, once')
      await settled(api.runtime, 20_000)
      const sources = await api.call('GET', `/v1/orgs/${report.orgId}/webhooks/sources`)
      t.same(sources.json().items.map((s: { status: string }) => s.status), ['disabled'], 'runbook: the drill source is disabled')
    })

    await t.test('webhook-endpoint-down', async (t) => {
      const gone = await metric('ledgerline_webhook_deliveries_total', { outcome: 'gone' })
      const delivered = await metric('ledgerline_webhook_deliveries_total', { outcome: 'delivered' })
      const report = await drill('webhook-endpoint-down', ['--hold', '0'])
      t.ok(report.crossed, `disabled endpoints ${report.before} → ${report.peak}`)
      t.equal(report.peak, report.before + 1, 'one more disabled endpoint, as the alert reads it')
      t.ok(report.verification.ok, report.verification.detail)
      t.equal(report.inOrder, true, 'the recovery sent the refused message before the one held after it')
      t.equal(await metric('ledgerline_webhook_deliveries_total', { outcome: 'gone' }), gone + 1, 'one attempt answered 410')
      t.equal(await metric('ledgerline_webhook_deliveries_total', { outcome: 'delivered' }), delivered + 2,
        'two delivered after the recovery: the refused message and the held one')
      t.equal(await metric('ledgerline_webhook_endpoints_disabled', {}), report.before, 'runbook: the disabled count is back')
      await settled(api.runtime, 20_000)
      const types = (await api.runtime.sql.query<{ type: string }>(
        `SELECT type FROM events WHERE stream_id = (
           SELECT stream_id FROM events WHERE type = 'webhook.endpoint.created' AND metadata->>'orgId' = $1) ORDER BY global_position`,
        [report.orgId])).rows.map((row) => row.type)
      t.same(types, ['webhook.endpoint.created', 'webhook.endpoint.disabled', 'webhook.endpoint.enabled', 'webhook.endpoint.deleted'],
        'the endpoint\'s history: created, disabled (gone), enabled by the recovery, deleted by the drill')
    })

    await t.test('ai-budget-burn', async (t) => {
      const staff = await bootstrap(api.runtime.identity, systemCommand('drills-test'),
        { email: 'staff@drills.example', orgName: 'Staff', platformAdmin: true })
      // The answer that burns the budget, and the one after the fix. No usage chunk: Ledgerline counts the tokens itself.
      fake.enqueue({ text: ['one\n', 'two\n', 'three\n', 'four\n', 'five\n'], usage: null }, { text: ['OK'], usage: null })
      const seen = fake.requests.length
      const report = await drill('ai-budget-burn', ['--hold', '0'], staff.token!)
      t.ok(report.crossed, `organizations over 14.4x over 1h and 5m ${report.before} → ${report.peak}`)
      t.ok(report.peak > THRESHOLDS.aiBudgetBurning, 'as the alert reads it')
      t.equal(report.blocked?.peak, (report.blocked?.before ?? Number.NaN) + 1, 'one more organization blocked')
      t.equal(report.listed, true, 'runbook: the offenders over 14.4x list the drill organization')
      t.ok(report.verification.ok, report.verification.detail)
      t.equal(fake.requests.length - seen, 2, 'the upstream answered twice: the answer that burnt the budget and the one after the fix')
      t.equal(report.blocked?.after, report.blocked?.before, 'runbook: the blocked organizations are back')
      // The gauges are evaluated at most every 15 s: a scrape every 250 ms is plenty.
      await until('the drill organization no longer burns', async () => {
        await new Promise((resolve) => setTimeout(resolve, 250))
        return await metric('ledgerline_ai_budget_orgs_burning', { rule: 'page_1h' }) === report.before
      }, 30_000)
      t.same((await api.runtime.store.readStream(budgetStreamId(report.orgId))).map((event) => event.type), [
        'ai.budget.set', 'ai.budget.threshold_crossed', 'ai.budget.threshold_crossed', 'ai.budget.threshold_crossed',
        'ai.budget.exhausted', 'ai.budget.set', 'ai.budget.unblocked', 'ai.budget.exhausted', 'ai.budget.set', 'ai.budget.unblocked'
      ], 'off (0) to read an estimate, one message\'s worth, spent and blocked, back to the plan\'s and unblocked')
    })

    await t.test('a drill that needs the database says so without it', async (t) => {
      for (const scenario of ['tampered-audit-row', 'dead-job']) {
        const run = await ledgerline(undefined,
          ['drill', scenario, '--url', address, '--token', api.owner.token, '--metrics-token', metricsToken], { env: { NODE_ENV: 'test' } })
        t.equal(run.code, 1, scenario)
        t.match(run.stderr, /DATABASE_URL/, scenario)
      }
    })

    await t.test('a drill without the metrics token says which one it needs', async (t) => {
      const run = await ledgerline(undefined, ['drill', 'break-glass', '--url', address, '--token', api.owner.token],
        { env: { NODE_ENV: 'test' } })
      t.equal(run.code, 1)
      t.match(run.stderr, /401.*METRICS_TOKEN/)
    })
  })
})
