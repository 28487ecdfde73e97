/**
 * The identity HTTP API end to end, on every database driver: sign-up,
 * login, sessions and tokens; organizations and members with built-in role
 * checks; read-your-writes; Idempotency-Key; platform administration.
 */
import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import { changeUser } from '../src/application/identity/commands.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { buildApp } from '../src/http/app.ts'
import { REDACT_PATHS } from '../src/logger.ts'
import { openRuntime } from '../src/runtime.ts'
import { formatPosition } from '../src/eventstore/position.ts'
import { userStreamId } from '../src/domain/identity/user.ts'
import { forEachDatabase, openTestDatabase } from './helpers/databases.ts'
import { openTestApp } from './helpers/app.ts'
import { problem, register } from './helpers/http.ts'
import { joinOrg } from './helpers/invitations.ts'
import { lastWritten, settled, untilVisible } from './helpers/assertions.ts'

t.test('sign-up, login, session and logout', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const signedUp = await register(api, 'Ada@Example.com')
    t.match(signedUp, { userId: /^usr_/, token: /^ll_[a-z2-7]{16}_/ })

    problem(t, await api.call('POST', '/v1/auth/register', { token: null, body: { email: 'ada@example.COM', password: 'another password', displayName: 'x' } }), 409, 'identity.email_taken')
    problem(t, await api.call('POST', '/v1/auth/login', { token: null, body: { email: 'ada@example.com', password: 'wrong password!' } }), 401, 'auth.invalid_credentials')
    problem(t, await api.call('POST', '/v1/auth/login', { token: null, body: { email: 'nobody@example.com', password: 'wrong password!' } }), 401, 'auth.invalid_credentials')

    const login = await api.call('POST', '/v1/auth/login', { token: null, body: { email: 'ADA@example.com', password: 'correct horse battery' } })
    t.equal(login.statusCode, 200, login.body)
    const { token, expiresAt } = login.json()
    const hours = (Date.parse(expiresAt) - Date.now()) / 3_600_000
    t.ok(hours > 11.9 && hours <= 12, 'a session lasts SESSION_TTL_HOURS (12 by default)')

    const session = await api.call('GET', '/v1/session', { token })
    t.equal(session.statusCode, 200)
    t.match(session.json(), { user: { userId: signedUp.userId, email: 'ada@example.com', platformAdmin: false }, token: { kind: 'session' }, memberships: [], impersonation: null, act: null })

    const logout = await api.call('POST', '/v1/auth/logout', { token })
    t.equal(logout.statusCode, 200)
    t.match(logout.json().position, /^\d+\.\d+$/)
    const after = await api.call('GET', '/v1/session', { token })
    problem(t, after, 401, 'auth.unauthenticated')
    t.equal(after.headers['www-authenticate'], 'Bearer realm="ledgerline"')
    t.equal((await api.call('GET', '/v1/session', { token: signedUp.token })).statusCode, 200, 'other sessions are untouched')

    for (const bad of ['', 'Bearer', 'Basic abc', 'Bearer ll_aaaaaaaaaaaaaaaa_' + 'A'.repeat(43), `Bearer ${token}x`]) {
      const response = await api.app.inject({ url: '/v1/session', headers: bad === '' ? {} : { authorization: bad } })
      problem(t, response, 401, 'auth.unauthenticated')
    }

    const events = JSON.stringify((await api.runtime.store.readStream(userStreamId(signedUp.userId))).map((e) => e.data))
    t.notMatch(events, /correct horse/, 'the password is not in the log')
    t.match(events, /scrypt\$32768\$8\$1\$/, 'only its scrypt hash')
  })
})

t.test('login and sign-up are rate limited per address and per e-mail', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql, { LOGIN_RATE_LIMIT_PER_MINUTE: '3' })
    const attempt = (email: string, ip: string) => api.app.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress: ip, payload: { email, password: 'not the password' } })
    for (let i = 0; i < 3; i++) t.equal((await attempt('victim@example.com', `10.0.0.${i}`)).statusCode, 401)
    const limited = await attempt('victim@example.com', '10.0.0.9')
    problem(t, limited, 429, 'http.rate_limited')
    t.ok(Number(limited.headers['retry-after']) >= 1, 'Retry-After is set')
    t.equal(limited.headers['ratelimit-remaining'], '0')
    for (let i = 0; i < 3; i++) await attempt(`other${i}@example.com`, '10.0.1.1')
    problem(t, await attempt('fresh@example.com', '10.0.1.1'), 429, 'http.rate_limited')
  })
})

