/**
 * GET …/roles and GET …/audit-retention answer from the organization's
 * cached command state (src/application/cache.ts): once the state is cached,
 * a request reads only what was appended since (from the cached version), it
 * does not fold the organization's stream again. A change made in between is
 * still seen.
 */
import t from 'tap'
import { organizationState } from '../src/application/identity/commands.ts'
import type { ReadStreamOptions } from '../src/eventstore/types.ts'
import { openTestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'

t.test('reads of an organization\'s roles and retention do not fold its stream per request', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const store = api.runtime.identity.store
    const readStream = store.readStream.bind(store)
    const whole: string[] = []
    store.readStream = async (streamId: string, options?: ReadStreamOptions) => {
      if (streamId === `org-${orgId}` && options?.fromVersion === undefined) whole.push(streamId)
      return readStream(streamId, options)
    }
    t.teardown(() => { store.readStream = readStream })

    for (const url of [`/v1/orgs/${orgId}/roles`, `/v1/orgs/${orgId}/audit-retention`]) {
      t.equal((await api.call('GET', url)).statusCode, 200, `GET ${url}`)
    }
    whole.length = 0
    for (let i = 0; i < 3; i++) {
      t.equal((await api.call('GET', `/v1/orgs/${orgId}/roles`)).statusCode, 200)
      t.equal((await api.call('GET', `/v1/orgs/${orgId}/audit-retention`)).statusCode, 200)
    }
    t.same(whole, [], 'no request read the organization\'s stream from its start')

    t.equal((await api.call('PUT', `/v1/orgs/${orgId}/audit-retention`, { body: { days: 14 } })).statusCode, 200)
    const created = await api.call('POST', `/v1/orgs/${orgId}/roles`, { body: { name: 'Auditor', grants: [] } })
    t.equal(created.statusCode, 201, created.body)
    t.match((await api.call('GET', `/v1/orgs/${orgId}/audit-retention`)).json(), { days: 14, setting: 14 }, 'the new setting is read')
    const roles = (await api.call('GET', `/v1/orgs/${orgId}/roles`)).json() as { items: Array<{ name: string }> }
    t.ok(roles.items.some((role) => role.name === 'Auditor'), 'the new role is listed')
    t.same(whole, [], 'nor after a change')
    // The probe sees a fold: the same state read without the cache reads the stream from its start.
    await organizationState({ ...api.runtime.identity, states: { get: () => undefined, set: () => {} } }, orgId)
    t.same(whole, [`org-${orgId}`], 'a read without the cache is seen')
  })
})
