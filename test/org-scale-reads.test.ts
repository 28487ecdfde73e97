/**
 * The read routes of a large organization answer what its events say, at 0,
 * 1, a page ±1 and about 1,000 items: GET …/roles (built-in and custom roles
 * with grants and holders), GET …/members (every page) and GET
 * …/audit-retention. The organization is grown through the store, in
 * batches, behind the server's back: the routes must catch up with the
 * stream, not answer from a stale state. The 1,000 run once, on the server
 * when there is one (scaleDriver); the small sizes on every database.
 */
import t from 'tap'
import { metadataFor, systemCommand } from '../src/domain/envelope.ts'
import { orgStreamId } from '../src/domain/identity/organization.ts'
import { userStreamId } from '../src/domain/identity/user.ts'
import type { EventStore } from '../src/eventstore/types.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { settled } from './helpers/assertions.ts'
import { forEachDatabase, scaleDriver } from './helpers/databases.ts'

interface Role { roleId: string, name: string, description: string, builtIn: boolean, grants: unknown[], holders?: string[] }

async function append (store: EventStore, streamId: string, events: Array<{ type: string, data: unknown }>): Promise<void> {
  for (let from = 0; from < events.length; from += 500) {
    const command = systemCommand('org-scale-test')
    await store.append(streamId, events.slice(from, from + 500).map((event, index) =>
      ({ ...event, id: metadataFor(command, index).eventId, metadata: metadataFor(command, index) })))
  }
}

async function registerUsers (store: EventStore, userIds: readonly string[]): Promise<void> {
  for (const userId of userIds) {
    const command = systemCommand('org-scale-test')
    const data = { userId, email: `${userId}@scale.example`, displayName: `User ${userId}` }
    await store.append(userStreamId(userId), [{ id: metadataFor(command, 0).eventId, type: 'identity.user.registered', data,
      metadata: metadataFor(command, 0) }])
  }
}

/** Every member, page by page. */
async function allMembers (api: TestApp, orgId: string, limit: number): Promise<{ userIds: string[], pages: number }> {
  const userIds: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const response = await api.call('GET', `/v1/orgs/${orgId}/members?limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`)
    if (response.statusCode !== 200) throw new Error(`${response.statusCode}: ${response.body}`)
    const page = response.json<{ items: Array<{ userId: string, roles: string[] }>, nextCursor: string | null }>()
    userIds.push(...page.items.map((item) => item.userId))
    cursor = page.nextCursor
    pages++
  } while (cursor !== null)
  return { userIds, pages }
}