t.test('API tokens: created once, listed without secrets, revoked, someone else\'s not found', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const created = await api.call('POST', '/v1/tokens', { body: { name: 'ci deploys', expiresInDays: 30 } })
    t.equal(created.statusCode, 201, created.body)
    const token = created.json()
    t.match(token, { token: /^ll_/, prefix: /^ll_[a-z2-7]{16}$/, tokenId: /^[a-z2-7]{16}$/ })
    t.ok(Math.abs(Date.parse(token.expiresAt) - Date.now() - 30 * 86_400_000) < 60_000, 'expires in 30 days')
    t.equal((await api.call('GET', '/v1/session', { token: token.token })).json().token.kind, 'api')

    const list = await api.call('GET', '/v1/tokens', { headers: { 'x-consistent-with': token.position } })
    t.equal(list.statusCode, 200)
    const listed = list.json().items.find((item: { tokenId: string }) => item.tokenId === token.tokenId)
    t.match(listed, { name: 'ci deploys', kind: 'api', prefix: token.prefix, revokedAt: null })
    t.notMatch(list.body, token.token.slice(20), 'no secret in the list')
    t.notMatch(list.body, /hash/)

    const stranger = await api.newOwner('stranger@b.example')
    problem(t, await api.call('DELETE', `/v1/tokens/${token.tokenId}`, { token: stranger.token }), 404, 'identity.token_not_found')
    t.equal((await api.call('GET', '/v1/session', { token: token.token })).statusCode, 200, 'still valid')
    const revoked = await api.call('DELETE', `/v1/tokens/${token.tokenId}`)
    t.equal(revoked.statusCode, 200)
    problem(t, await api.call('GET', '/v1/session', { token: token.token }), 401, 'auth.unauthenticated')
    t.same((await api.call('DELETE', `/v1/tokens/${token.tokenId}`)).json(), { position: null }, 'revoking twice changes nothing')
    problem(t, await api.call('POST', '/v1/tokens', { body: { name: 'x', expiresInDays: 0 } }), 400, 'http.validation')
  })
})

t.test('expired tokens are refused', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const created = (await api.call('POST', '/v1/tokens', { body: { name: 'short', expiresInDays: 1 } })).json()
    const directory = api.runtime.identity.directory
    t.ok(await directory.authenticate(created.token, Date.now() + 86_400_000 - 60_000), 'valid a minute before expiry')
    t.equal(await directory.authenticate(created.token, Date.now() + 86_400_000 + 60_000), undefined, 'refused a minute after')
  })
})

t.test('organizations: create, read your write, rename, settings, plan by owners only', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const created = await api.call('POST', '/v1/orgs', { body: { name: 'Northwind', plan: 'pro' } })
    t.equal(created.statusCode, 201, created.body)
    const { orgId, position } = created.json()
    const read = await api.call('GET', `/v1/orgs/${orgId}`, { headers: { 'x-consistent-with': position } })
    t.equal(read.statusCode, 200, read.body)
    t.match(read.json(), { orgId, name: 'Northwind', plan: 'pro', memberCount: 1, roles: ['owner'], settings: {} })

    const renamed = await api.call('PATCH', `/v1/orgs/${orgId}`, { body: { name: 'Northwind Traders', settings: { locale: 'fr-FR', seats: 12 } } })
    t.equal(renamed.statusCode, 200, renamed.body)
    const afterRename = (await api.call('GET', `/v1/orgs/${orgId}`, { headers: { 'x-consistent-with': renamed.json().position } })).json()
    t.match(afterRename, { name: 'Northwind Traders', settings: { locale: 'fr-FR', seats: 12 } })
    t.same((await api.call('PATCH', `/v1/orgs/${orgId}`, { body: { name: 'Northwind Traders' } })).json(), { position: null }, 'no change, no event')
    problem(t, await api.call('PATCH', `/v1/orgs/${orgId}`, { body: {} }), 400, 'http.validation')

    const admin = await register(api, 'admin@northwind.example')
    const added = await joinOrg(api, orgId, admin, ['admin'])
    t.match(added, { orgId, userId: admin.userId, roles: ['admin'] })
    problem(t, await api.call('PUT', `/v1/orgs/${orgId}/plan`, { token: admin.token, body: { plan: 'enterprise' } }), 403, 'auth.forbidden')
    const plan = await api.call('PUT', `/v1/orgs/${orgId}/plan`, { body: { plan: 'enterprise' } })
    t.equal(plan.statusCode, 200)
    t.equal((await api.call('GET', `/v1/orgs/${orgId}`, { token: admin.token, headers: { 'x-consistent-with': plan.json().position } })).json().plan, 'enterprise')
  })
})

