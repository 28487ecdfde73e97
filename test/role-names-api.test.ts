/** Role names are unique in an organization through the API, on every database driver: 409 rbac.role_name_taken on create and rename. */
import t from 'tap'
import { openTestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { problem } from './helpers/http.ts'

t.test('creating or renaming onto a taken name is a 409; another organization may use it', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const roles = `/v1/orgs/${api.owner.orgId}/roles`
    const create = (name: string, token?: string, url = roles) =>
      api.call('POST', url, { body: { name, grants: [] }, ...(token === undefined ? {} : { token }) })
    const first = await create(' Auditors ')
    t.equal(first.statusCode, 201, first.body)
    const taken = await create('AUDITORS')
    problem(t, taken, 409, 'rbac.role_name_taken')
    t.match(taken.json(), { name: 'AUDITORS', roleId: first.json().roleId })
    problem(t, await create('Admin'), 409, 'rbac.role_name_taken')
    const second = await create('Billing')
    t.equal(second.statusCode, 201)
    problem(t, await api.call('PATCH', `${roles}/${second.json().roleId}`, { body: { name: 'auditors' } }), 409, 'rbac.role_name_taken')
    t.equal((await api.call('PATCH', `${roles}/${first.json().roleId}`, { body: { name: 'AUDITORS' } })).statusCode, 200,
      'a role changes the case of its own name')
    const listed = (await api.call('GET', roles)).json().items.filter((role: { builtIn: boolean }) => !role.builtIn)
      .map((role: { name: string }) => role.name).sort()
    t.same(listed, ['AUDITORS', 'Billing'])

    const other = await api.newOwner('other@b.example', 'Org B')
    t.equal((await create('Auditors', other.token, `/v1/orgs/${other.orgId}/roles`)).statusCode, 201, 'names are unique per organization')
  })
})
