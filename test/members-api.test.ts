/**
 * The members and command side of the HTTP API end to end, on every database
 * driver: joining by invitation, member lists in pages, roles and removal with
 * built-in role checks; Idempotency-Key; platform administration of users;
 * what command events carry. (Split from identity-api.test.ts so the files run
 * in parallel.)
 */
import t from 'tap'
import { changeUser } from '../src/application/identity/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { formatPosition } from '../src/eventstore/position.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { openTestApp } from './helpers/app.ts'
import { problem, register } from './helpers/http.ts'
import { joinOrg } from './helpers/invitations.ts'
import { lastWritten, settled, untilVisible } from './helpers/assertions.ts'

t.test('members: join by invitation, list in pages, roles, removal, and who may do what', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const users = []
    for (let i = 0; i < 7; i++) users.push(await register(api, `user${i}@a.example`))
    let position = ''
    for (const [i, user] of users.entries()) position = (await joinOrg(api, orgId, user,
      [i === 0 ? 'admin' : i === 1 ? 'viewer' : 'member'])).position
    // Adding directly is gone (issue 13.6): POST …/members invites, the same answer whether the address has an account or not.
    const again = await api.call('POST', `/v1/orgs/${orgId}/members`, { body: { email: 'user2@a.example', roles: ['member'] } })
    t.equal(again.statusCode, 202, again.body)
    problem(t, await api.call('POST', `/v1/invitations/${again.json().token}/accept`, { token: users[2]!.token }), 409, 'org.member_exists')
    t.equal((await api.call('POST', `/v1/orgs/${orgId}/members`, { body: { email: 'nobody@a.example', roles: ['member'] } })).statusCode,
      202, 'an unknown address: the same 202')
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/members`, { body: { userId: users[3]!.userId, roles: ['member'] } }),
      400, 'org.add_requires_invitation')

    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const query: string = cursor === null ? '?limit=3' : `?limit=3&cursor=${cursor}`
      const page = await api.call('GET', `/v1/orgs/${orgId}/members${query}`, { headers: { 'x-consistent-with': position } })
      t.equal(page.statusCode, 200, page.body)
      const body = page.json()
      t.ok(body.items.length <= 3)
      seen.push(...body.items.map((item: { userId: string }) => item.userId))
      cursor = body.nextCursor
      pages++
    } while (cursor !== null)
    t.equal(pages, 3, '8 members in pages of 3')
    t.same(seen, [...seen].sort(), 'ordered by user id')
    t.same([...seen].sort(), [api.owner.userId, ...users.map((u) => u.userId)].sort(), 'every member exactly once')
    problem(t, await api.call('GET', `/v1/orgs/${orgId}/members?cursor=bm9wZQ`), 400, 'http.invalid_cursor')

    const [admin, viewer, member] = users as [typeof users[0], typeof users[0], typeof users[0]]
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/members`, {
      token: viewer.token, body: { email: 'user6@a.example', roles: ['member'] }
    }), 403, 'auth.forbidden')
    problem(t, await api.call('PUT', `/v1/orgs/${orgId}/members/${member.userId}/roles/owner`, { token: admin.token }),
      403, 'auth.forbidden')
    problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/members/${api.owner.userId}`, { token: admin.token }), 403, 'auth.forbidden')
    const granted = await api.call('PUT', `/v1/orgs/${orgId}/members/${member.userId}/roles/admin`, { token: admin.token })
    t.equal(granted.statusCode, 200, 'an admin grants admin')
    const promoted = await api.call('GET', `/v1/session`,
      { token: member.token, headers: { 'x-consistent-with': granted.json().position } })
    t.same(promoted.json().memberships[0].roles, ['admin', 'member'])

    problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/members/${api.owner.userId}/roles/owner`), 409, 'org.last_owner')
    problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/members/${api.owner.userId}`), 409, 'org.last_owner')
    problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/members/${viewer.userId}/roles/viewer`), 409, 'org.member_needs_role')

    const removed = await api.call('DELETE', `/v1/orgs/${orgId}/members/${member.userId}`, { token: admin.token })
    t.equal(removed.statusCode, 200)
    problem(t, await api.call('GET', `/v1/orgs/${orgId}`, { token: member.token }), 404, 'org.not_found')
    const left = await api.call('DELETE', `/v1/orgs/${orgId}/members/${viewer.userId}`, { token: viewer.token })
    t.equal(left.statusCode, 200, 'anyone may leave')

    const invited = await api.call('POST', `/v1/orgs/${orgId}/invitations`,
      { token: admin.token, body: { email: 'newcomer@a.example', roles: ['member'] } })
    t.equal(invited.statusCode, 201)
    t.match(invited.json(), { inviteId: /^inv_/, token: /^llinv_/, status: 'pending' })
  })
})