t.test('X-Consistent-With: malformed is 400, unreachable is 504', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql, { CONSISTENCY_TIMEOUT_MS: '300' })
    problem(t, await api.call('GET', '/v1/session', { headers: { 'x-consistent-with': 'yesterday' } }), 400, 'http.invalid_consistency_position')
    const head = await api.runtime.store.headPosition()
    // No log gets here: the largest position the header accepts (xid8 and bigint both fit below it).
    const future = formatPosition({ major: 2n ** 63n - 1n, minor: 2n ** 63n - 1n })
    const timeout = await api.call('GET', '/v1/session', { headers: { 'x-consistent-with': future } })
    if (timeout.statusCode !== 504) t.comment(`projections: ${JSON.stringify(api.runtime.runner.status(), (_, v: unknown) => typeof v === 'bigint' ? String(v) : v)}`)
    problem(t, timeout, 504, 'projection.timeout')
    t.equal(timeout.json().position, future)
    t.equal((await api.call('GET', '/v1/session', { headers: { 'x-consistent-with': formatPosition(head) } })).statusCode, 200)
  })
})

t.test('members: join by invitation, list in pages, roles, removal, and who may do what', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const users = []
    for (let i = 0; i < 7; i++) users.push(await register(api, `user${i}@a.example`))
    let position = ''
    for (const [i, user] of users.entries()) position = (await joinOrg(api, orgId, user, [i === 0 ? 'admin' : i === 1 ? 'viewer' : 'member'])).position
    // Adding directly is gone (issue 13.6): POST …/members invites, the same answer whether the address has an account or not.
    const again = await api.call('POST', `/v1/orgs/${orgId}/members`, { body: { email: 'user2@a.example', roles: ['member'] } })
    t.equal(again.statusCode, 202, again.body)
    problem(t, await api.call('POST', `/v1/invitations/${again.json().token}/accept`, { token: users[2]!.token }), 409, 'org.member_exists')
    t.equal((await api.call('POST', `/v1/orgs/${orgId}/members`, { body: { email: 'nobody@a.example', roles: ['member'] } })).statusCode, 202, 'an unknown address: the same 202')
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/members`, { body: { userId: users[3]!.userId, roles: ['member'] } }), 400, 'org.add_requires_invitation')

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
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/members`, { token: viewer.token, body: { email: 'user6@a.example', roles: ['member'] } }), 403, 'auth.forbidden')
    problem(t, await api.call('PUT', `/v1/orgs/${orgId}/members/${member.userId}/roles/owner`, { token: admin.token }), 403, 'auth.forbidden')
    problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/members/${api.owner.userId}`, { token: admin.token }), 403, 'auth.forbidden')
    const granted = await api.call('PUT', `/v1/orgs/${orgId}/members/${member.userId}/roles/admin`, { token: admin.token })
    t.equal(granted.statusCode, 200, 'an admin grants admin')
    const promoted = await api.call('GET', `/v1/session`, { token: member.token, headers: { 'x-consistent-with': granted.json().position } })
    t.same(promoted.json().memberships[0].roles, ['admin', 'member'])

    problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/members/${api.owner.userId}/roles/owner`), 409, 'org.last_owner')
    problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/members/${api.owner.userId}`), 409, 'org.last_owner')
    problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/members/${viewer.userId}/roles/viewer`), 409, 'org.member_needs_role')

    const removed = await api.call('DELETE', `/v1/orgs/${orgId}/members/${member.userId}`, { token: admin.token })
    t.equal(removed.statusCode, 200)
    problem(t, await api.call('GET', `/v1/orgs/${orgId}`, { token: member.token }), 404, 'org.not_found')
    const left = await api.call('DELETE', `/v1/orgs/${orgId}/members/${viewer.userId}`, { token: viewer.token })
    t.equal(left.statusCode, 200, 'anyone may leave')

    const invited = await api.call('POST', `/v1/orgs/${orgId}/invitations`, { token: admin.token, body: { email: 'newcomer@a.example', roles: ['member'] } })
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
    t.equal((await api.call('POST', '/v1/orgs', { token: other.token, body: { name: 'Southwind' }, headers: key })).statusCode, 201, 'keys are per principal')

    // A request that waits for an unreachable position holds its key for the whole wait.
    const future = formatPosition({ major: 2n ** 63n - 1n, minor: 0n })
    const slowKey = { 'idempotency-key': 'slow-one', 'x-consistent-with': future }
    const slow = api.call('POST', '/v1/orgs', { body: { name: 'Slow' }, headers: slowKey })
    await new Promise((resolve) => setTimeout(resolve, 300))
    problem(t, await api.call('POST', '/v1/orgs', { body: { name: 'Slow' }, headers: { 'idempotency-key': 'slow-one' } }), 409, 'idempotency.in_flight')
    problem(t, await slow, 504, 'projection.timeout')
    const retried = await api.call('POST', '/v1/orgs', { body: { name: 'Slow' }, headers: { 'idempotency-key': 'slow-one' } })
    t.equal(retried.statusCode, 201, 'a 5xx is not kept: the retry runs')

    const token = await api.call('POST', '/v1/tokens', { body: { name: 'once' }, headers: { 'idempotency-key': 'token-1' } })
    const tokenAgain = await api.call('POST', '/v1/tokens', { body: { name: 'once' }, headers: { 'idempotency-key': 'token-1' } })
    t.equal(tokenAgain.body, token.body, 'a token creation replays the same token')
    const { rows } = await sql.query<{ sealed: string }>("SELECT encode(sealed_response, 'escape') AS sealed FROM idempotency_keys")
    t.ok(rows.length >= 3)
    t.notOk(rows.some((row) => row.sealed.includes(token.json().token.slice(20))), 'kept responses are sealed: no token in clear')
    problem(t, await api.call('POST', '/v1/orgs', { body: { name: 'x' }, headers: { 'idempotency-key': 'bad key with spaces' } }), 400, 'idempotency.invalid_key')
  })
})

