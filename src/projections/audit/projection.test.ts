/**
 * The audit projection: one row per event, with actor, target, diff and the
 * request's facts; no secret in any row; an unbroken hash chain per
 * organization; identical rows after a rebuild.
 */
import t from 'tap'
import { openTestApp } from '../../../test/helpers/app.ts'
import { settled } from '../../../test/helpers/assertions.ts'
import { forEachDatabase } from '../../../test/helpers/databases.ts'
import { register } from '../../../test/helpers/http.ts'
import { joinOrg } from '../../../test/helpers/invitations.ts'
import { createRegistry } from '../../domain/events.ts'
import type { RecordedEvent } from '../../eventstore/types.ts'
import type { SqlClient } from '../../sql/client.ts'
import { rebuildProjection } from '../rebuild.ts'
import { GENESIS, chainHash, type AuditRow } from './chain.ts'
import { DESCRIBERS, describe } from './describe.ts'
import { auditProjection } from './projection.ts'

interface Row extends AuditRow { prev_hash: string, hash: string }

async function auditRows (sql: SqlClient): Promise<Array<Record<string, unknown>>> {
  const { rows } = await sql.query<Record<string, unknown>>(
    `SELECT id, org_id, seq::int AS seq, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS occurred_at,
            action, actor_type, actor_id, actor_label,
            impersonator_id, target_type, target_id, diff, ip, user_agent, trace_id, request_id, position, prev_hash, hash
       FROM audit_events ORDER BY coalesce(org_id, ''), seq`)
  return rows
}

const asRow = (r: Record<string, unknown>): Row => ({
  id: r.id as string, orgId: r.org_id as string | null, seq: r.seq as number, occurredAt: r.occurred_at as string,
  action: r.action as string,
  actorType: r.actor_type as string, actorId: r.actor_id as string, actorLabel: r.actor_label as string | null,
  impersonatorId: r.impersonator_id as string | null,
  targetType: r.target_type as string | null, targetId: r.target_id as string | null, diff: r.diff, ip: r.ip as string | null,
  userAgent: r.user_agent as string | null,
  traceId: r.trace_id as string | null, requestId: r.request_id as string | null, position: r.position as string,
  prev_hash: r.prev_hash as string, hash: r.hash as string
})

t.test('every registered event type has an audit description', async (t) => {
  const types = createRegistry().types
  t.same(types.filter((type) => DESCRIBERS[type] === undefined), [], 'a new event type needs an entry in describe.ts')
})

t.test('a job\'s events are about the job, in the organization its command named, without the error\'s message', async (t) => {
  const metadata = { actor: { type: 'system', id: 'jobs' }, occurredAt: '2026-01-01T00:00:00.000Z', orgId: 'org_a' }
  const failed = {
    type: 'job.attempt.failed', streamId: 'job-j1', metadata,
    data: {
      attempt: 2, node: 'n1', code: 'http.503', message: 'upstream at 10.0.0.7 said no', failedAt: metadata.occurredAt, retryAt: null
    }
  } as unknown as RecordedEvent
  const facts = describe(failed, { get: () => undefined, set: () => {} })
  t.match(facts, { orgId: 'org_a', targetType: 'job', targetId: 'j1', diff: { attempt: { after: 2 }, code: { after: 'http.503' } } })
  t.notOk(JSON.stringify(facts).includes('10.0.0.7'), 'the message stays out of the log')
  const claimed = { ...failed, type: 'job.key.claimed', streamId: 'job_key-x', metadata: { ...metadata, orgId: undefined },
    data: { jobType: 'audit.verify', key: 'k', jobId: 'j2', at: metadata.occurredAt } } as unknown as RecordedEvent
  t.match(describe(claimed, { get: () => undefined, set: () => {} }), { orgId: null, targetType: 'job', targetId: 'j2' })
})

