/**
 * Refused sensitive actions reach the audit log as `authz.access.denied`,
 * coalesced per organization, actor and action: one refusal is one row at
 * once; a burst is a bounded number of rows whose counts add up to the
 * refusals; an escalation the domain refuses is a row too. Refusals of
 * actions that are not sensitive are not logged (the metrics count them).
 */
import fc from 'fast-check'
import t from 'tap'
import { DenialLog, type Denial } from '../src/application/audit/denials.ts'
import type { AuditServices } from '../src/application/audit/access.ts'
import { addMember } from '../src/application/identity/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import type { EventStore } from '../src/eventstore/types.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { problem, register } from './helpers/http.ts'

interface Row { orgId: string, action: string, actor: string, count: number }

/** An event store that keeps the appended `authz.access.denied` events' data. */
function fakeStore (): { services: AuditServices, rows: Row[] } {
  const rows: Row[] = []
  const store = {
    async append (_stream: string, events: Array<{ data: unknown, metadata: { actor: { id: string } } }>) {
      for (const event of events) {
        const data = event.data as { orgId: string, action: string, count: number }
        rows.push({ orgId: data.orgId, action: data.action, actor: event.metadata.actor.id, count: data.count })
      }
      return { position: { major: 0n, minor: 0n }, nextExpectedVersion: 0n }
    }
  } as unknown as EventStore
  return { services: { store }, rows }
}

const denial = (orgId: string, actor: string, action = 'audit:read'): Denial => ({
  orgId, action, resource: `organization/${orgId}`, reason: 'forbidden',
  metadata: { ...systemCommand('test'), actor: { type: 'user', id: actor } }
})

t.test('one refusal is one row with count 1, written at once', async (t) => {
  const { services, rows } = fakeStore()
  const log = new DenialLog(services, { now: () => 0 })
  t.teardown(() => log.close())
  log.record(denial('org_a', 'u1'))
  await log.settled()
  t.same(rows, [{ orgId: 'org_a', action: 'audit:read', actor: 'u1', count: 1 }])
  await log.flush()
  t.equal(rows.length, 1, 'nothing more to write when the window closes')
})

t.test('a burst of 500 in one window is two rows whose counts add up to 500', async (t) => {
  let now = 0
  const { services, rows } = fakeStore()
  const log = new DenialLog(services, { windowMs: 60_000, now: () => now })
  t.teardown(() => log.close())
  for (let i = 0; i < 500; i++) {
    now = i * 10
    log.record(denial('org_a', 'u1'))
  }
  await log.settled()
  t.equal(rows.length, 1, 'only the first is written during the window')
  await log.flush()
  t.same(rows.map((row) => row.count), [1, 499])
})

t.test('keys are organization, actor and action; a window that closed opens a new one', async (t) => {
  let now = 0
  const { services, rows } = fakeStore()
  const log = new DenialLog(services, { windowMs: 1000, now: () => now })
  t.teardown(() => log.close())
  log.record(denial('org_a', 'u1'))
  log.record(denial('org_a', 'u2'))
  log.record(denial('org_b', 'u1'))
  log.record(denial('org_a', 'u1', 'audit:export'))
  log.record(denial('org_a', 'u1'))
  now = 1000
  log.record(denial('org_a', 'u1'))
  await log.flush()
  t.same(rows.map((row) => `${row.orgId}/${row.actor}/${row.action}:${row.count}`).sort(), [
    'org_a/u1/audit:export:1', 'org_a/u1/audit:read:1', 'org_a/u1/audit:read:1', 'org_a/u1/audit:read:1', 'org_a/u2/audit:read:1',
    'org_b/u1/audit:read:1'
  ])
})

t.test('open windows are bounded: a new key past the limit closes the oldest, whose count is written', async (t) => {
  const { services, rows } = fakeStore()
  const log = new DenialLog(services, { maxKeys: 3, now: () => 0 })
  t.teardown(() => log.close())
  for (const actor of ['u1', 'u1', 'u2', 'u3']) log.record(denial('org_a', actor))
  t.equal(log.open, 3)
  log.record(denial('org_a', 'u4'))
  t.equal(log.open, 3, 'still 3 open')
  await log.settled()
  t.same(rows.map((row) => `${row.actor}:${row.count}`), ['u1:1', 'u2:1', 'u3:1', 'u1:1', 'u4:1'],
    'u1\'s second refusal was written when its window was closed early')
})

