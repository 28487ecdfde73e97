/**
 * authz/check and authz/explain refuse an action outside the catalogue with
 * 400 `rbac.unknown_action`, naming the checks, on every database driver: a
 * typo would otherwise read as a deny.
 */
import t from 'tap'
import { openTestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { problem } from './helpers/http.ts'

const check = (action: string) => ({ action, resource: { type: 'organization' } })

t.test('an unknown action is a 400 naming the check, in a batch of 1 or 100, and for explain', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const url = `/v1/orgs/${api.owner.orgId}/authz`
    const known = await api.call('POST', `${url}/check`, { body: { checks: Array.from({ length: 100 }, () => check('member:read')) } })
    t.equal(known.statusCode, 200, known.body)
    t.equal(known.json().results.length, 100)

    const one = await api.call('POST', `${url}/check`, { body: { checks: [check('audit:exprt')] } })
    problem(t, one, 400, 'rbac.unknown_action')
    t.same(one.json().checks, [{ index: 0, action: 'audit:exprt' }])
    for (const at of [0, 99]) {
      const checks = Array.from({ length: 100 }, () => check('member:read'))
      checks[at] = check('invoice:pay')
      const batch = await api.call('POST', `${url}/check`, { body: { checks } })
      problem(t, batch, 400, 'rbac.unknown_action')
      t.same(batch.json().checks, [{ index: at, action: 'invoice:pay' }], `the check at ${at} is named`)
      t.match(batch.json().detail, new RegExp(`#${at} invoice:pay`))
    }
    const two = await api.call('POST', `${url}/check`, { body: { checks: [check('member:read'), check('x:y'), check('member:*')] } })
    t.same(two.json().checks, [{ index: 1, action: 'x:y' }, { index: 2, action: 'member:*' }])

    problem(t, await api.call('POST', `${url}/explain`, { body: check('audit:exprt') }), 400, 'rbac.unknown_action')
    t.equal((await api.call('POST', `${url}/explain`, { body: check('audit:export') })).statusCode, 200)
  })
})
