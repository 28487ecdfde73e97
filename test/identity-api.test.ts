/**
 * The identity HTTP API end to end, on every database driver: sign-up,
 * login, sessions and tokens; organizations and members with built-in role
 * checks; read-your-writes; Idempotency-Key; platform administration.
 */
import { Writable } from 'node:stream'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { loadConfig } from '../src/config.ts'
import { buildApp } from '../src/http/app.ts'
import { REDACT_PATHS } from '../src/logger.ts'
import { openRuntime } from '../src/runtime.ts'
import { formatPosition } from '../src/eventstore/position.ts'
import { userStreamId } from '../src/domain/identity/user.ts'
import { drivers, forEachDatabase, noteSkippedServer, openTestDatabase } from './helpers/databases.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { problem, register } from './helpers/http.ts'
import { joinOrg } from './helpers/invitations.ts'
import { settled } from './helpers/assertions.ts'

/**
 * One application a driver for the cases that need no setting of their own, each with addresses of its own. Their logins
 * all come from one address, so its rate limit is raised; the limit's own case has an application of its own.
 */
const shared = new Map<string, Promise<TestApp>>()

async function withSharedApp (test: Test, fn: (test: Test, api: TestApp) => Promise<void>): Promise<void> {
  noteSkippedServer(test)
  for (const driver of drivers()) {
    await test.test(driver, async (test) => {
      let api = shared.get(driver)
      if (api === undefined) {
        api = (async () => {
          const db = await openTestDatabase(driver)
          t.teardown(db.dispose)
          return openTestApp(t, db.sql, { LOGIN_RATE_LIMIT_PER_MINUTE: '10000' })
        })()
        shared.set(driver, api)
      }
      await fn(test, await api)
    })
  }
}

t.test('sign-up, login, session and logout', async (t) => {
  await withSharedApp(t, async (t, api) => {
    const signedUp = await register(api, 'Ada@Example.com')
    t.match(signedUp, { userId: /^usr_/, token: /^ll_[a-z2-7]{16}_/ })

    problem(t, await api.call('POST', '/v1/auth/register', {
      token: null, body: { email: 'ada@example.COM', password: 'another password', displayName: 'x' }
    }), 409, 'identity.email_taken')
    problem(t, await api.call('POST', '/v1/auth/login', {
      token: null, body: { email: 'ada@example.com', password: 'wrong password!' }
    }), 401, 'auth.invalid_credentials')
    problem(t, await api.call('POST', '/v1/auth/login', {
      token: null, body: { email: 'nobody@example.com', password: 'wrong password!' }
    }), 401, 'auth.invalid_credentials')

    const login = await api.call('POST', '/v1/auth/login',
      { token: null, body: { email: 'ADA@example.com', password: 'correct horse battery' } })
    t.equal(login.statusCode, 200, login.body)
    const { token, expiresAt } = login.json()
    const hours = (Date.parse(expiresAt) - Date.now()) / 3_600_000
    t.ok(hours > 11.9 && hours <= 12, 'a session lasts SESSION_TTL_HOURS (12 by default)')

    const session = await api.call('GET', '/v1/session', { token })
    t.equal(session.statusCode, 200)
    t.match(session.json(), {
      user: { userId: signedUp.userId, email: 'ada@example.com', platformAdmin: false },
      token: { kind: 'session' }, memberships: [], impersonation: null, act: null
    })

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
    const attempt = (email: string, ip: string) =>
      api.app.inject({ method: 'POST', url: '/v1/auth/login', remoteAddress: ip, payload: { email, password: 'not the password' } })
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
  await withSharedApp(t, async (t, api) => {
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
  await withSharedApp(t, async (t, api) => {
    const created = (await api.call('POST', '/v1/tokens', { body: { name: 'short', expiresInDays: 1 } })).json()
    const directory = api.runtime.identity.directory
    t.ok(await directory.authenticate(created.token, Date.now() + 86_400_000 - 60_000), 'valid a minute before expiry')
    t.equal(await directory.authenticate(created.token, Date.now() + 86_400_000 + 60_000), undefined, 'refused a minute after')
  })
})

t.test('organizations: create, read your write, rename, settings, plan by owners only', async (t) => {
  await withSharedApp(t, async (t, api) => {
    const created = await api.call('POST', '/v1/orgs', { body: { name: 'Northwind', plan: 'pro' } })
    t.equal(created.statusCode, 201, created.body)
    const { orgId, position } = created.json()
    const read = await api.call('GET', `/v1/orgs/${orgId}`, { headers: { 'x-consistent-with': position } })
    t.equal(read.statusCode, 200, read.body)
    t.match(read.json(), { orgId, name: 'Northwind', plan: 'pro', memberCount: 1, roles: ['owner'], settings: {} })

    const renamed = await api.call('PATCH', `/v1/orgs/${orgId}`,
      { body: { name: 'Northwind Traders', settings: { locale: 'fr-FR', seats: 12 } } })
    t.equal(renamed.statusCode, 200, renamed.body)
    const afterRename = (await api.call('GET', `/v1/orgs/${orgId}`, { headers: { 'x-consistent-with': renamed.json().position } })).json()
    t.match(afterRename, { name: 'Northwind Traders', settings: { locale: 'fr-FR', seats: 12 } })
    t.same((await api.call('PATCH', `/v1/orgs/${orgId}`, { body: { name: 'Northwind Traders' } })).json(), { position: null },
      'no change, no event')
    problem(t, await api.call('PATCH', `/v1/orgs/${orgId}`, { body: {} }), 400, 'http.validation')

    const admin = await register(api, 'admin@northwind.example')
    const added = await joinOrg(api, orgId, admin, ['admin'])
    t.match(added, { orgId, userId: admin.userId, roles: ['admin'] })
    problem(t, await api.call('PUT', `/v1/orgs/${orgId}/plan`, { token: admin.token, body: { plan: 'enterprise' } }), 403, 'auth.forbidden')
    const plan = await api.call('PUT', `/v1/orgs/${orgId}/plan`, { body: { plan: 'enterprise' } })
    t.equal(plan.statusCode, 200)
    t.equal((await api.call('GET', `/v1/orgs/${orgId}`, {
      token: admin.token, headers: { 'x-consistent-with': plan.json().position }
    })).json().plan, 'enterprise')
  })
})

t.test('X-Consistent-With: malformed is 400, unreachable is 504', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql, { CONSISTENCY_TIMEOUT_MS: '300' })
    problem(t, await api.call('GET', '/v1/session', { headers: { 'x-consistent-with': 'yesterday' } }),
      400, 'http.invalid_consistency_position')
    const head = await api.runtime.store.headPosition()
    // No log gets here: the largest position the header accepts (xid8 and bigint both fit below it).
    const future = formatPosition({ major: 2n ** 63n - 1n, minor: 2n ** 63n - 1n })
    const timeout = await api.call('GET', '/v1/session', { headers: { 'x-consistent-with': future } })
    if (timeout.statusCode !== 504) t.comment(`projections: ${JSON.stringify(api.runtime.runner.status(),
      (_, v: unknown) => typeof v === 'bigint' ? String(v) : v)}`)
    problem(t, timeout, 504, 'projection.timeout')
    t.equal(timeout.json().position, future)
    // A position the read models have reached answers at once (waited for first: a loaded machine can take more than 300 ms).
    await api.runtime.runner.waitFor(head, 10_000)
    t.equal((await api.call('GET', '/v1/session', { headers: { 'x-consistent-with': formatPosition(head) } })).statusCode, 200)
  })
})

