/**
 * Prometheus metrics move for real causes, read from /metrics as Prometheus
 * parses it: authorization decisions, appends and their failures, role
 * changes, audit exports and verification, impersonation events, readiness;
 * no series carries an organization id, the per-organization alert gauges
 * aggregate a bounded in-memory window, and label values from data stay bounded.
 */
import { pino } from 'pino'
import t from 'tap'
import { z } from 'zod'
import { verifyAuditLog } from '../src/application/audit/verify.ts'
import { addMember } from '../src/application/identity/commands.ts'
import { loadConfig } from '../src/config.ts'
import { metadataFor, systemCommand } from '../src/domain/envelope.ts'
import { createRegistry } from '../src/domain/events.ts'
import { defineEvent } from '../src/domain/registry.ts'
import type { NewEvent } from '../src/eventstore/types.ts'
import { DENIAL_REASONS } from '../src/domain/impersonation/events.ts'
import { Metrics, ORG_WINDOWS, type OrgBurst } from '../src/metrics.ts'
import { openRuntime } from '../src/runtime.ts'
import { settled } from './helpers/assertions.ts'
import { openTestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { register } from './helpers/http.ts'
import { parseMetrics, valueOf, type Sample } from '../src/ops/lib/prometheus-text.ts'

const has = (samples: readonly Sample[], name: string, labels: Record<string, string> = {}): boolean =>
  samples.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))