t.test('platform admins disable and enable users; the last owner cannot be disabled', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const member = await register(api, 'member@a.example')
    await joinOrg(api, api.owner.orgId, member, ['member'])
    problem(t, await api.call('POST', `/v1/admin/users/${member.userId}/disable`), 403, 'auth.forbidden')

    const staff = await api.newOwner('staff@platform.example')
    await changeUser(api.runtime.identity, systemCommand('test'), staff.userId, { type: 'SetStaffFlags', data: { platformAdmin: true, platformSupport: false } })

    const disabled = await api.call('POST', `/v1/admin/users/${member.userId}/disable`, { token: staff.token, body: { reason: 'left the company' } })
    t.equal(disabled.statusCode, 200, disabled.body)
    problem(t, await api.call('GET', '/v1/session', { token: member.token }), 401, 'auth.unauthenticated')
    problem(t, await api.call('POST', '/v1/auth/login', { token: null, body: { email: 'member@a.example', password: 'correct horse battery' } }), 401, 'auth.invalid_credentials')

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
      headers: { authorization: `Bearer ${api.owner.token}`, traceparent: `00-${traceId}-00f067aa0ba902b7-01`, 'user-agent': 'curl/8', 'x-request-id': 'req-42' },
      payload: { name: 'Traced' }
    })
    t.equal(response.statusCode, 201)
    t.match(String(response.headers.traceparent), new RegExp(`^00-${traceId}-`))
    const events = await api.runtime.store.readStream(`org-${response.json().orgId}`)
    t.equal(events.length, 2)
    for (const event of events) {
      t.match(event.metadata, { actor: { type: 'user', id: api.owner.userId }, traceId, ip: '203.0.113.7', userAgent: 'curl/8', requestId: 'req-42', orgId: response.json().orgId })
    }
  })
})

