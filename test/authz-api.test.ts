/**
 * Authorization over HTTP end to end, on every database driver: the
 * permission catalogue, authz/check and authz/explain, custom roles from
 * creation to deletion, and policy tests. (Split from identity-api.test.ts so
 * the files run in parallel.)
 */
import t from 'tap'
import { forEachDatabase } from './helpers/databases.ts'
import { openTestApp } from './helpers/app.ts'
import { problem, register } from './helpers/http.ts'
import { joinOrg } from './helpers/invitations.ts'

t.test('GET /v1/permissions lists the catalogue and the built-in roles; routes name the action they refuse', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const catalogue = await api.call('GET', '/v1/permissions')
    t.equal(catalogue.statusCode, 200)
    const body = catalogue.json() as {
      actions: Array<{ action: string, sensitive: boolean, ownerOnly: boolean }>, builtInRoles: Array<{ roleId: string, actions: string[] }>
    }
    t.match(body.actions.find((a) => a.action === 'audit:export'), { sensitive: true })
    t.match(body.actions.find((a) => a.action === 'billing:update'), { ownerOnly: true })
    t.same(body.builtInRoles.map((r) => r.roleId), ['owner', 'admin', 'member', 'viewer'])
    problem(t, await api.call('GET', '/v1/permissions', { token: null }), 401, 'auth.unauthenticated')

    const viewer = await register(api, 'viewer@a.example')
    await joinOrg(api, api.owner.orgId, viewer, ['viewer'])
    const refused = await api.call('POST', `/v1/orgs/${api.owner.orgId}/invitations`,
      { token: viewer.token, body: { email: 'x@a.example', roles: ['member'] } })
    problem(t, refused, 403, 'auth.forbidden')
    t.equal(refused.json().action, 'member:invite', 'the problem names the action')
  })
})