t.test('metrics move for what happens through the API, the store and the audit tools', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const scrape = async (): Promise<Sample[]> => {
      const response = await api.call('GET', '/metrics', { token: null })
      t.equal(response.statusCode, 200)
      t.match(String(response.headers['content-type']), /^text\/plain/)
      return parseMetrics(response.body)
    }
    /** How much each named series moved while `act` ran. */
    const moved = async (act: () => Promise<void>,
      series: Record<string, [string, Record<string, string>]>): Promise<Record<string, number>> => {
      const before = await scrape()
      await act()
      const after = await scrape()
      return Object.fromEntries(Object.entries(series)
        .map(([key, [name, labels]]) => [key, valueOf(after, name, labels) - valueOf(before, name, labels)]))
    }
    const decisions = (outcome: 'allow' | 'deny'): [string, Record<string, string>] => ['ledgerline_authz_decisions_total', { outcome }]
    const roleChanges: [string, Record<string, string>] = ['ledgerline_rbac_role_changes_total', {}]

    await t.test('a healthy app is ready, its projections run, and HTTP is counted', async (t) => {
      await settled(api.runtime)
      await scrape()
      const samples = await scrape() // the first scrape shows in the second
      t.equal(valueOf(samples, 'ledgerline_ready'), 1)
      for (const check of ['database', 'event_store', 'projections']) t.equal(valueOf(samples, 'ledgerline_readiness_check', { check }), 1,
        check)
      for (const projection of api.runtime.projections.map((p) => p.name)) {
        t.equal(valueOf(samples, 'ledgerline_projection_running', { projection }), 1, `${projection} runs`)
        t.ok(has(samples, 'ledgerline_projection_errors_total', { projection }), `${projection} has an error counter`)
        t.equal(valueOf(samples, 'ledgerline_projection_errors_total', { projection }), 0)
        t.ok(has(samples, 'ledgerline_projection_lag_events', { projection }))
      }
      t.ok(valueOf(samples, 'ledgerline_http_requests_total', { method: 'GET', route: '/metrics', status: '200' }) >= 1)
      t.ok(valueOf(samples, 'ledgerline_eventstore_append_duration_seconds_count', { outcome: 'ok' }) >= 1, 'the bootstrap appended')
      t.ok(valueOf(samples, 'process_cpu_user_seconds_total') > 0, 'default metrics')
    })

    const bob = await register(api, 'bob@a.example')
    let consistent: Record<string, string> = {}

    await t.test('adding a member is a role change', async (t) => {
      const delta = await moved(async () => {
        const added = await addMember(api.runtime.identity, { ...systemCommand('test'), actor: { type: 'user', id: api.owner.userId } },
          orgId, { userId: bob.userId, roles: ['viewer'] })
        consistent = { 'x-consistent-with': String(added.position) }
      }, { allow: decisions('allow'), deny: decisions('deny'), roleChanges })
      t.same(delta, { allow: 0, deny: 0, roleChanges: 1 })
    })

    await t.test('a 403 on an organization route counts a deny, and in the organization\'s window', async (t) => {
      const delta = await moved(async () => {
        const denied = await api.call('GET', `/v1/orgs/${orgId}/audit-events`, { token: bob.token, headers: consistent })
        t.equal(denied.statusCode, 403, denied.body)
      }, { allow: decisions('allow'), deny: decisions('deny'), max: ['ledgerline_authz_max_org_denials_5m', {}] })
      t.same(delta, { allow: 0, deny: 1, max: 1 })
      t.equal(api.runtime.metrics.orgCount('denials', orgId), 1)
      const samples = await scrape()
      t.same(samples.filter((s) => s.labels.org !== undefined || Object.values(s.labels).includes(orgId)).map((s) => s.name), [],
        'no series names the organization')
    })

    await t.test('assigning a role through the API is a role change', async (t) => {
      const delta = await moved(async () => {
        const assigned = await api.call('PUT', `/v1/orgs/${orgId}/members/${bob.userId}/roles/member`, { headers: consistent })
        t.equal(assigned.statusCode, 200, assigned.body)
      }, { roleChanges, allow: decisions('allow') })
      t.same(delta, { roleChanges: 1, allow: 1 })
    })

    await t.test('authz/check counts each decision it answers, besides its own authorization', async (t) => {
      const resource = { type: 'organization', id: orgId }
      const delta = await moved(async () => {
        const checked = await api.call('POST', `/v1/orgs/${orgId}/authz/check`, {
          headers: consistent,
          body: { checks: [{ action: 'member:read', resource }, { userId: bob.userId, action: 'role:create', resource },
            { userId: 'nobody', action: 'member:read', resource }] }
        })
        t.equal(checked.statusCode, 200, checked.body)
        t.same(checked.json().results, [{ allowed: true }, { allowed: false }, { allowed: false }])
      }, { allow: decisions('allow'), deny: decisions('deny') })
      t.same(delta, { allow: 2, deny: 2 })
    })

    await t.test('an append with a wrong expected version is a conflict, timed; an unknown type is invalid', async (t) => {
      const metadata = { ...metadataFor(systemCommand('test'), 0), orgId }
      const delta = await moved(async () => {
        await t.rejects(api.runtime.store.append(`org-${orgId}`,
          [{ id: metadata.eventId, type: 'org.organization.renamed', data: { name: 'Never' }, metadata }],
          { expectedVersion: 'no_stream' }),
          { code: 'store.wrong_expected_version' })
        await t.rejects(api.runtime.store.append(`org-${orgId}`,
          [{ id: metadata.eventId, type: 'test.nothing.happened', data: {}, metadata }]), { code: 'store.unknown_event_type' })
      }, {
        conflicts: ['ledgerline_eventstore_append_errors_total', { reason: 'conflict' }],
        invalid: ['ledgerline_eventstore_append_errors_total', { reason: 'invalid' }],
        timedConflicts: ['ledgerline_eventstore_append_duration_seconds_count', { outcome: 'conflict' }],
        timedErrors: ['ledgerline_eventstore_append_duration_seconds_count', { outcome: 'error' }],
        roleChanges
      })
      t.same(delta, { conflicts: 1, invalid: 1, timedConflicts: 1, timedErrors: 1, roleChanges: 0 })
    })

    await t.test('an export counts once, and its rows as many as it sent', async (t) => {
      await settled(api.runtime)
      let rows = 0
      const delta = await moved(async () => {
        const exported = await api.call('GET', `/v1/orgs/${orgId}/audit-events/export?format=ndjson`, { headers: consistent })
        t.equal(exported.statusCode, 200, exported.body.slice(0, 300))
        rows = exported.body.split('\n').filter((line) => line !== '').length
      },
        { exports: ['ledgerline_audit_exports_total', { format: 'ndjson' }],
          rows: ['ledgerline_audit_export_rows_total', { format: 'ndjson' }] })
      t.ok(rows > 3, `${rows} rows exported`)
      t.same(delta, { exports: 1, rows })
    })

    await t.test('verify runs count by scope and result; a tampered row is a failure', async (t) => {
      await settled(api.runtime)
      const runs = (scope: string, result: string): [string, Record<string, string>] =>
        ['ledgerline_audit_verify_runs_total', { scope, result }]
      const series = {
        orgOk: runs('org', 'ok'), orgFailed: runs('org', 'failed'), platformOk: runs('platform', 'ok'),
        failures: ['ledgerline_audit_verify_failures_total', { scope: 'org' }] as [string, Record<string, string>]
      }
      const clean = await moved(async () => {
        t.equal((await verifyAuditLog(api.runtime, orgId)).ok, true)
        t.equal((await verifyAuditLog(api.runtime, null)).ok, true)
      }, series)
      t.same(clean, { orgOk: 1, orgFailed: 0, platformOk: 1, failures: 0 })

      const tampered = await moved(async () => {
        const { rowCount } = await api.runtime.sql.query(
          "UPDATE audit_events SET actor_label = 'someone else' WHERE org_id = $1 AND seq = 1", [orgId])
        t.equal(rowCount, 1)
        const report = await verifyAuditLog(api.runtime, orgId)
        t.match(report, { ok: false, mismatch: { seq: 1, column: 'actor_label' } })
      }, series)
      t.same(tampered, { orgOk: 0, orgFailed: 1, platformOk: 0, failures: 1 })
    })

    await t.test('a stopped projection reads 0 in ledgerline_projection_running', async (t) => {
      await api.runtime.runner.stop()
      const samples = await scrape()
      t.equal(valueOf(samples, 'ledgerline_projection_running', { projection: 'audit' }), 0)
    })
  })
})

