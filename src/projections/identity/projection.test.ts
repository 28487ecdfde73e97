import { pino } from 'pino'
import t from 'tap'
import { forEachDatabase } from '../../../test/helpers/databases.ts'
import { handleCommand } from '../../domain/decider.ts'
import { systemCommand } from '../../domain/envelope.ts'
import { createRegistry } from '../../domain/events.ts'
import { organizationDecider, orgStreamId } from '../../domain/identity/organization.ts'
import { tokenDecider, tokenStreamId } from '../../domain/identity/token.ts'
import { userDecider, userStreamId } from '../../domain/identity/user.ts'
import { createPostgresEventStore } from '../../eventstore/postgres.ts'
import type { SqlClient } from '../../sql/client.ts'
import { rebuildProjection } from '../rebuild.ts'
import { ProjectionRunner } from '../runner.ts'
import { identityProjection } from './projection.ts'

const logger = pino({ level: 'silent' })

async function snapshot (sql: SqlClient): Promise<unknown> {
  const rows = async (text: string): Promise<unknown[]> => (await sql.query(text)).rows
  return {
    users: await rows('SELECT user_id, email, status, has_password, platform_admin FROM users ORDER BY user_id'),
    organizations: await rows('SELECT org_id, name, plan, settings FROM organizations ORDER BY org_id'),
    memberships: await rows('SELECT org_id, user_id, roles FROM memberships ORDER BY org_id, user_id'),
    tokens: await rows(
      'SELECT token_id, user_id, kind, prefix, hash, revoked_at IS NOT NULL AS revoked, created_at FROM tokens ORDER BY token_id')
  }
}

t.test('the identity read model follows users, organizations, memberships and tokens, and rebuilds identically', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const store = createPostgresEventStore(sql, createRegistry())
    t.teardown(() => store.close())
    const meta = () => systemCommand('test')
    const user = (id: string, command: Parameters<typeof userDecider.decide>[0]) =>
      handleCommand(store, userDecider, userStreamId(id), command, meta())
    const org = (command: Parameters<typeof organizationDecider.decide>[0]) =>
      handleCommand(store, organizationDecider, orgStreamId('acme'), command, meta())

    await user('ann', { type: 'RegisterUser', data: { userId: 'ann', email: 'ann@example.com', displayName: 'Ann' } })
    await user('bob', { type: 'RegisterUser', data: { userId: 'bob', email: 'bob@example.com', displayName: 'Bob' } })
    await user('ann', { type: 'SetPassword', data: { passwordHash: 'scrypt$16384$8$1$c2FsdA$aGFzaC1oYXNoLWhhc2g' } })
    await user('bob', { type: 'DisableUser', data: { lastOwnerOf: [] } })
    await org({ type: 'CreateOrganization', data: { orgId: 'acme', name: 'Acme', ownerId: 'ann' } })
    await org({ type: 'AddMember', data: { userId: 'bob', roles: ['viewer'] } })
    await org({ type: 'AssignRole', data: { userId: 'bob', role: 'admin' } })
    await org({ type: 'UnassignRole', data: { userId: 'bob', role: 'viewer' } })
    await org({
      type: 'CreateRole',
      data: { roleId: 'role_recruiter', name: 'Recruiter', grants: [{ actions: ['member:invite'], resource: '*', effect: 'allow' }] }
    })
    await org({ type: 'AssignCustomRole', data: { roleId: 'role_recruiter', userId: 'bob' } })
    await org({ type: 'AssignCustomRole', data: { roleId: 'role_recruiter', userId: 'ann' } })
    await org({ type: 'UnassignCustomRole', data: { roleId: 'role_recruiter', userId: 'ann' } })
    await org({ type: 'ChangeSettings', data: { settings: { timezone: 'Europe/Paris' } } })
    await org({ type: 'RenameOrganization', data: { name: 'Acme Agency' } })
    const hash = 'b'.repeat(64)
    await handleCommand(store, tokenDecider, tokenStreamId('tk1'),
      { type: 'CreateToken', data: { tokenId: 'tk1', userId: 'ann', kind: 'api', name: 'ci', prefix: 'll_tk1', hash } }, meta())
    const last = await handleCommand(store, tokenDecider, tokenStreamId('tk1'), { type: 'RevokeToken', data: {} }, meta())

    const runner = new ProjectionRunner({ sql, store, projections: [identityProjection], logger })
    runner.start()
    t.teardown(() => runner.stop())
    await runner.waitFor(last.position!, 10_000)

    const live = await snapshot(sql)
    t.match(live, {
      users: [{ user_id: 'ann', status: 'active', has_password: true }, { user_id: 'bob', status: 'disabled', has_password: false }],
      organizations: [{ org_id: 'acme', name: 'Acme Agency', plan: 'free', settings: { timezone: 'Europe/Paris' } }],
      memberships: [
        { org_id: 'acme', user_id: 'ann', roles: ['owner'] }, { org_id: 'acme', user_id: 'bob', roles: ['admin', 'role_recruiter'] }
      ],
      tokens: [{ token_id: 'tk1', user_id: 'ann', hash, revoked: true }]
    })
    await runner.stop()
    await rebuildProjection({ sql, store, projection: identityProjection })
    t.same(await snapshot(sql), live, 'a rebuild gives identical rows')
    await rebuildProjection({ sql, store, projection: identityProjection, batchSize: 1 })
    t.same(await snapshot(sql), live, 'one event per batch (no bulk statements) gives identical rows too')
  })
})