t.test('Idempotency-Key: same request replays, different request 422, in flight 409', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql, { CONSISTENCY_TIMEOUT_MS: '1500' })
    const key = { 'idempotency-key': 'create-northwind-1' }
    const first = await api.call('POST', '/v1/orgs', { body: { name: 'Northwind', plan: 'pro' }, headers: key })
    t.equal(first.statusCode, 201)
    const again = await api.call('POST', '/v1/orgs', { body: { plan: 'pro', name: 'Northwind' }, headers: key })
    t.equal(again.statusCode, 201)
    t.equal(again.body, first.body, 'the same response, byte for byte')
    t.equal(again.headers['idempotent-replayed'], 'true')
    await untilVisible(api.runtime.store, await lastWritten(api.runtime.sql))
    const orgEvents = await api.runtime.store.readAll({ major: 0n, minor: 0n }, { types: ['org.organization.created'] })
    t.equal(orgEvents.events.filter((e) => (e.data as { name: string }).name === 'Northwind').length, 1, 'one organization created')

    problem(t, await api.call('POST', '/v1/orgs', { body: { name: 'Southwind' }, headers: key }), 422, 'idempotency.key_reused')
    const other = await api.newOwner('other@b.example')
    t.equal((await api.call('POST', '/v1/orgs', { token: other.token, body: { name: 'Southwind' }, headers: key })).statusCode,
      201, 'keys are per principal')

    // A request that waits for an unreachable position holds its key for the whole wait.
    const future = formatPosition({ major: 2n ** 63n - 1n, minor: 0n })
    const slowKey = { 'idempotency-key': 'slow-one', 'x-consistent-with': future }
    const slow = api.call('POST', '/v1/orgs', { body: { name: 'Slow' }, headers: slowKey })
    await new Promise((resolve) => setTimeout(resolve, 300))
    problem(t, await api.call('POST', '/v1/orgs', { body: { name: 'Slow' }, headers: { 'idempotency-key': 'slow-one' } }),
      409, 'idempotency.in_flight')
    problem(t, await slow, 504, 'projection.timeout')
    const retried = await api.call('POST', '/v1/orgs', { body: { name: 'Slow' }, headers: { 'idempotency-key': 'slow-one' } })
    t.equal(retried.statusCode, 201, 'a 5xx is not kept: the retry runs')

    const token = await api.call('POST', '/v1/tokens', { body: { name: 'once' }, headers: { 'idempotency-key': 'token-1' } })
    const tokenAgain = await api.call('POST', '/v1/tokens', { body: { name: 'once' }, headers: { 'idempotency-key': 'token-1' } })
    t.equal(tokenAgain.body, token.body, 'a token creation replays the same token')
    const { rows } = await sql.query<{ sealed: string }>("SELECT encode(sealed_response, 'escape') AS sealed FROM idempotency_keys")
    t.ok(rows.length >= 3)
    t.notOk(rows.some((row) => row.sealed.includes(token.json().token.slice(20))), 'kept responses are sealed: no token in clear')
    problem(t, await api.call('POST', '/v1/orgs', { body: { name: 'x' }, headers: { 'idempotency-key': 'bad key with spaces' } }),
      400, 'idempotency.invalid_key')
  })
})

t.test('platform admins disable and enable users; the last owner cannot be disabled', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const member = await register(api, 'member@a.example')
    await joinOrg(api, api.owner.orgId, member, ['member'])
    problem(t, await api.call('POST', `/v1/admin/users/${member.userId}/disable`), 403, 'auth.forbidden')

    const staff = await api.newOwner('staff@platform.example')
    await changeUser(api.runtime.identity, systemCommand('test'), staff.userId,
      { type: 'SetStaffFlags', data: { platformAdmin: true, platformSupport: false } })

    const disabled = await api.call('POST', `/v1/admin/users/${member.userId}/disable`,
      { token: staff.token, body: { reason: 'left the company' } })
    t.equal(disabled.statusCode, 200, disabled.body)
    problem(t, await api.call('GET', '/v1/session', { token: member.token }), 401, 'auth.unauthenticated')
    problem(t, await api.call('POST', '/v1/auth/login', {
      token: null, body: { email: 'member@a.example', password: 'correct horse battery' }
    }), 401, 'auth.invalid_credentials')

    await settled(api.runtime)
    const refused = await api.call('POST', `/v1/admin/users/${api.owner.userId}/disable`, { token: staff.token })
    problem(t, refused, 409, 'org.last_owner')
    t.same(refused.json().orgIds, [api.owner.orgId])

    t.equal((await api.call('POST', `/v1/admin/users/${member.userId}/enable`, { token: staff.token })).statusCode, 200)
    t.equal((await api.call('GET', '/v1/session', { token: member.token })).statusCode, 200, 'enabled again, the old token works')
  })
})