t.test('property: whatever the sequence, counts add up per key and each window writes at most two rows', async () => {
  const event = fc.record({ org: fc.constantFrom('o1', 'o2'), actor: fc.constantFrom('u1', 'u2', 'u3'),
    gap: fc.integer({ min: 0, max: 400 }) })
  await fc.assert(fc.asyncProperty(fc.array(event, { maxLength: 300 }), fc.integer({ min: 1, max: 6 }), async (events, maxKeys) => {
    let now = 0
    const { services, rows } = fakeStore()
    const log = new DenialLog(services, { windowMs: 1000, maxKeys, now: () => now })
    const expected = new Map<string, number>()
    for (const e of events) {
      now += e.gap
      log.record(denial(e.org, e.actor))
      expected.set(`${e.org}/${e.actor}`, (expected.get(`${e.org}/${e.actor}`) ?? 0) + 1)
    }
    await log.close()
    const written = new Map<string, number>()
    for (const row of rows) written.set(`${row.orgId}/${row.actor}`, (written.get(`${row.orgId}/${row.actor}`) ?? 0) + row.count)
    // Each window writes its first refusal and at most one row for the rest.
    return JSON.stringify([...written].sort()) === JSON.stringify([...expected].sort()) && log.open === 0 &&
      rows.every((row) => row.count >= 1) && rows.filter((row) => row.count === 1).length >= rows.length / 2
  }), { numRuns: 100 })
})

async function deniedRows (api: TestApp): Promise<Array<{ actor_id: string, action: string,
  diff: { action: { after: string }, reason: { after: string }, count: { after: number } } }>> {
  const written = await api.app.deniedAccess.flush()
  if (written !== undefined) await api.runtime.runner.waitFor(written, 10_000)
  const { rows } = await api.runtime.sql.query<{ actor_id: string, action: string, diff: never }>(
    "SELECT actor_id, action, diff FROM audit_events WHERE org_id = $1 AND action = 'authz.access.denied' ORDER BY seq", [api.owner.orgId])
  return rows
}

t.test('through the API: refused sensitive actions and escalations are audit rows, coalesced', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const viewer = await register(api, 'viewer@a.example')
    await addMember(api.runtime.identity, { ...systemCommand('test'), actor: { type: 'user', id: api.owner.userId } }, orgId,
      { userId: viewer.userId, roles: ['viewer'] })

    await t.test('a refused action that is not sensitive is not logged', async (t) => {
      problem(t, await api.call('PATCH', `/v1/orgs/${orgId}`, { token: viewer.token, body: { name: 'Not yours' } }), 403, 'auth.forbidden')
      t.same(await deniedRows(api), [])
    })

    await t.test('one refused sensitive read is one row, count 1', async (t) => {
      problem(t, await api.call('GET', `/v1/orgs/${orgId}/audit-events`, { token: viewer.token }), 403, 'auth.forbidden')
      const rows = await deniedRows(api)
      t.equal(rows.length, 1)
      t.equal(rows[0]!.actor_id, viewer.userId)
      t.equal(rows[0]!.diff.action.after, 'audit:read')
      t.equal(rows[0]!.diff.reason.after, 'forbidden')
      t.equal(rows[0]!.diff.count.after, 1)
    })

    await t.test('500 refusals in a burst are at most two rows, whose counts add up to 500', async (t) => {
      for (let i = 0; i < 500; i++) {
        const response = await api.call('GET', `/v1/orgs/${orgId}/audit-events/export?format=ndjson`, { token: viewer.token })
        if (response.statusCode !== 403) t.fail(`refusal ${i}: ${response.statusCode}`)
      }
      const rows = (await deniedRows(api)).filter((row) => row.diff.action.after === 'audit:export')
      t.ok(rows.length >= 1 && rows.length <= 2, `${rows.length} rows`)
      t.equal(rows.reduce((n, row) => n + row.diff.count.after, 0), 500)
    })

    await t.test('a refused escalation is a row with reason escalation', async (t) => {
      const created = await api.call('POST', `/v1/orgs/${orgId}/roles`,
        { body: { name: 'Deny export', grants: [{ actions: ['audit:export'], resource: '*', effect: 'deny' }] } })
      t.equal(created.statusCode, 201, created.body)
      const admin = await register(api, 'admin@a.example')
      await addMember(api.runtime.identity, { ...systemCommand('test'), actor: { type: 'user', id: api.owner.userId } }, orgId,
        { userId: admin.userId, roles: ['admin'] })
      t.equal((await api.call('PUT', `/v1/orgs/${orgId}/members/${admin.userId}/roles/${created.json().roleId}`)).statusCode, 200)
      problem(t,
        await api.call('PUT', `/v1/orgs/${orgId}/roles/${created.json().roleId}/grants`, { token: admin.token, body: { grants: [] } }), 403,
        'rbac.escalation')
      const rows = (await deniedRows(api)).filter((row) => row.diff.reason.after === 'escalation')
      t.equal(rows.length, 1)
      t.equal(rows[0]!.actor_id, admin.userId)
      t.equal(rows[0]!.diff.action.after, 'role:update')
      t.equal(rows[0]!.diff.count.after, 1)
    })
  })
})
