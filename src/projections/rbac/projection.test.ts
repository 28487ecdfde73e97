import { pino } from 'pino'
import t from 'tap'
import { forEachDatabase } from '../../../test/helpers/databases.ts'
import { handleCommand } from '../../domain/decider.ts'
import { systemCommand } from '../../domain/envelope.ts'
import { createRegistry } from '../../domain/events.ts'
import { organizationDeciderFor, orgStreamId, type OrgCommand } from '../../domain/identity/organization.ts'
import type { Condition } from '../../domain/rbac/conditions.ts'
import { LEDGERLINE_CATALOGUE, catalogueOf } from '../../domain/rbac/permissions.ts'
import { createPostgresEventStore } from '../../eventstore/postgres.ts'
import type { SqlClient } from '../../sql/client.ts'
import { rebuildProjection } from '../rebuild.ts'
import { ProjectionRunner } from '../runner.ts'
import { rbacProjection } from './projection.ts'
import { holdersOf } from './queries.ts'

const logger = pino({ level: 'silent' })

async function snapshot (sql: SqlClient): Promise<unknown> {
  const rows = async (text: string): Promise<unknown[]> => (await sql.query(text)).rows
  return {
    permissions: await rows('SELECT * FROM permissions ORDER BY action'),
    roles: await rows('SELECT org_id, role_id, name, description, built_in, created_at, updated_at FROM roles ORDER BY org_id, role_id'),
    rolePermissions: await rows('SELECT * FROM role_permissions ORDER BY org_id, role_id, grant_index, action'),
    membershipRoles: await rows('SELECT * FROM membership_roles ORDER BY org_id, user_id, role_id')
  }
}

