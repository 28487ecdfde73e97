/**
 * Nobody lifts a deny they are under, through the API, on every database
 * driver: not by emptying the role that carries it, not by unassigning it
 * from themselves, not as an admin under a deny of member:remove, not as
 * an owner (nor by making another owner). An owner under no such deny, or
 * the CLI, can.
 */
import t from 'tap'
import { addMember, assignRole } from '../src/application/identity/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import type { TestApp } from './helpers/app.ts'
import { openTestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { problem, register } from './helpers/http.ts'

const asOwner = (api: TestApp) => ({ ...systemCommand('test'), actor: { type: 'user' as const, id: api.owner.userId } })

async function createRole (api: TestApp, name: string, grants: unknown[]): Promise<string> {
  const response = await api.call('POST', `/v1/orgs/${api.owner.orgId}/roles`, { body: { name, grants } })
  if (response.statusCode !== 201) throw new Error(`create ${name}: ${response.body}`)
  return response.json().roleId
}

/** A user who joins with `builtIn` and is then given the custom roles, by the owner. */
async function memberWith (api: TestApp, email: string, builtIn: 'viewer' | 'admin',
  roleIds: string[]): Promise<{ userId: string, token: string }> {
  const user = await register(api, email)
  await addMember(api.runtime.identity, asOwner(api), api.owner.orgId, { userId: user.userId, roles: [builtIn] })
  for (const roleId of roleIds) {
    const assigned = await api.call('PUT', `/v1/orgs/${api.owner.orgId}/members/${user.userId}/roles/${roleId}`)
    if (assigned.statusCode !== 200) throw new Error(`assign ${roleId}: ${assigned.body}`)
  }
  return user
}

const exportAs = (api: TestApp, token: string) =>
  api.call('GET', `/v1/orgs/${api.owner.orgId}/audit-events/export?format=ndjson`, { token })

t.test('a member denied the export can neither empty the deny\'s role nor unassign it; another owner can', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const r1 = await createRole(api, 'R1',
      [{ actions: ['audit:read', 'audit:export', 'role:read', 'role:update', 'role:unassign', 'member:read'], resource: '*',
        effect: 'allow' }])
    const r2 = await createRole(api, 'R2', [{ actions: ['audit:export'], resource: '*', effect: 'deny' }])
    const u = await memberWith(api, 'u@a.example', 'viewer', [r1, r2])
    problem(t, await exportAs(api, u.token), 403, 'auth.forbidden')

    const edit = await api.call('PUT', `/v1/orgs/${orgId}/roles/${r2}/grants`, { token: u.token, body: { grants: [] } })
    problem(t, edit, 403, 'rbac.escalation')
    t.same(edit.json().actions, ['audit:export'], 'the error names the action the change would open')
    problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/members/${u.userId}/roles/${r2}`, { token: u.token }), 403, 'rbac.escalation')
    const narrowed = await api.call('PUT', `/v1/orgs/${orgId}/roles/${r2}/grants`,
      { token: u.token, body: { grants: [{ actions: ['audit:export'], resource: 'invoice', effect: 'deny' }] } })
    problem(t, narrowed, 403, 'rbac.escalation')
    problem(t, await exportAs(api, u.token), 403, 'auth.forbidden')

    const unassigned = await api.call('DELETE', `/v1/orgs/${orgId}/members/${u.userId}/roles/${r2}`)
    t.equal(unassigned.statusCode, 200, `the owner, under no deny, may: ${unassigned.body}`)
    t.equal((await exportAs(api, u.token)).statusCode, 200, 'and then the export is open')
    t.equal((await api.call('PUT', `/v1/orgs/${orgId}/members/${u.userId}/roles/${r2}`)).statusCode, 200)
    problem(t, await exportAs(api, u.token), 403, 'auth.forbidden')
    const emptied = await api.call('PUT', `/v1/orgs/${orgId}/roles/${r2}/grants`, { body: { grants: [] } })
    t.equal(emptied.statusCode, 200, emptied.body)
    t.equal((await exportAs(api, u.token)).statusCode, 200)
  })
})

t.test('an admin under a deny of member:remove cannot edit it away; an owner under a deny cannot either', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const keep = await createRole(api, 'Keep', [{ actions: ['member:remove'], resource: '*', effect: 'deny' }])
    const admin = await memberWith(api, 'admin@a.example', 'admin', [keep])
    const viewer = await memberWith(api, 'viewer@a.example', 'viewer', [])
    problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/members/${viewer.userId}`, { token: admin.token }), 403, 'auth.forbidden')
    const edit = await api.call('PUT', `/v1/orgs/${orgId}/roles/${keep}/grants`, { token: admin.token, body: { grants: [] } })
    problem(t, edit, 403, 'rbac.escalation')
    t.same(edit.json().actions, ['member:remove'])
    problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/members/${admin.userId}/roles/${keep}`, { token: admin.token }), 403,
      'rbac.escalation')
    problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/members/${viewer.userId}`, { token: admin.token }), 403, 'auth.forbidden')

    // The owner takes the same deny: now only another owner (or the CLI) lifts it, and the owner makes no owner who could.
    const second = await memberWith(api, 'second@a.example', 'viewer', [])
    t.equal((await api.call('PUT', `/v1/orgs/${orgId}/members/${api.owner.userId}/roles/${keep}`)).statusCode, 200)
    problem(t, await api.call('PUT', `/v1/orgs/${orgId}/roles/${keep}/grants`, { body: { grants: [] } }), 403, 'rbac.escalation')
    problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/members/${api.owner.userId}/roles/${keep}`), 403, 'rbac.escalation')
    problem(t, await api.call('PUT', `/v1/orgs/${orgId}/members/${second.userId}/roles/owner`), 403, 'rbac.escalation')
    await assignRole(api.runtime.identity, systemCommand('cli:rbac:assign'), orgId, second.userId, 'owner')
    const lifted = await api.call('PUT', `/v1/orgs/${orgId}/roles/${keep}/grants`, { token: second.token, body: { grants: [] } })
    t.equal(lifted.statusCode, 200, lifted.body)
    t.equal((await api.call('DELETE', `/v1/orgs/${orgId}/members/${viewer.userId}`, { token: admin.token })).statusCode, 200,
      'the admin removes members again')
  })
})