/** Impersonation events as the impersonation pack defines them; loosely here, unless the application registers them already. */
const IMPERSONATION_TYPES = ['requested', 'approved', 'started', 'denied'].map((stage) => `impersonation.session.${stage}`)
const testEvents = IMPERSONATION_TYPES
  .filter((type) => !createRegistry().has(type))
  .map((type) => defineEvent({ type, schema: z.record(z.string(), z.unknown()) }))

t.test('impersonation events count starts, denials and break-glass stages when they are written, once', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), pino({ level: 'silent' }), { sql, extraEvents: testEvents })
    t.teardown(() => runtime.close())
    const command = systemCommand('test')
    let index = 0
    const event = (type: string, data: Record<string, unknown>): NewEvent => {
      const metadata = { ...metadataFor(command, index++), orgId: 'org_1' }
      return { id: metadata.eventId, type: `impersonation.session.${type}`, data, metadata }
    }
    const now = new Date()
    const started = (critical: boolean, via: string) => event('started', {
      tokenHash: 'a'.repeat(64), startedAt: now.toISOString(), expiresAt: new Date(now.getTime() + 900_000).toISOString(), via, critical,
      breakGlass: critical
    })
    const requested = event('requested', {
      sessionId: 's1', orgId: 'org_1', impersonatorId: 'u_staff', targetUserId: 'u_owner', via: 'support',
      reason: 'customer asked for help with billing',
      ticket: 'SUP-1234', durationMinutes: 15, critical: true, breakGlass: true, requestedAt: now.toISOString()
    })
    const breakGlassSession = [requested, event('approved', { approverId: 'u_second', via: 'platform' }), started(true, 'support')]
    await runtime.store.append('impersonation-s1', breakGlassSession)
    await runtime.store.append('impersonation-s1', breakGlassSession) // a retry: nothing written, nothing counted
    await runtime.store.append('impersonation-s2', [started(false, 'member')])
    await runtime.store.append('impersonation-s3',
      [event('denied', { reason: 'target_is_staff', orgId: 'org_1', impersonatorId: 'u_x', targetUserId: 'u_staff', via: 'member' })])
    await runtime.store.append('impersonation-s4', [event('denied', { reason: 'self' })])

    const samples = parseMetrics(await runtime.metrics.registry.metrics())
    t.equal(valueOf(samples, 'ledgerline_impersonation_starts_total', { via: 'support', critical: 'true' }), 1)
    t.equal(valueOf(samples, 'ledgerline_impersonation_starts_total', { via: 'member', critical: 'false' }), 1)
    t.equal(valueOf(samples, 'ledgerline_impersonation_starts_total'), 2, 'the replayed append counted nothing')
    t.equal(valueOf(samples, 'ledgerline_impersonation_denials_total', { reason: 'target_is_staff' }), 1)
    t.equal(valueOf(samples, 'ledgerline_impersonation_denials_total', { reason: 'self' }), 1)
    for (const stage of ['requested', 'approved', 'started']) t.equal(valueOf(samples, 'ledgerline_impersonation_break_glass_total',
      { stage }), 1, stage)
  })
})

