/**
 * Audit-only events: sign-ins and their failures, a token used from a new
 * address, and searches, exports and sensitive reads, each a row of the audit
 * log with the request's facts — and never a secret.
 */
import t from 'tap'
import { recordAuditAccess, recordSensitiveRead, recordTokenUsedFromNewIp } from '../src/application/audit/access.ts'
import { disableUser } from '../src/application/identity/commands.ts'
import { tokenIdOf } from '../src/application/identity/secrets.ts'
import { systemCommand, type CommandMetadata } from '../src/domain/envelope.ts'
import type { SqlClient } from '../src/sql/client.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { settled } from './helpers/assertions.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { problem, register } from './helpers/http.ts'

const PASSWORD = 'correct horse battery'

async function auditRows (sql: SqlClient, where: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
  const { rows } = await sql.query<Record<string, unknown>>(
    `SELECT org_id, action, actor_type, actor_id, actor_label, target_type, target_id, diff, ip, user_agent, trace_id, position
       FROM audit_events WHERE ${where} ORDER BY coalesce(org_id, ''), seq`, params)
  return rows
}

/** Events of one type in a stream, once `count` of them are there (the new-address trace is not awaited by its request). */
async function eventsOnceThere (api: TestApp, streamId: string, type: string, count: number): Promise<unknown[]> {
  for (let i = 0; ; i++) {
    const events = (await api.runtime.store.readStream(streamId)).filter((event) => event.type === type)
    if (events.length >= count || i >= 100) return events.map((event) => event.data)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

t.test('audit-only events reach the audit log with the request facts and no secret', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const ada = await register(api, 'ada@a.example')
    const headers = { 'user-agent': 'audit-events-test/1.0' }
    const login = (email: string, password: string) =>
      api.call('POST', '/v1/auth/login', { token: null, body: { email, password }, headers })

    await t.test('sign-ins and failed sign-ins say who, how and why; the caller only ever saw 401', async (t) => {
      problem(t, await login('ada@a.example', 'wrong password!'), 401, 'auth.invalid_credentials')
      problem(t, await login('Nobody@A.example', 'wrong password!'), 401, 'auth.invalid_credentials')
      const success = await login('ADA@a.example', PASSWORD)
      t.equal(success.statusCode, 200, success.body)
      await disableUser(api.runtime.identity, systemCommand('test'), ada.userId)
      problem(t, await login('ada@a.example', PASSWORD), 401, 'auth.invalid_credentials')
      await settled(api.runtime)

      const rows = await auditRows(sql, "action LIKE 'identity.session.%'")
      const request = { org_id: null, ip: '127.0.0.1', user_agent: 'audit-events-test/1.0', trace_id: /^[0-9a-f]{32}$/ }
      const anonymous = { ...request, action: 'identity.session.sign_in_failed', actor_type: 'system', actor_id: 'anonymous' }
      t.equal(rows.length, 4)
      t.match(rows[0],
        { ...anonymous, target_type: 'user', target_id: ada.userId,
          diff: { email: { after: 'ada@a.example' }, reason: { after: 'invalid_credentials' } } })
      t.match(rows[1],
        { ...anonymous, target_type: 'email', target_id: 'nobody@a.example',
          diff: { email: { after: 'nobody@a.example' }, reason: { after: 'invalid_credentials' } } })
      t.match(rows[2], {
        ...request,
        action: 'identity.session.signed_in',
        actor_type: 'user',
        actor_id: ada.userId,
        actor_label: 'ada@a.example',
        target_type: 'user',
        target_id: ada.userId,
        diff: { method: { after: 'password' }, tokenId: { after: success.json().tokenId } },
        position: success.json().position
      })
      t.match(rows[3], { ...anonymous, target_id: ada.userId, diff: { reason: { after: 'disabled' } } },
        'the right password of a disabled user')

      const { rows: events } = await sql.query<{ text: string }>(
        "SELECT data::text || metadata::text AS text FROM events WHERE stream_id LIKE 'access-%'")
      t.notOk(events.some((event) => event.text.includes('wrong password!') || event.text.includes(PASSWORD)), 'no password in the events')
      t.notOk(JSON.stringify(rows).includes('wrong password!'), 'nor in the audit rows')
    })

    await t.test('a failed sign-in whose record cannot be written is still the same 401', async (t) => {
      const { store } = api.runtime
      const append = store.append
      store.append = async (streamId, events, options) => streamId.startsWith('access-') ? Promise.reject(new Error('store down'))
        : append.call(store, streamId, events, options)
      t.teardown(() => { store.append = append })
      problem(t, await login('owner@a.example', 'wrong password!'), 401, 'auth.invalid_credentials')
    })

    await t.test('a token used from a new address is traced once per address, not once per request', async (t) => {
      const bob = await register(api, 'bob@a.example')
      const tokenId = tokenIdOf(bob.token)!
      const from = (remoteAddress: string) =>
        api.app.inject({ url: '/v1/session', remoteAddress, headers: { authorization: `Bearer ${bob.token}` } })
      for (const address of ['127.0.0.1', '203.0.113.5', '203.0.113.5', '127.0.0.1', '203.0.113.5', '198.51.100.7']) {
        t.equal((await from(address)).statusCode, 200)
      }
      const reported = await eventsOnceThere(api, `access-${bob.userId}`, 'identity.token.used_from_new_ip', 2)
      t.same(reported, [
        { tokenId, userId: bob.userId, ip: '203.0.113.5', previousIpCount: 1 },
        { tokenId, userId: bob.userId, ip: '198.51.100.7', previousIpCount: 2 }
      ], 'the address it was created from is known; each other one is reported once')

      const again = await recordTokenUsedFromNewIp(api.runtime.identity, systemCommand('another-node'),
        { tokenId, userId: bob.userId, ip: '203.0.113.5', previousIpCount: 0 })
      t.ok(again, 'another node reporting the same address')
      await settled(api.runtime)
      const rows = await auditRows(sql, "action = 'identity.token.used_from_new_ip' AND target_id = $1", [tokenId])
      t.equal(rows.length, 2, 'adds nothing to the log')
      t.match(rows[0],
        { org_id: null, actor_type: 'user', actor_id: bob.userId, target_type: 'token', target_id: tokenId, ip: '203.0.113.5',
          diff: { ip: { after: '203.0.113.5' } } })

      const owner = await auditRows(sql, "action = 'identity.token.used_from_new_ip' AND target_id = $1", [tokenIdOf(api.owner.token)])
      t.same(owner, [], 'a token created without an address takes the first one it is used from as its own')
    })

    await t.test('searches, exports and sensitive reads are rows of the organization, once per command', async (t) => {
      const { orgId, userId } = api.owner
      const metadata: CommandMetadata = { ...systemCommand('test'), actor: { type: 'user', id: userId }, ip: '192.0.2.1',
        userAgent: 'siem/2' }
      const from = new Date('2025-01-01T00:00:00Z')
      await recordAuditAccess(api.runtime.identity, metadata,
        { type: 'audit.log.searched', orgId, filters: { action: 'rbac.*', actorId: undefined, limit: 50 } })
      const access = { type: 'audit.log.exported', orgId, format: 'csv', filters: { from } } as const
      await recordAuditAccess(api.runtime.identity, metadata, access)
      await recordAuditAccess(api.runtime.identity, metadata, access)
      await recordSensitiveRead(api.runtime.identity, metadata, { orgId, action: 'billing:read', resource: 'invoice/inv_1' })
      await settled(api.runtime)

      const rows = await auditRows(sql, "org_id = $1 AND (action LIKE 'audit.%' AND action <> 'audit.log.purged')", [orgId])
      const facts = { org_id: orgId, actor_type: 'user', actor_id: userId, actor_label: 'owner@a.example', ip: '192.0.2.1',
        user_agent: 'siem/2' }
      t.equal(rows.length, 3, 'a retried command records once')
      t.match(rows[0],
        { ...facts, action: 'audit.log.searched', target_type: 'audit_log', target_id: orgId,
          diff: { filters: { after: { action: 'rbac.*', limit: 50 } } } })
      t.notOk('actorId' in (rows[0]!.diff as { filters: { after: object } }).filters.after, 'unset filters are left out')
      t.match(rows[1],
        { ...facts, action: 'audit.log.exported', diff: { format: { after: 'csv' }, filters: { after: { from: from.toISOString() } } } })
      t.match(rows[2],
        { ...facts, action: 'audit.record.sensitive_read', target_type: 'invoice', target_id: 'inv_1',
          diff: { action: { after: 'billing:read' } } })
    })
  })
})
