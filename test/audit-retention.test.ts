/**
 * Audit retention: the setting per organization within what its plan
 * allows, the purge of rows past it (itself a row of the log, anchoring the
 * chain that remains), and a rebuild that applies the same retention.
 */
import t from 'tap'
import { changeOrganization, createOrganization } from '../src/application/identity/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { openTestApp } from './helpers/app.ts'
import { settled } from './helpers/assertions.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { problem, register } from './helpers/http.ts'
import { joinOrg } from './helpers/invitations.ts'
import { rebuildProjection } from '../src/projections/rebuild.ts'
import { auditProjection } from '../src/projections/audit/projection.ts'

const DAY = 86_400_000

t.test('retention: read and set within the plan, owners only', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    t.same((await api.call('GET', `/v1/orgs/${orgId}/audit-retention`)).json(),
      { days: 30, setting: null, plan: 'free', default: 30, min: 7, max: 30 })
    problem(t, await api.call('PUT', `/v1/orgs/${orgId}/audit-retention`, { body: { days: 31 } }), 400, 'audit.retention_out_of_range')
    problem(t, await api.call('PUT', `/v1/orgs/${orgId}/audit-retention`, { body: { days: 3 } }), 400, 'audit.retention_out_of_range')
    t.equal((await api.call('PUT', `/v1/orgs/${orgId}/audit-retention`, { body: { days: 14 } })).statusCode, 200)
    t.match((await api.call('GET', `/v1/orgs/${orgId}/audit-retention`)).json(), { days: 14, setting: 14 })
    await api.call('PUT', `/v1/orgs/${orgId}/plan`, { body: { plan: 'enterprise' } })
    t.equal((await api.call('PUT', `/v1/orgs/${orgId}/audit-retention`, { body: { days: 7 * 365 } })).statusCode, 200,
      'enterprise: up to 7 years')
    await api.call('PUT', `/v1/orgs/${orgId}/plan`, { body: { plan: 'pro' } })
    t.match((await api.call('GET', `/v1/orgs/${orgId}/audit-retention`)).json(), { days: 365, setting: 2555, max: 365 },
      'a smaller plan caps the setting')
    t.equal((await api.call('PUT', `/v1/orgs/${orgId}/audit-retention`, { body: { days: null } })).statusCode, 200)
    t.match((await api.call('GET', `/v1/orgs/${orgId}/audit-retention`)).json(), { days: 365, setting: null })

    const admin = await register(api, 'admin@a.example')
    await joinOrg(api, orgId, admin, ['admin'])
    problem(t, await api.call('PUT', `/v1/orgs/${orgId}/audit-retention`, { token: admin.token, body: { days: 30 } }), 403,
      'auth.forbidden')
    t.equal((await api.call('GET', `/v1/orgs/${orgId}/audit-retention`, { token: admin.token })).statusCode, 200)
    problem(t, await api.call('PUT', `/v1/orgs/${orgId}/audit-retention`, { body: { days: 'forever' } }), 400, 'http.validation')
  })
})

t.test('the purge removes rows past retention by an audited event; what remains chains onto it; a rebuild does the same', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const now = new Date()
    const at = (daysAgo: number) => systemCommand('test', new Date(now.getTime() - daysAgo * DAY))
    const { orgId } = await createOrganization(api.runtime.identity, at(40), api.owner.userId, { name: 'Old Co' })
    await changeOrganization(api.runtime.identity, { ...at(35), orgId }, orgId, { type: 'RenameOrganization', data: { name: 'Older Co' } })
    await changeOrganization(api.runtime.identity, { ...at(2), orgId }, orgId, { type: 'RenameOrganization', data: { name: 'New Co' } })
    await settled(api.runtime)
    const rows = async () =>
      (await sql.query<{ seq: number, action: string, prev_hash: string, hash: string, diff: Record<string, { after?: unknown }> | null }>(
      'SELECT seq::int AS seq, action, prev_hash, hash, diff FROM audit_events WHERE org_id = $1 ORDER BY seq', [orgId])).rows
    const before = await rows()
    t.same(before.map((r) => r.action),
      ['org.organization.created', 'org.member.added', 'org.organization.renamed', 'org.organization.renamed'])

    await api.runtime.auditRetention.runOnce(now)
    await settled(api.runtime)
    const after = await rows()
    t.same(after.map((r) => [r.seq, r.action]), [[4, 'org.organization.renamed'], [5, 'audit.log.purged']],
      'free plan: 30 days kept; the purge is a row of the log')
    t.equal(after[0]!.prev_hash, before[2]!.hash, 'the first row kept still names the hash of the last one removed')
    t.match(after[1]!.diff, { throughSeq: { after: 3 }, rows: { after: 3 }, retentionDays: { after: 30 } })
    const { rows: [purge] } = await sql.query<{ data: { throughHash: string } }>(
      "SELECT data FROM events WHERE type = 'audit.log.purged' AND stream_id = $1", [`audit-${orgId}`])
    t.equal(purge!.data.throughHash, before[2]!.hash, 'the purge event records the anchor')

    await api.runtime.auditRetention.runOnce(now)
    await settled(api.runtime)
    t.same((await rows()).map((r) => r.seq), [4, 5], 'nothing more to purge: no new event')

    await api.runtime.runner.stop()
    const kept = await sql.query('SELECT * FROM audit_events ORDER BY coalesce(org_id, \'\'), seq')
    await rebuildProjection({ sql, store: api.runtime.store, projection: auditProjection })
    t.same((await sql.query('SELECT * FROM audit_events ORDER BY coalesce(org_id, \'\'), seq')).rows, kept.rows,
      'a rebuild applies the same purges')
  })
})
