/**
 * The dashboard's cookie session over real HTTP: sign-in sets an HttpOnly,
 * SameSite=Strict cookie (Secure over https) and never shows the
 * token; a request made with the cookie must come from this origin and, when
 * it changes state, carry the CSRF token; bearer tokens work as before;
 * sign-out revokes the session and clears the cookies.
 */
import { generateKeyPairSync } from 'node:crypto'
import t, { type Test } from 'tap'
import { addMember } from '../src/application/identity/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { csrfTokenOf } from '../src/http/plugins/csrf.ts'
import { openTestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { register } from './helpers/http.ts'

const PASSWORD = 'correct horse battery'

interface Answer { status: number, type: string, body: Record<string, unknown>, cookies: string[], cacheControl: string | null }

t.test('the session cookie, its CSRF checks and bearer tokens, over HTTP', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const origin = await api.app.listen({ host: '127.0.0.1', port: 0 })
    const send = async (method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<Answer> => {
      const response = await fetch(origin + path, {
        method, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) })
      })
      const text = await response.text()
      return {
        status: response.status, type: response.headers.get('content-type') ?? '', body: text === '' ? {} : JSON.parse(text),
        cookies: response.headers.getSetCookie(), cacheControl: response.headers.get('cache-control')
      }
    }
    const refused = (t: Test, answer: Answer, status: number, code: string, what: string) => {
      t.equal(answer.status, status, `${what}: ${status}`)
      t.match(answer.type, /^application\/problem\+json/, `${what}: problem+json`)
      t.equal(answer.body.code, code, `${what}: ${code}`)
    }
    const { token: bearer } = await register(api, 'ada@cookie.example', PASSWORD)

    const signIn = await send('POST', '/v1/auth/session', { origin }, { email: 'ada@cookie.example', password: PASSWORD })
    t.equal(signIn.status, 200, 'signed in')
    t.equal(signIn.cacheControl, 'no-store', 'an answer that sets the session is never cached')
    t.notOk('token' in signIn.body, 'the token is not in the body')
    const [session, csrfCookie] = signIn.cookies
    t.match(session, /^ll_session=ll_[^;]+; Path=\/; SameSite=Strict; HttpOnly; Expires=/, 'the session cookie is HttpOnly and SameSite=Strict')
    t.notMatch(session, /Secure/, 'not Secure on 127.0.0.1 (plain HTTP on the developer\'s machine)')
    t.notMatch(csrfCookie, /HttpOnly/, 'the CSRF cookie is readable by the page')
    const cookie = `${session!.split(';')[0]}; ${csrfCookie!.split(';')[0]}`
    const csrf = csrfCookie!.split(';')[0]!.split('=')[1]!
    t.equal(csrf, csrfTokenOf(session!.split(';')[0]!.slice('ll_session='.length)), 'the CSRF cookie is the session\'s token hash')

    await t.test('reads need only the cookie; writes need the CSRF token too', async (t) => {
      const me = await send('GET', '/v1/session', { cookie })
      t.equal(me.status, 200)
      t.equal((me.body.user as { email: string }).email, 'ada@cookie.example', 'the cookie authenticates')
      refused(t, await send('POST', '/v1/orgs', { cookie }, { name: 'No header' }), 403, 'auth.csrf_failed', 'no X-CSRF-Token')
      refused(t, await send('POST', '/v1/orgs', { cookie, 'x-csrf-token': csrfTokenOf('another') }, { name: 'Wrong' }),
        403, 'auth.csrf_failed', 'another session\'s CSRF token')
      const created = await send('POST', '/v1/orgs', { cookie, 'x-csrf-token': csrf, origin }, { name: 'Cookie Org' })
      t.equal(created.status, 201, 'with the CSRF token the write goes through')
      t.same((await send('GET', '/v1/orgs', { cookie, authorization: 'Bearer ll_nope_nope' })).status, 401,
        'an Authorization header wins over the cookie, even a bad one')
    })

    await t.test('cross-origin requests with the cookie are refused, reads included', async (t) => {
      refused(t, await send('GET', '/v1/session', { cookie, origin: 'https://evil.example' }), 403, 'auth.cross_origin', 'another Origin')
      refused(t, await send('POST', '/v1/orgs', { cookie, 'x-csrf-token': csrf, origin: 'https://evil.example' }, { name: 'X' }),
        403, 'auth.cross_origin', 'another Origin, even with the CSRF token')
      refused(t, await send('GET', '/v1/session', { cookie, 'sec-fetch-site': 'cross-site' }), 403, 'auth.cross_origin',
        'Sec-Fetch-Site: cross-site')
      refused(t, await send('GET', '/v1/session', { cookie, 'sec-fetch-site': 'same-site' }), 403, 'auth.cross_origin',
        'Sec-Fetch-Site: same-site (a sibling subdomain)')
      refused(t, await send('GET', '/v1/session', { cookie, origin: origin.replace('http:', 'https:'), 'x-forwarded-proto': 'https' }),
        403, 'auth.cross_origin', 'X-Forwarded-Proto from a proxy that is not trusted (TRUST_PROXY unset) changes nothing')
      refused(t, await send('POST', '/v1/auth/session', { origin: 'https://evil.example' },
        { email: 'ada@cookie.example', password: PASSWORD }), 403, 'auth.cross_origin', 'a sign-in posted from another site')
    })

    await t.test('an invitation is accepted with the cookie, under its CSRF checks; an ended cookie counts as signed out', async (t) => {
      const { token: owner, userId: ownerId } = await register(api, 'owen@cookie.example', PASSWORD)
      const org = await api.call('POST', '/v1/orgs', { token: owner, body: { name: 'Inviting Co' } })
      const invite = async (email: string): Promise<string> => {
        const created = await api.call('POST', `/v1/orgs/${org.json().orgId}/invitations`,
          { token: owner, body: { email, roles: ['viewer'] } })
        if (created.statusCode !== 201) throw new Error(`invite: ${created.body}`)
        return (created.json() as { token: string }).token
      }
      const adaInvite = await invite('ada@cookie.example')
      refused(t, await send('POST', `/v1/invitations/${adaInvite}/accept`, { cookie }), 403, 'auth.csrf_failed',
        'the cookie without X-CSRF-Token')
      refused(t, await send('POST', `/v1/invitations/${adaInvite}/accept`, { cookie, 'x-csrf-token': csrf, origin: 'https://evil.example' }),
        403, 'auth.cross_origin', 'the cookie from another origin')
      const accepted = await send('POST', `/v1/invitations/${adaInvite}/accept`, { cookie, 'x-csrf-token': csrf, origin })
      t.equal(accepted.status, 200, 'the cookie\'s user accepts as themselves')
      t.same(accepted.body.roles, ['viewer'], 'with the invited role')
      t.not(accepted.body.userId, ownerId, 'as the cookie\'s user')
      // A browser may still hold a cookie whose session ended; creating the invited account works all the same.
      const stale = 'll_session=ll_00000000-0000-0000-0000-000000000000_deadbeef'
      const fresh = await send('POST', `/v1/invitations/${await invite('neo@cookie.example')}/accept`,
        { cookie: stale, 'x-csrf-token': csrfTokenOf(stale.slice('ll_session='.length)), origin },
        { displayName: 'Neo', password: PASSWORD })
      t.equal(fresh.status, 201, `an ended cookie counts as signed out: a new account (${JSON.stringify(fresh.body)})`)
      t.equal(fresh.type.startsWith('application/json'), true, 'a plain answer')
      refused(t, await send('POST', `/v1/invitations/${await invite('nobody@cookie.example')}/accept`,
        { cookie: stale, 'x-csrf-token': csrfTokenOf(stale.slice('ll_session='.length)), origin }),
      401, 'auth.unauthenticated', 'an ended cookie and no body')
    })

    await t.test('bearer tokens are unchanged: no CSRF token, any Origin', async (t) => {
      const created = await send('POST', '/v1/orgs', { authorization: `Bearer ${bearer}`, origin: 'https://tool.example' }, { name: 'B' })
      t.equal(created.status, 201, 'a bearer write needs no CSRF token')
      refused(t, await send('POST', '/v1/orgs', {}, { name: 'Nobody' }), 401, 'auth.unauthenticated', 'neither bearer nor cookie')
      refused(t, await send('DELETE', '/v1/auth/session', { authorization: `Bearer ${bearer}` }), 401, 'auth.unauthenticated',
        'a bearer token signs out with POST /v1/auth/logout, not the cookie route')
    })

    await t.test('a wrong password is refused like the login route, and sets no cookie', async (t) => {
      const wrong = await send('POST', '/v1/auth/session', { origin }, { email: 'ada@cookie.example', password: 'not the password' })
      t.equal(wrong.status, 401)
      t.same(wrong.cookies, [], 'no cookie')
      refused(t, await send('POST', '/v1/auth/session', { origin }, { email: 'not an address', password: 'x' }), 400, 'http.validation',
        'a malformed address')
    })

    await t.test('signing out needs the CSRF token, revokes the session and clears both cookies', async (t) => {
      refused(t, await send('DELETE', '/v1/auth/session', { cookie }), 403, 'auth.csrf_failed', 'sign-out without the CSRF token')
      const out = await send('DELETE', '/v1/auth/session', { cookie, 'x-csrf-token': csrf })
      t.equal(out.status, 200)
      t.same(out.body, { signedOut: true })
      t.equal(out.cacheControl, 'no-store', 'nor one that clears it')
      t.equal(out.cookies.length, 2)
      for (const cleared of out.cookies) t.match(cleared, /^ll_(session|csrf)=; .*Max-Age=0/, 'cleared')
      refused(t, await send('GET', '/v1/session', { cookie }), 401, 'auth.unauthenticated', 'the old cookie no longer authenticates')
      const again = await send('DELETE', '/v1/auth/session', { cookie, 'x-csrf-token': csrf })
      t.same([again.status, again.body], [200, { signedOut: false }], 'a dead cookie is cleared all the same')
    })
  })
})