t.test('changing a password needs the current one and ends the other sessions', async (t) => {
  await withSharedApp(t, async (t, api) => {
    const user = await register(api, 'rotate@a.example')
    const login = async (password: string) =>
      api.call('POST', '/v1/auth/login', { token: null, body: { email: 'rotate@a.example', password } })
    const other = (await login('correct horse battery')).json()
    const apiToken = (await api.call('POST', '/v1/tokens', { token: user.token, body: { name: 'script' } })).json()
    await settled(api.runtime)

    problem(t, await api.call('PUT', '/v1/me/password', {
      token: user.token, body: { currentPassword: 'not it at all', newPassword: 'a brand new secret' }
    }), 401, 'auth.invalid_credentials')
    problem(t, await api.call('PUT', '/v1/me/password', {
      token: user.token, body: { currentPassword: 'correct horse battery', newPassword: 'short' }
    }), 400, 'http.validation')
    const changed = await api.call('PUT', '/v1/me/password', {
      token: user.token, body: { currentPassword: 'correct horse battery', newPassword: 'a brand new secret' }
    })
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
  const runtime = await openRuntime(
    loadConfig({ NODE_ENV: 'test' }),
    pino({ level: 'trace', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink),
    { sql: db.sql, runProjections: true }
  )
  t.teardown(() => runtime.close())
  const app = await buildApp(runtime)
  t.teardown(() => app.close())
  const signup = await app.inject({
    method: 'POST', url: '/v1/auth/register', payload: { email: 'quiet@a.example', password: 'a very secret phrase', displayName: 'Q' }
  })
  const { token } = signup.json()
  const created = await app.inject({
    method: 'POST',
    url: '/v1/tokens',
    headers: { authorization: `Bearer ${token}`, 'idempotency-key': 'key-that-is-secret' },
    payload: { name: 'n' }
  })
  await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'quiet@a.example', password: 'wrong but secret too' } })
  await app.inject({ url: '/v1/session', headers: { authorization: `Bearer ${created.json().token}` } })
  const log = lines.join('')
  t.ok(lines.length > 5, 'requests were logged')
  for (const secret of ['a very secret phrase', 'wrong but secret too', token.slice(3), created.json().token.slice(3),
    'key-that-is-secret', 'scrypt$']) {
    t.notOk(log.includes(secret), `${secret.slice(0, 12)}… is not in the logs`)
  }
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