t.test('per-organization windows export only aggregates: the highest count and the organizations over the threshold', async (t) => {
  let now = 0
  const metrics = new Metrics(() => now)
  const bursts: OrgBurst[] = []
  metrics.onOrgBurst((burst) => bursts.push(burst))
  const gauge = async (name: string): Promise<number> => valueOf(parseMetrics(await metrics.registry.getSingleMetricAsString(name)), name)
  const { denials, roleChanges } = ORG_WINDOWS
  for (let i = 0; i < 1000; i++) metrics.authzDecision(`org_${i}`, false)
  metrics.authzDecision('org_a', false, denials.threshold) // at the threshold: not over it
  t.equal(await gauge('ledgerline_authz_max_org_denials_5m'), denials.threshold)
  t.equal(await gauge('ledgerline_authz_denial_burst_orgs'), 0)
  t.same(bursts, [])
  now += 1000
  metrics.authzDecision('org_a', false)
  metrics.authzDecision('org_a', false)
  t.equal(await gauge('ledgerline_authz_max_org_denials_5m'), denials.threshold + 2)
  t.equal(await gauge('ledgerline_authz_denial_burst_orgs'), 1)
  t.same(bursts, [{ kind: 'denials', orgId: 'org_a', count: denials.threshold + 1, windowMs: denials.windowMs }],
    'told once, when it crossed')
  metrics.authzDecision('org_b', true, 500)
  t.equal(await gauge('ledgerline_authz_denial_burst_orgs'), 1, 'allows are not denials')

  for (let i = 0; i <= roleChanges.threshold; i++) metrics.roleChanged('org_r')
  t.equal(await gauge('ledgerline_rbac_max_org_role_changes_10m'), roleChanges.threshold + 1)
  t.equal(await gauge('ledgerline_rbac_mass_role_change_orgs'), 1)
  t.equal(await gauge('ledgerline_rbac_role_changes_total'), roleChanges.threshold + 1)

  const text = await metrics.registry.metrics()
  t.notMatch(text, /"org_|org="/, 'no organization id in the scrape')
  t.match(text, /ledgerline_authz_decisions_total\{outcome="deny"\} 1052/)

  now += denials.windowMs
  t.equal(await gauge('ledgerline_authz_max_org_denials_5m'), 0, 'the burst slid out of the window')
  t.equal(await gauge('ledgerline_authz_denial_burst_orgs'), 0)
  t.equal(await gauge('ledgerline_rbac_max_org_role_changes_10m'), roleChanges.threshold + 1,
    'the 10-minute window still holds the role changes')
})

t.test('denial reasons from data are bounded: past 50 they share "other"', async (t) => {
  const metrics = new Metrics()
  const series = async (name: string): Promise<Sample[]> => parseMetrics(await metrics.registry.getSingleMetricAsString(name))
  for (let i = 0; i < 60; i++) metrics.impersonationDenied(`reason_${i}`)
  const denials = await series('ledgerline_impersonation_denials_total')
  t.equal(denials.length, DENIAL_REASONS.length + 51, 'the known reasons (at zero from start-up), the first 50 others, and other')
  t.equal(valueOf(denials, 'ledgerline_impersonation_denials_total', { reason: 'other' }), 10)
})

t.test('series whose labels are known in advance are exported at 0 from start-up, so increase() sees their first event', async (t) => {
  const samples = parseMetrics(await new Metrics().registry.metrics())
  const zero = (name: string, labels: Record<string, string>): void => {
    t.ok(has(samples, name, labels), `${name} ${JSON.stringify(labels)}`)
    t.equal(valueOf(samples, name, labels), 0)
  }
  for (const via of ['support', 'member']) for (const critical of ['true', 'false']) zero('ledgerline_impersonation_starts_total',
    { via, critical })
  for (const stage of ['requested', 'approved', 'started']) zero('ledgerline_impersonation_break_glass_total', { stage })
  for (const scope of ['org', 'platform']) {
    zero('ledgerline_audit_verify_failures_total', { scope })
    for (const result of ['ok', 'failed']) zero('ledgerline_audit_verify_runs_total', { scope, result })
  }
  for (const reason of ['conflict', 'unavailable', 'invalid', 'other']) zero('ledgerline_eventstore_append_errors_total', { reason })
  for (const outcome of ['ok', 'conflict', 'error']) zero('ledgerline_eventstore_append_duration_seconds_count', { outcome })
  for (const outcome of ['allow', 'deny']) zero('ledgerline_authz_decisions_total', { outcome })
  for (const format of ['csv', 'ndjson', 'json']) {
    zero('ledgerline_audit_exports_total', { format })
    zero('ledgerline_audit_export_rows_total', { format })
  }
  t.equal(valueOf(samples, 'ledgerline_ready'), 0, 'not known to be ready without the /readyz checks')
})