t.test('changing a password needs the current one and ends the other sessions', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const user = await register(api, 'rotate@a.example')
    const login = async (password: string) => api.call('POST', '/v1/auth/login', { token: null, body: { email: 'rotate@a.example', password } })
    const other = (await login('correct horse battery')).json()
    const apiToken = (await api.call('POST', '/v1/tokens', { token: user.token, body: { name: 'script' } })).json()
    await settled(api.runtime)

    problem(t, await api.call('PUT', '/v1/me/password', { token: user.token, body: { currentPassword: 'not it at all', newPassword: 'a brand new secret' } }), 401, 'auth.invalid_credentials')
    problem(t, await api.call('PUT', '/v1/me/password', { token: user.token, body: { currentPassword: 'correct horse battery', newPassword: 'short' } }), 400, 'http.validation')
    const changed = await api.call('PUT', '/v1/me/password', { token: user.token, body: { currentPassword: 'correct horse battery', newPassword: 'a brand new secret' } })
    t.equal(changed.statusCode, 200, changed.body)
    t.equal(changed.json().sessionsRevoked, 1)
    problem(t, await api.call('GET', '/v1/session', { token: other.token }), 401, 'auth.unauthenticated')
    t.equal((await api.call('GET', '/v1/session', { token: user.token })).statusCode, 200, 'the session that changed it stays')
    t.equal((await api.call('GET', '/v1/session', { token: apiToken.token })).statusCode, 200, 'API tokens stay')
    problem(t, await login('correct horse battery'), 401, 'auth.invalid_credentials')
    t.equal((await login('a brand new secret')).statusCode, 200)
  })
})

t.test('no password, token or idempotency key reaches the logs, even at trace level', async (t) => {
  const lines: string[] = []
  const sink = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const db = await openTestDatabase('pglite')
  t.teardown(db.dispose)
  const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), pino({ level: 'trace', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink), { sql: db.sql, runProjections: true })
  t.teardown(() => runtime.close())
  const app = await buildApp(runtime)
  t.teardown(() => app.close())
  const signup = await app.inject({ method: 'POST', url: '/v1/auth/register', payload: { email: 'quiet@a.example', password: 'a very secret phrase', displayName: 'Q' } })
  const { token } = signup.json()
  const created = await app.inject({ method: 'POST', url: '/v1/tokens', headers: { authorization: `Bearer ${token}`, 'idempotency-key': 'key-that-is-secret' }, payload: { name: 'n' } })
  await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'quiet@a.example', password: 'wrong but secret too' } })
  await app.inject({ url: '/v1/session', headers: { authorization: `Bearer ${created.json().token}` } })
  const log = lines.join('')
  t.ok(lines.length > 5, 'requests were logged')
  for (const secret of ['a very secret phrase', 'wrong but secret too', token.slice(3), created.json().token.slice(3), 'key-that-is-secret', 'scrypt$']) {
    t.notOk(log.includes(secret), `${secret.slice(0, 12)}… is not in the logs`)
  }
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
    const refused = await changeOrganization(api.runtime.identity, asAdmin, orgId, { type: 'RemoveMember', data: { userId: target.userId } }).catch((e: unknown) => e)
    t.match(refused, { code: 'auth.forbidden' }, 'the application function refuses it too, whatever the HTTP layer saw')
    t.equal((await api.call('DELETE', `/v1/orgs/${orgId}/members/${target.userId}`)).statusCode, 200, 'an owner may')
  })
})