t.test('Secure follows the request\'s scheme, not its Host: __Host- names over https, plain names over plain HTTP', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql, { TRUST_PROXY: '1' })
    await register(api, 'grace@cookie.example', PASSWORD)
    const origin = await api.app.listen({ host: '127.0.0.1', port: 0 })
    const signIn = async (headers: Record<string, string>) => (await fetch(origin + '/v1/auth/session', {
      method: 'POST', headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ email: 'grace@cookie.example', password: PASSWORD })
    })).headers.getSetCookie()
    const plain = await signIn({ host: 'ledger.example' })
    t.equal(plain.length, 2)
    for (const cookie of plain) t.match(cookie, /^ll_(session|csrf)=[^;]+; Path=\/; SameSite=Strict; (?!.*Secure)/, 'plain HTTP: plain name, not Secure')
    // Host stays 127.0.0.1:<port>, the address once treated as "local, so not Secure".
    const proxied = await signIn({ 'x-forwarded-proto': 'https', origin: origin.replace(/^http:/, 'https:') })
    t.equal(proxied.length, 2)
    for (const cookie of proxied) {
      t.match(cookie, /^__Host-ll_(session|csrf)=[^;]+; Path=\/; SameSite=Strict; .*; Secure$/,
        'https through a trusted proxy, even with Host: 127.0.0.1: __Host- name and Secure')
      t.notMatch(cookie, /Domain=/i, 'no Domain (required by __Host-)')
    }
  })
})