t.test('authz/check decides a batch with can(), authz/explain says why; for members of the organization only', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const viewer = await register(api, 'viewer@a.example')
    const added = await joinOrg(api, orgId, viewer, ['viewer'])
    const consistent = { 'x-consistent-with': added.position }
    const checks = [
      { action: 'billing:update', resource: { type: 'organization', id: orgId } },
      { userId: viewer.userId, action: 'member:read', resource: { type: 'organization' } },
      { userId: viewer.userId, action: 'member:invite', resource: { type: 'organization' } },
      { userId: 'usr_notamember000000', action: 'member:read', resource: { type: 'organization' } }
    ]
    const checked = await api.call('POST', `/v1/orgs/${orgId}/authz/check`, { body: { checks }, headers: consistent })
    t.equal(checked.statusCode, 200, checked.body)
    t.same(checked.json().results.map((r: { allowed: boolean }) => r.allowed), [true, true, false, false],
      'owner may, viewer reads, viewer may not invite, a stranger holds nothing')
    const explained = await api.call('POST', `/v1/orgs/${orgId}/authz/explain`, { body: checks[2], headers: consistent })
    t.match(explained.json(), { allowed: false, reason: 'no_matching_grant', deciding: [] })
    const why = await api.call('POST', `/v1/orgs/${orgId}/authz/explain`, { body: checks[1], headers: consistent })
    t.match(why.json(), { allowed: true, deciding: [{ roleId: 'viewer', effect: 'allow' }] })
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/authz/check`, { token: viewer.token, body: { checks } }), 403, 'auth.forbidden')
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/authz/check`, {
      body: { checks: [{ action: 'not an action', resource: { type: 'x' } }] }
    }), 400, 'http.validation')
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/authz/check`, {
      body: { checks: Array.from({ length: 101 }, () => checks[0]) }
    }), 400, 'http.validation')
  })
})

t.test('custom roles end to end: create with a condition, assign, take effect at once, explain, ' +
  'escalation refused, deletion guarded', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const viewer = await register(api, 'viewer@a.example')
    const admin = await register(api, 'admin@a.example')
    await joinOrg(api, orgId, viewer, ['viewer'])
    const last = await joinOrg(api, orgId, admin, ['admin'])
    const consistent = { 'x-consistent-with': last.position }
    const invite = () => api.call('POST', `/v1/orgs/${orgId}/invitations`, {
      token: viewer.token, body: { email: `new${Math.random()}@a.example`, roles: ['viewer'] }, headers: consistent
    })
    problem(t, await invite(), 403, 'auth.forbidden')

    problem(t, await api.call('POST', `/v1/orgs/${orgId}/roles`, {
      body: {
        name: 'Bad',
        grants: [{ actions: ['member:invite'], resource: '*', effect: 'allow', when: { lt: [{ ref: 'principal.password' }, 3] } }]
      }
    }), 400, 'rbac.invalid_condition')
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/roles`, {
      body: { name: 'Bad', grants: [{ actions: ['rocket:launch'], resource: '*', effect: 'allow' }] }
    }), 400, 'rbac.unknown_action')
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/roles`, {
      body: { name: 'Bad', grants: [{ actions: ['Rocket Launch'], resource: '*', effect: 'allow' }] }
    }), 400, 'http.validation')
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/roles`, {
      token: admin.token, body: { name: 'Billing', grants: [{ actions: ['billing:update'], resource: '*', effect: 'allow' }] }
    }), 403, 'rbac.escalation')

    const created = await api.call('POST', `/v1/orgs/${orgId}/roles`, {
      body: {
        name: 'Recruiter',
        description: 'invites, from the office',
        grants: [{
          actions: ['member:invite'], resource: 'organization', effect: 'allow', when: { ipInCidr: [{ ref: 'context.ip' }, '127.0.0.0/8'] }
        }]
      }
    })
    t.equal(created.statusCode, 201, created.body)
    const { roleId } = created.json()
    t.match(roleId, /^role_[a-z0-9]+$/)
    const assigned = await api.call('PUT', `/v1/orgs/${orgId}/members/${viewer.userId}/roles/${roleId}`)
    t.equal(assigned.statusCode, 200, assigned.body)
    t.equal((await invite()).statusCode, 201, 'the role took effect on the next request (inject comes from 127.0.0.1)')
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/invitations`, {
      token: viewer.token, body: { email: 'boss@a.example', roles: ['member'] }
    }), 403, 'rbac.escalation')
    const outside = await api.app.inject({
      method: 'POST',
      url: `/v1/orgs/${orgId}/invitations`,
      remoteAddress: '203.0.113.9',
      headers: { authorization: `Bearer ${viewer.token}` },
      payload: { email: 'far@a.example', roles: ['member'] }
    })
    problem(t, outside, 403, 'auth.forbidden')

    const why = await api.call('POST', `/v1/orgs/${orgId}/authz/explain`, {
      body: { userId: viewer.userId, action: 'member:invite', resource: { type: 'organization' }, context: { ip: '203.0.113.9' } },
      headers: { 'x-consistent-with': assigned.json().position }
    })
    t.match(why.json(), { allowed: false, failedConditions: [{ roleId, clause: 'ipInCidr' }] },
      'explain names the role and the failed clause')
    const access = await api.call('GET', `/v1/orgs/${orgId}/access?action=member:invite`,
      { headers: { 'x-consistent-with': assigned.json().position } })
    t.equal(access.statusCode, 200, access.body)
    t.same(
      access.json().holders
        .map((h: { userId: string, roleId: string, conditional: boolean }) => [h.userId, h.roleId, h.conditional]).sort(),
      [[admin.userId, 'admin', false], [api.owner.userId, 'owner', false], [viewer.userId, roleId, true]].sort(),
      'who may invite, and the viewer only under a condition'
    )
    problem(t, await api.call('GET', `/v1/orgs/${orgId}/access?action=everything`), 400, 'http.validation')

    const listed = await api.call('GET', `/v1/orgs/${orgId}/roles`)
    t.match(listed.json().items.find((r: { roleId: string }) => r.roleId === roleId),
      { name: 'Recruiter', builtIn: false, holders: [viewer.userId] })
    const inUse = await api.call('DELETE', `/v1/orgs/${orgId}/roles/${roleId}`)
    problem(t, inUse, 409, 'rbac.role_in_use')
    t.same(inUse.json().holders, [viewer.userId])
    t.equal((await api.call('DELETE', `/v1/orgs/${orgId}/members/${viewer.userId}/roles/${roleId}`)).statusCode, 200)
    problem(t, await invite(), 403, 'auth.forbidden')
    t.equal((await api.call('PATCH', `/v1/orgs/${orgId}/roles/${roleId}`, { body: { name: 'Talent' } })).statusCode, 200)
    t.equal((await api.call('DELETE', `/v1/orgs/${orgId}/roles/${roleId}`)).statusCode, 200, 'deleted once nobody holds it')
    problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/roles/${roleId}`), 404, 'rbac.role_not_found')
  })
})

t.test('policy tests over HTTP: cases run against the organization\'s policy, failures explained', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const created = await api.call('POST', `/v1/orgs/${orgId}/roles`, { body: { name: 'Clerk', grants: [
      { actions: ['member:invite'], resource: '*', effect: 'allow', when: { eq: [{ ref: 'context.mfa' }, true] } },
      { actions: ['member:read'], resource: '*', effect: 'allow' }
    ] } })
    const { roleId } = created.json()
    const cases = [
      { name: 'clerks invite with MFA', action: 'member:invite', resource: { type: 'organization' },
        context: { mfa: true }, expect: 'allow' },
      { name: 'not without', action: 'member:invite', resource: { type: 'organization' }, context: { mfa: false }, expect: 'deny' },
      { name: 'a wrong expectation', action: 'audit:export', resource: { type: 'organization' }, expect: 'allow' },
      { name: 'viewers read members', principal: { id: 'v', roles: ['viewer'] }, action: 'member:read',
        resource: { type: 'organization' }, expect: 'allow' }
    ]
    const ran = await api.call('POST', `/v1/orgs/${orgId}/roles/${roleId}/test`,
      { body: { cases }, headers: { 'x-consistent-with': created.json().position } })
    t.equal(ran.statusCode, 200, ran.body)
    t.match(ran.json(), { passed: 3, failed: 1 })
    t.match(ran.json().results[2],
      { name: 'a wrong expectation', passed: false, got: 'deny', explanation: { reason: 'no_matching_grant' } })
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/roles/${roleId}/test`, {
      body: { cases: [{ action: 'x', resource: {}, expect: 'maybe' }] }
    }), 400, 'http.validation')
  })
})