t.test('the RBAC read model follows roles, grants and assignments, answers who holds an action, and rebuilds identically', async (t) => {
  const catalogue = catalogueOf([
    { action: 'invoice:update', description: 'edit an invoice', builtInRoles: ['member'] },
    { action: 'invoice:void', description: 'void an invoice', sensitive: true }
  ])
  const decider = organizationDeciderFor(catalogue)
  await forEachDatabase(t, async (t, { sql }) => {
    const store = createPostgresEventStore(sql, createRegistry())
    t.teardown(() => store.close())
    const org = (orgId: string, command: OrgCommand) => handleCommand(store, decider, orgStreamId(orgId), command, systemCommand('test'))
    const under1000: Condition = { lt: [{ ref: 'resource.amount' }, 1000] }

    await org('acme', { type: 'CreateOrganization', data: { orgId: 'acme', name: 'Acme', ownerId: 'ann' } })
    await org('acme', { type: 'AddMember', data: { userId: 'bob', roles: ['viewer'] } })
    await org('acme', { type: 'AddMember', data: { userId: 'cat', roles: ['member'] } })
    await org('acme', { type: 'AssignRole', data: { userId: 'bob', role: 'admin' } })
    await org('acme', { type: 'UnassignRole', data: { userId: 'bob', role: 'viewer' } })
    await org('acme', { type: 'CreateRole', data: { roleId: 'role_billing', name: 'Billing', grants: [
      { actions: ['invoice:*', 'billing:read'], resource: 'invoice', effect: 'allow', when: under1000 },
      { actions: ['invoice:void'], resource: '*', effect: 'deny' }
    ] } })
    await org('acme', { type: 'CreateRole', data: { roleId: 'role_gone', name: 'Temporary',
      grants: [{ actions: ['member:read'], resource: '*', effect: 'allow' }] } })
    await org('acme', { type: 'AssignCustomRole', data: { roleId: 'role_billing', userId: 'cat' } })
    await org('acme', { type: 'AssignCustomRole', data: { roleId: 'role_gone', userId: 'cat' } })
    await org('acme', { type: 'UnassignCustomRole', data: { roleId: 'role_gone', userId: 'cat' } })
    await org('acme', { type: 'DeleteRole', data: { roleId: 'role_gone' } })
    await org('acme', { type: 'RenameRole', data: { roleId: 'role_billing', name: 'Billing clerks' } })
    await org('acme', { type: 'SetRoleGrants', data: { roleId: 'role_billing',
      grants: [{ actions: ['invoice:*'], resource: 'invoice', effect: 'allow', when: under1000 }] } })
    await org('acme', { type: 'RemoveMember', data: { userId: 'bob' } })
    // Another organization with a role of the same name: nothing leaks across.
    await org('globex', { type: 'CreateOrganization', data: { orgId: 'globex', name: 'Globex', ownerId: 'gil' } })
    const last = await org('globex', { type: 'CreateRole', data: { roleId: 'role_billing', name: 'Billing',
      grants: [{ actions: ['*'], resource: '*', effect: 'allow' }] } })

    const projection = rbacProjection(catalogue)
    const runner = new ProjectionRunner({ sql, store, projections: [projection], logger })
    runner.start()
    t.teardown(() => runner.stop())
    await runner.waitFor(last.position!, 10_000)

    const live = await snapshot(sql) as Record<string, Array<Record<string, unknown>>>
    t.equal(live.permissions!.length, catalogue.actions.length, 'the whole catalogue, host actions included')
    t.match(live.permissions!.find((p) => p.action === 'invoice:void'),
      { resource: 'invoice', verb: 'void', sensitive: true, owner_only: false, source: 'host' })
    t.same(live.roles!.filter((r) => r.org_id === 'acme').map((r) => [r.role_id, r.name]), [['role_billing', 'Billing clerks']],
      'deleted role gone, rename applied')
    t.same(live.roles!.filter((r) => r.built_in === true).map((r) => r.role_id).sort(), ['admin', 'member', 'owner', 'viewer'])
    t.same(live.rolePermissions!.filter((r) => r.org_id === 'acme'),
      [{ org_id: 'acme', role_id: 'role_billing', grant_index: 0, action: 'invoice:*', resource: 'invoice', effect: 'allow',
        condition: under1000 }], 'grants replaced')
    const builtInMember = live.rolePermissions!.filter((r) => r.org_id === '*' && r.role_id === 'member')
    t.equal(builtInMember.length, catalogue.builtInRoleGrants.member.length)
    t.same(live.membershipRoles!.filter((r) => r.org_id === 'acme').map((r) => [r.user_id, r.role_id]),
      [['ann', 'owner'], ['cat', 'member'], ['cat', 'role_billing']])

    const holders = await holdersOf(sql, 'acme', 'invoice:update')
    t.same(holders.map((h) => [h.userId, h.roleId, h.resource, h.conditional]), [
      ['ann', 'owner', '*', false],
      ['cat', 'member', '*', false],
      ['cat', 'role_billing', 'invoice', true]
    ], 'through built-in lists, wildcards and conditions')
    t.same((await holdersOf(sql, 'acme', 'invoice:void')).map((h) => h.userId), ['ann', 'cat'],
      'a host action members do not get by default, via invoice:*')
    t.same((await holdersOf(sql, 'globex', 'invoice:void')).map((h) => [h.userId, h.roleId]), [['gil', 'owner']],
      'the other org’s role_billing has no holder')
    t.same(await holdersOf(sql, 'nowhere', 'org:read'), [])

    await runner.stop()
    await rebuildProjection({ sql, store, projection })
    t.same(await snapshot(sql), live, 'a rebuild gives identical rows')
    await rebuildProjection({ sql, store, projection, batchSize: 1 })
    t.same(await snapshot(sql), live, 'one event per batch gives identical rows too')
  })
})

t.test('a new catalogue is a new version of the read model', async (t) => {
  const before = rbacProjection(LEDGERLINE_CATALOGUE).version
  const withReports = rbacProjection(catalogueOf([{ action: 'report:read', description: 'read reports' }]))
  t.not(withReports.version, before)
  t.not(withReports.setup, rbacProjection(LEDGERLINE_CATALOGUE).setup, 'its rows are the catalogue it was given')
  t.equal(rbacProjection(catalogueOf([])).version, before, 'the same catalogue, the same version')
  t.equal(rbacProjection(LEDGERLINE_CATALOGUE).version, before, 'a projection over another catalogue changed nothing for this one')
})