t.test('command events carry the caller, the trace and the request', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const response = await api.app.inject({
      method: 'POST',
      url: '/v1/orgs',
      remoteAddress: '203.0.113.7',
      headers: {
        authorization: `Bearer ${api.owner.token}`,
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
        'user-agent': 'curl/8',
        'x-request-id': 'req-42'
      },
      payload: { name: 'Traced' }
    })
    t.equal(response.statusCode, 201)
    t.match(String(response.headers.traceparent), new RegExp(`^00-${traceId}-`))
    const events = await api.runtime.store.readStream(`org-${response.json().orgId}`)
    t.equal(events.length, 2)
    for (const event of events) {
      t.match(event.metadata, {
        actor: { type: 'user', id: api.owner.userId }, traceId, ip: '203.0.113.7',
        userAgent: 'curl/8', requestId: 'req-42', orgId: response.json().orgId
      })
    }
  })
})

t.test('ids that name Object.prototype members are just unknown members, for members and strangers alike', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const stranger = await api.newOwner('stranger@b.example')
    for (const id of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      problem(t, await api.call('DELETE', `/v1/orgs/${api.owner.orgId}/members/${id}`, { token: stranger.token }), 404, 'org.not_found')
      problem(t, await api.call('DELETE', `/v1/orgs/${api.owner.orgId}/members/${id}`), 404, 'org.member_not_found')
      problem(t, await api.call('PUT', `/v1/orgs/${api.owner.orgId}/members/${id}/roles/admin`), 404, 'org.member_not_found')
      problem(t, await api.call('DELETE', `/v1/orgs/${api.owner.orgId}/members/${id}/roles/admin`), 404, 'org.member_not_found')
    }
  })
})

t.test('only owners touch owners, even when the role changes between the check and the write', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const admin = await register(api, 'admin@a.example')
    const target = await register(api, 'target@a.example')
    await joinOrg(api, orgId, admin, ['admin'])
    await joinOrg(api, orgId, target, ['member'])
    // The owner makes the target an owner; the admin's removal, checked on the aggregate, is refused.
    t.equal((await api.call('PUT', `/v1/orgs/${orgId}/members/${target.userId}/roles/owner`)).statusCode, 200)
    problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/members/${target.userId}`, { token: admin.token }), 403, 'auth.forbidden')
    const { changeOrganization } = await import('../src/application/identity/commands.ts')
    const asAdmin = { ...systemCommand('test'), actor: { type: 'user' as const, id: admin.userId } }
    const refused = await changeOrganization(api.runtime.identity, asAdmin, orgId,
      { type: 'RemoveMember', data: { userId: target.userId } }).catch((e: unknown) => e)
    t.match(refused, { code: 'auth.forbidden' }, 'the application function refuses it too, whatever the HTTP layer saw')
    t.equal((await api.call('DELETE', `/v1/orgs/${orgId}/members/${target.userId}`)).statusCode, 200, 'an owner may')
  })
})

t.test('an Idempotency-Key reused after its 24 h retention is a new command, not a replay of the old one', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const member = await register(api, 'daily@a.example')
    await joinOrg(api, api.owner.orgId, member, ['member'])
    const headers = { 'idempotency-key': 'daily-job-1' }
    const assigned = await api.call('PUT', `/v1/orgs/${api.owner.orgId}/members/${member.userId}/roles/admin`, { headers })
    t.equal(assigned.statusCode, 200)
    await sql.query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    const unassigned = await api.call('DELETE', `/v1/orgs/${api.owner.orgId}/members/${member.userId}/roles/admin`, { headers })
    t.equal(unassigned.statusCode, 200)
    t.not(unassigned.json().position, null, 'it wrote')
    t.notOk(unassigned.headers['idempotent-replayed'])
    const session = await api.call('GET', '/v1/session',
      { token: member.token, headers: { 'x-consistent-with': unassigned.json().position } })
    t.same(session.json().memberships[0].roles, ['member'], 'the role is gone')
  })
})