t.test('in production the cookies are Secure with __Host- names even on plain HTTP', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql, {
      NODE_ENV: 'production',
      AUDIT_SIGNING_KEY: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      METRICS_TOKEN: 'a-metrics-token-of-32-characters'
    })
    await register(api, 'prod@cookie.example', PASSWORD)
    const origin = await api.app.listen({ host: '127.0.0.1', port: 0 })
    const cookies = (await fetch(origin + '/v1/auth/session', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'prod@cookie.example', password: PASSWORD })
    })).headers.getSetCookie()
    t.equal(cookies.length, 2)
    for (const cookie of cookies) t.match(cookie, /^__Host-ll_(session|csrf)=.*; Secure$/, 'Secure, __Host- name')
  })
})

t.test('a request carrying the session or CSRF cookie twice (a tossed cookie) is refused', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    await register(api, 'toss@cookie.example', PASSWORD)
    const origin = await api.app.listen({ host: '127.0.0.1', port: 0 })
    const signIn = await fetch(origin + '/v1/auth/session', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'toss@cookie.example', password: PASSWORD })
    })
    const [session, csrf] = signIn.headers.getSetCookie().map((c) => c.split(';')[0]!)
    const get = async (cookie: string) => {
      const response = await fetch(origin + '/v1/session', { headers: { cookie } })
      return { status: response.status, type: response.headers.get('content-type') ?? '', body: await response.json() as { code: string } }
    }
    t.equal((await get(`${session}; ${csrf}`)).status, 200, 'one of each: signed in')
    for (const [cookie, what] of [
      [`ll_session=ll_attacker_token; ${session}; ${csrf}`, 'two ll_session'],
      [`${session}; __Host-${session}; ${csrf}`, 'll_session and __Host-ll_session'],
      [`${session}; ll_csrf=other; ${csrf}`, 'two ll_csrf']
    ] as const) {
      const answer = await get(cookie)
      t.same([answer.status, answer.body.code], [403, 'auth.cookie_conflict'], what)
      t.match(answer.type, /^application\/problem\+json/, `${what}: problem+json`)
    }
  })
})