t.test('every event becomes an audit row with actor, target, diff and request facts; chains hold; a rebuild is identical', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const headers = { 'user-agent': 'audit-test/1.0' }
    const ada = await register(api, 'ada@a.example')
    await api.call('PATCH', `/v1/orgs/${orgId}`, { body: { name: 'Acme Agency', settings: { locale: 'fr-FR' } }, headers })
    await joinOrg(api, orgId, ada, ['viewer'])
    await api.call('PUT', `/v1/orgs/${orgId}/members/${ada.userId}/roles/admin`, { headers })
    const role = (await api.call('POST', `/v1/orgs/${orgId}/roles`, {
      body: { name: 'Clerk', grants: [{ actions: ['member:read'], resource: '*', effect: 'allow' }] }, headers
    })).json()
    await api.call('PUT', `/v1/orgs/${orgId}/roles/${role.roleId}/grants`, {
      body: { grants: [{ actions: ['member:read', 'role:read'], resource: '*', effect: 'allow' }] }, headers
    })
    await api.call('PUT', `/v1/me/password`, {
      token: ada.token, body: { currentPassword: 'correct horse battery', newPassword: 'another fine secret' }
    })
    const token = (await api.call('POST', '/v1/tokens', { token: ada.token, body: { name: 'ci' } })).json()
    await settled(api.runtime)

    const { rows: counted } = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM events')
    const rows = await auditRows(sql)
    t.equal(rows.length, counted[0]!.n, 'one audit row per event in the log')

    const text = JSON.stringify(rows)
    t.notOk(text.includes('scrypt$'), 'no password hash')
    t.notOk(text.includes(token.token), 'no token')
    const { rows: hashes } = await sql.query<{ hash: string }>(
      "SELECT data->>'hash' AS hash FROM events WHERE type = 'identity.token.created'")
    t.ok(hashes.length > 0 && hashes.every((h) => !text.includes(h.hash)), 'no token hash')

    const org = rows.filter((r) => r.org_id === orgId)
    const find = (action: string) => org.filter((r) => r.action === action)
    t.match(find('org.organization.renamed')[0], {
      actor_type: 'user', actor_id: api.owner.userId, actor_label: 'owner@a.example', target_type: 'organization', target_id: orgId,
      diff: { name: { before: 'Org A', after: 'Acme Agency' } }, ip: '127.0.0.1', user_agent: 'audit-test/1.0', trace_id: /^[0-9a-f]{32}$/
    })
    t.match(find('org.organization.settings_changed')[0], { diff: { 'settings.locale': { before: null, after: 'fr-FR' } } })
    t.match(find('org.member.role_assigned')[0],
      { target_type: 'member', target_id: ada.userId, diff: { roles: { before: ['viewer'], after: ['admin', 'viewer'] } } })
    t.match(find('rbac.role.grants_set')[0], {
      target_type: 'role', target_id: role.roleId,
      diff: { grants: { before: [{ actions: ['member:read'] }], after: [{ actions: ['member:read', 'role:read'] }] } }
    })
    t.match(rows.filter((r) => r.action === 'identity.user.password_set' && r.target_id === ada.userId).at(-1),
      { org_id: null, diff: { password: { after: 'changed' } }, actor_label: 'ada@a.example' })
    t.match(rows.find((r) => r.action === 'identity.token.created' && r.target_id === token.tokenId),
      { diff: { name: { after: 'ci' }, kind: { after: 'api' } } })

    // Each chain: seq 1, 2, 3…; each prev_hash the hash before; each hash recomputed from the row.
    const chains = new Map<string, Row[]>()
    for (const row of rows.map(asRow)) chains.set(row.orgId ?? '', [...(chains.get(row.orgId ?? '') ?? []), row])
    let broken = 0
    for (const chain of chains.values()) {
      let prev = GENESIS
      chain.forEach((row, i) => {
        const { prev_hash: prevHash, hash, ...fields } = row
        if (row.seq !== i + 1 || prevHash !== prev || chainHash(prev, fields) !== hash) broken++
        prev = hash
      })
    }
    t.equal(broken, 0, `${chains.size} chains, every link recomputed from its row`)

    await api.runtime.runner.stop()
    await rebuildProjection({ sql, store: api.runtime.store, projection: auditProjection })
    t.same(await auditRows(sql), rows, 'a rebuild gives identical rows')
    await rebuildProjection({ sql, store: api.runtime.store, projection: auditProjection, batchSize: 1 })
    t.same(await auditRows(sql), rows, 'one event per batch gives identical rows too')
  })
})