t.test('behind a trusted proxy, the client address comes from X-Forwarded-For; otherwise it is ignored', async (t) => {
  for (const [trust, expected] of [['1', '198.51.100.9'], ['', '10.0.0.1']] as const) {
    await forEachDatabase(t, async (t, { sql }) => {
      const api = await openTestApp(t, sql, { TRUST_PROXY: trust })
      const response = await api.app.inject({
        method: 'POST', url: '/v1/orgs', remoteAddress: '10.0.0.1',
        headers: { authorization: `Bearer ${api.owner.token}`, 'x-forwarded-for': '198.51.100.9' },
        payload: { name: 'Proxied' }
      })
      const events = await api.runtime.store.readStream(`org-${response.json().orgId}`)
      t.equal(events[0]!.metadata.ip, expected, `TRUST_PROXY=${trust}: ip ${expected}`)
    })
  }
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
    const session = await api.call('GET', '/v1/session', { token: member.token, headers: { 'x-consistent-with': unassigned.json().position } })
    t.same(session.json().memberships[0].roles, ['member'], 'the role is gone')
  })
})

t.test('GET /v1/permissions lists the catalogue and the built-in roles; routes name the action they refuse', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const catalogue = await api.call('GET', '/v1/permissions')
    t.equal(catalogue.statusCode, 200)
    const body = catalogue.json() as { actions: Array<{ action: string, sensitive: boolean, ownerOnly: boolean }>, builtInRoles: Array<{ roleId: string, actions: string[] }> }
    t.match(body.actions.find((a) => a.action === 'audit:export'), { sensitive: true })
    t.match(body.actions.find((a) => a.action === 'billing:update'), { ownerOnly: true })
    t.same(body.builtInRoles.map((r) => r.roleId), ['owner', 'admin', 'member', 'viewer'])
    problem(t, await api.call('GET', '/v1/permissions', { token: null }), 401, 'auth.unauthenticated')

    const viewer = await register(api, 'viewer@a.example')
    await joinOrg(api, api.owner.orgId, viewer, ['viewer'])
    const refused = await api.call('POST', `/v1/orgs/${api.owner.orgId}/invitations`, { token: viewer.token, body: { email: 'x@a.example', roles: ['member'] } })
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
    t.same(checked.json().results.map((r: { allowed: boolean }) => r.allowed), [true, true, false, false], 'owner may, viewer reads, viewer may not invite, a stranger holds nothing')
    const explained = await api.call('POST', `/v1/orgs/${orgId}/authz/explain`, { body: checks[2], headers: consistent })
    t.match(explained.json(), { allowed: false, reason: 'no_matching_grant', deciding: [] })
    const why = await api.call('POST', `/v1/orgs/${orgId}/authz/explain`, { body: checks[1], headers: consistent })
    t.match(why.json(), { allowed: true, deciding: [{ roleId: 'viewer', effect: 'allow' }] })
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/authz/check`, { token: viewer.token, body: { checks } }), 403, 'auth.forbidden')
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/authz/check`, { body: { checks: [{ action: 'not an action', resource: { type: 'x' } }] } }), 400, 'http.validation')
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/authz/check`, { body: { checks: Array.from({ length: 101 }, () => checks[0]) } }), 400, 'http.validation')
  })
})

t.test('custom roles end to end: create with a condition, assign, take effect at once, explain, escalation refused, deletion guarded', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const viewer = await register(api, 'viewer@a.example')
    const admin = await register(api, 'admin@a.example')
    await joinOrg(api, orgId, viewer, ['viewer'])
    const last = await joinOrg(api, orgId, admin, ['admin'])
    const consistent = { 'x-consistent-with': last.position }
    const invite = () => api.call('POST', `/v1/orgs/${orgId}/invitations`, { token: viewer.token, body: { email: `new${Math.random()}@a.example`, roles: ['viewer'] }, headers: consistent })
    problem(t, await invite(), 403, 'auth.forbidden')

    problem(t, await api.call('POST', `/v1/orgs/${orgId}/roles`, { body: { name: 'Bad', grants: [{ actions: ['member:invite'], resource: '*', effect: 'allow', when: { lt: [{ ref: 'principal.password' }, 3] } }] } }), 400, 'rbac.invalid_condition')
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/roles`, { body: { name: 'Bad', grants: [{ actions: ['rocket:launch'], resource: '*', effect: 'allow' }] } }), 400, 'rbac.unknown_action')
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/roles`, { body: { name: 'Bad', grants: [{ actions: ['Rocket Launch'], resource: '*', effect: 'allow' }] } }), 400, 'http.validation')
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/roles`, { token: admin.token, body: { name: 'Billing', grants: [{ actions: ['billing:update'], resource: '*', effect: 'allow' }] } }), 403, 'rbac.escalation')

    const created = await api.call('POST', `/v1/orgs/${orgId}/roles`, { body: { name: 'Recruiter', description: 'invites, from the office', grants: [{ actions: ['member:invite'], resource: 'organization', effect: 'allow', when: { ipInCidr: [{ ref: 'context.ip' }, '127.0.0.0/8'] } }] } })
    t.equal(created.statusCode, 201, created.body)
    const { roleId } = created.json()
    t.match(roleId, /^role_[a-z0-9]+$/)
    const assigned = await api.call('PUT', `/v1/orgs/${orgId}/members/${viewer.userId}/roles/${roleId}`)
    t.equal(assigned.statusCode, 200, assigned.body)
    t.equal((await invite()).statusCode, 201, 'the role took effect on the next request (inject comes from 127.0.0.1)')
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/invitations`, { token: viewer.token, body: { email: 'boss@a.example', roles: ['member'] } }), 403, 'rbac.escalation')
    const outside = await api.app.inject({ method: 'POST', url: `/v1/orgs/${orgId}/invitations`, remoteAddress: '203.0.113.9', headers: { authorization: `Bearer ${viewer.token}` }, payload: { email: 'far@a.example', roles: ['member'] } })
    problem(t, outside, 403, 'auth.forbidden')

    const why = await api.call('POST', `/v1/orgs/${orgId}/authz/explain`, { body: { userId: viewer.userId, action: 'member:invite', resource: { type: 'organization' }, context: { ip: '203.0.113.9' } }, headers: { 'x-consistent-with': assigned.json().position } })
    t.match(why.json(), { allowed: false, failedConditions: [{ roleId, clause: 'ipInCidr' }] }, 'explain names the role and the failed clause')
    const access = await api.call('GET', `/v1/orgs/${orgId}/access?action=member:invite`, { headers: { 'x-consistent-with': assigned.json().position } })
    t.equal(access.statusCode, 200, access.body)
    t.same(access.json().holders.map((h: { userId: string, roleId: string, conditional: boolean }) => [h.userId, h.roleId, h.conditional]).sort(),
      [[admin.userId, 'admin', false], [api.owner.userId, 'owner', false], [viewer.userId, roleId, true]].sort(), 'who may invite, and the viewer only under a condition')
    problem(t, await api.call('GET', `/v1/orgs/${orgId}/access?action=everything`), 400, 'http.validation')

    const listed = await api.call('GET', `/v1/orgs/${orgId}/roles`)
    t.match(listed.json().items.find((r: { roleId: string }) => r.roleId === roleId), { name: 'Recruiter', builtIn: false, holders: [viewer.userId] })
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
      { name: 'clerks invite with MFA', action: 'member:invite', resource: { type: 'organization' }, context: { mfa: true }, expect: 'allow' },
      { name: 'not without', action: 'member:invite', resource: { type: 'organization' }, context: { mfa: false }, expect: 'deny' },
      { name: 'a wrong expectation', action: 'audit:export', resource: { type: 'organization' }, expect: 'allow' },
      { name: 'viewers read members', principal: { id: 'v', roles: ['viewer'] }, action: 'member:read', resource: { type: 'organization' }, expect: 'allow' }
    ]
    const ran = await api.call('POST', `/v1/orgs/${orgId}/roles/${roleId}/test`, { body: { cases }, headers: { 'x-consistent-with': created.json().position } })
    t.equal(ran.statusCode, 200, ran.body)
    t.match(ran.json(), { passed: 3, failed: 1 })
    t.match(ran.json().results[2], { name: 'a wrong expectation', passed: false, got: 'deny', explanation: { reason: 'no_matching_grant' } })
    problem(t, await api.call('POST', `/v1/orgs/${orgId}/roles/${roleId}/test`, { body: { cases: [{ action: 'x', resource: {}, expect: 'maybe' }] } }), 400, 'http.validation')
  })
})