t.test('login, sign-up and the dashboard sign-in share one rate limit', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql, { LOGIN_RATE_LIMIT_PER_MINUTE: '3' })
    const origin = await api.app.listen({ host: '127.0.0.1', port: 0 })
    const post = async (path: string, body: unknown) => {
      const response = await fetch(origin + path, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body)
      })
      return { status: response.status, code: (await response.json() as { code?: string }).code }
    }
    const attempt = { email: 'limit@cookie.example', password: 'not the password' }
    t.equal((await post('/v1/auth/register', { ...attempt, password: PASSWORD, displayName: 'Limit' })).status, 201, 'sign-up: 1')
    t.equal((await post('/v1/auth/login', attempt)).status, 401, 'login: 2')
    t.equal((await post('/v1/auth/session', attempt)).status, 401, 'dashboard sign-in: 3')
    const limited = { status: 429, code: 'http.rate_limited' }
    t.same(await post('/v1/auth/session', attempt), limited, 'the fourth, on the dashboard route, is limited')
    t.same(await post('/v1/auth/login', attempt), limited, 'and so is login')
  })
})

t.test('behind a trusted TLS proxy the page\'s https origin is the server\'s own, without the forwarded scheme not', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql, { TRUST_PROXY: '1' })
    await register(api, 'proxy@cookie.example', PASSWORD)
    const signIn = (headers: Record<string, string>) => api.app.inject({
      method: 'POST', url: '/v1/auth/session', headers, payload: { email: 'proxy@cookie.example', password: PASSWORD }
    })
    const proxied = { host: 'ledger.example', 'x-forwarded-proto': 'https', origin: 'https://ledger.example' }
    t.equal((await signIn(proxied)).statusCode, 200, 'trusted: https://ledger.example is the server\'s own origin')
    const untrusted = await signIn({ ...proxied, 'x-forwarded-for': '203.0.113.9, 198.51.100.7' })
    t.equal(untrusted.statusCode, 200, 'one trusted hop: the nearest proxy\'s scheme counts')
    const plain = await signIn({ host: 'ledger.example', origin: 'https://ledger.example' })
    t.same([plain.statusCode, plain.json().code], [403, 'auth.cross_origin'], 'without X-Forwarded-Proto, https is another origin')
  })
})

t.test('signing out with the cookie of an impersonation that has ended clears the cookies and revokes nothing', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const mia = await register(api, 'mia@cookie.example', PASSWORD)
    await addMember(api.runtime.identity, systemCommand('test'), orgId, { userId: mia.userId, roles: ['member'] })
    const started = await api.call('POST', `/v1/orgs/${orgId}/impersonations`,
      { body: { targetUserId: mia.userId, reason: 'customer asked for help with their settings (SUP-2)' } })
    t.equal(started.statusCode, 201, started.body)
    const { token } = started.json() as { token: string }
    t.equal((await api.call('POST', '/v1/impersonation/stop', { token })).statusCode, 200, 'the impersonation is stopped')
    const origin = await api.app.listen({ host: '127.0.0.1', port: 0 })
    const out = await fetch(origin + '/v1/auth/session', {
      method: 'DELETE', headers: { cookie: `ll_session=${token}; ll_csrf=${csrfTokenOf(token)}`, 'x-csrf-token': csrfTokenOf(token) }
    })
    t.equal(out.status, 200, 'not the 401 impersonation.ended a signed-in route answers')
    t.same(await out.json(), { signedOut: false }, 'nothing was revoked: the session had already ended')
    const cleared = out.headers.getSetCookie()
    t.equal(cleared.length, 2)
    for (const cookie of cleared) t.match(cookie, /^ll_(session|csrf)=; .*Max-Age=0/, 'cleared')
    t.equal((await api.call('GET', '/v1/session', { token: mia.token })).statusCode, 200, 'the member\'s own session is untouched')
  })
})