t.test('GET …/roles, …/members and …/audit-retention of an organization grown to 1,000 roles and members', async (t) => {
  await forEachDatabase(t, async (t, { driver, sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId, userId: ownerId } = api.owner
    const store = api.runtime.store
    const builtIn: Role[] = Object.entries(api.runtime.catalogue.builtInRoleGrants).map(([roleId, actions]) => ({
      roleId, name: roleId, description: 'built-in role', builtIn: true, grants: [{ actions: [...actions], resource: '*', effect: 'allow' }]
    }))
    /** What the events below say the list is: custom roles by name, then id; holders sorted. */
    const custom = new Map<string, Role>()
    const expected = (): Role[] => [...builtIn, ...[...custom.values()].map((role) => ({ ...role, holders: [...role.holders!].sort() }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.roleId.localeCompare(b.roleId))]
    const roles = async (): Promise<Role[]> => {
      const response = await api.call('GET', `/v1/orgs/${orgId}/roles`)
      t.equal(response.statusCode, 200)
      t.match(response.headers['content-type'], /^application\/json; charset=utf-8/)
      return response.json<{ items: Role[] }>().items
    }

    t.same(await roles(), expected(), 'no custom role: the four built-in ones')

    const conditional = { actions: ['audit:read', 'member:read'], resource: 'organization', effect: 'allow',
      when: { eq: [{ ref: 'context.impersonating' }, false] } }
    await append(store, orgStreamId(orgId), [{ type: 'rbac.role.created',
      data: { roleId: 'role_first', name: 'Zeta', description: 'the first', grants: [conditional] } }])
    custom.set('role_first', { roleId: 'role_first', name: 'Zeta', description: 'the first', builtIn: false, grants: [conditional],
      holders: [] })
    t.same(await roles(), expected(), 'one custom role, appended behind the server\'s back, with its condition')

    if (driver !== scaleDriver()) {
      t.comment(`1,000 roles and members: on ${scaleDriver()} only; 0 and 1 custom roles, and members at 1, 49, 50 and 51, run here too`)
    } else {
      // ~1,000 roles and 1,000 members, some holding a custom role.
      const userIds = Array.from({ length: 999 }, (_, i) => `usr_scale_${String(i).padStart(4, '0')}`)
      await registerUsers(store, userIds)
      const roleEvents = Array.from({ length: 999 }, (_, i) => {
        const roleId = `role_r${String(i).padStart(4, '0')}`
        const grants = [{ actions: ['audit:read'], resource: '*', effect: i % 2 === 0 ? 'allow' : 'deny' }]
        custom.set(roleId, { roleId, name: `Role ${i % 100}`, description: '', builtIn: false, grants, holders: [] })
        return { type: 'rbac.role.created', data: { roleId, name: `Role ${i % 100}`, description: '', grants } }
      })
      // Duplicate names are not possible through commands; the list must still order by name, then id. Rename them apart.
      for (const [roleId, role] of custom) if (roleId !== 'role_first') role.name = `${role.name} ${roleId}`
      const renames = [...custom.values()].filter((role) => role.roleId !== 'role_first').map((role) =>
        ({ type: 'rbac.role.renamed', data: { roleId: role.roleId, name: role.name } }))
      const memberEvents = userIds.map((userId) => ({ type: 'org.member.added', data: { userId, roles: ['viewer'] } }))
      const assignments = userIds.slice(0, 300).map((userId, i) => {
        const roleId = `role_r${String(i % 50).padStart(4, '0')}`
        custom.get(roleId)!.holders!.push(userId)
        return { type: 'rbac.role.assigned', data: { roleId, userId } }
      })
      await append(store, orgStreamId(orgId), [...roleEvents, ...renames, ...memberEvents, ...assignments,
        { type: 'rbac.role.deleted', data: { roleId: 'role_r0998' } }])
      custom.delete('role_r0998')
      const many = await roles()
      t.equal(many.length, 4 + 999)
      t.same(many, expected(), '999 custom roles with their holders, as the events say')
      t.equal(many.find((role) => role.roleId === 'role_r0000')!.holders!.length, 6, 'a role held by 6 members')

      await settled(api.runtime)
      const { userIds: listed, pages } = await allMembers(api, orgId, 50)
      t.same(listed, [ownerId, ...userIds].sort(), '1,000 members, each once, by id')
      t.equal(pages, 20)
      const first = (await api.call('GET', `/v1/orgs/${orgId}/members?limit=50`)).json<{ items: Array<{ userId: string,
        roles: string[] }> }>()
      t.same(first.items.find((item) => item.userId === 'usr_scale_0000')?.roles, ['role_r0000', 'viewer'],
        'a member\'s roles, custom included')
    }

    const retention = await api.call('GET', `/v1/orgs/${orgId}/audit-retention`)
    t.equal(retention.statusCode, 200)
    t.equal(retention.json<{ setting: number | null }>().setting, null)
    await append(store, orgStreamId(orgId), [{ type: 'org.organization.audit_retention_set', data: { days: 7 } }])
    t.equal((await api.call('GET', `/v1/orgs/${orgId}/audit-retention`)).json<{ setting: number | null }>().setting, 7,
      'a change appended elsewhere is read at once')
  })
})

t.test('GET …/members at 1, 49, 50, 51 members with pages of 50', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId, userId: ownerId } = api.owner
    const all = [ownerId]
    for (const count of [1, 49, 50, 51]) {
      const added = Array.from({ length: count - all.length }, (_, i) => `usr_page_${String(all.length + i).padStart(3, '0')}`)
      await registerUsers(api.runtime.store, added)
      await append(api.runtime.store, orgStreamId(orgId), added.map((userId) =>
        ({ type: 'org.member.added', data: { userId, roles: ['member'] } })))
      all.push(...added)
      await settled(api.runtime)
      const { userIds, pages } = await allMembers(api, orgId, 50)
      t.same(userIds, [...all].sort(), `${count} member(s), each once`)
      t.equal(pages, count <= 50 ? 1 : 2, `${count} member(s): ${pages} page(s)`)
    }
  })
})
