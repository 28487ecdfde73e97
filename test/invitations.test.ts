/**
 * Invitations end to end, on every database driver: create (the token shown
 * once), list in pages with a status filter, accept as the signed-in user
 * with the invited address or as a new user registering through the token,
 * revoke, expiry, concurrent accepts, the inviter's right checked again at
 * acceptance, and POST …/members, which now invites.
 */
import { Writable } from 'node:stream'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import { bootstrap } from '../src/application/identity/commands.ts'
import { createInvitation, invitationServices } from '../src/application/identity/invitations.ts'
import { hashToken } from '../src/application/identity/secrets.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand, type CommandMetadata } from '../src/domain/envelope.ts'
import { orgStreamId } from '../src/domain/identity/organization.ts'
import { buildApp } from '../src/http/app.ts'
import { createLogger } from '../src/logger.ts'
import { openRuntime } from '../src/runtime.ts'
import type { SqlClient } from '../src/sql/client.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { settled } from './helpers/assertions.ts'
import { forEachDatabase, scaleDriver } from './helpers/databases.ts'
import { problem, register } from './helpers/http.ts'

const DAY = 86_400_000
/** The secret part of a token, whole (`llinv_<16 characters>_<secret>`; the secret may itself contain `_`). */
const secretOf = (token: string): string => token.slice('llinv_'.length + 17)

interface Created { inviteId: string, token: string, email: string, roles: string[], expiresAt: string, position: string }

function helpers (api: TestApp) {
  const as = (userId: string, now?: Date): CommandMetadata =>
    ({ ...systemCommand('invitations-test', now), actor: { type: 'user', id: userId } })
  return {
    as,
    async invite (orgId: string, email: string, roles: string[], token = api.owner.token): Promise<Created> {
      const response = await api.call('POST', `/v1/orgs/${orgId}/invitations`, { token, body: { email, roles } })
      if (response.statusCode !== 201) throw new Error(`invite ${email}: ${response.statusCode} ${response.body}`)
      return response.json()
    },
    accept: (token: string, bearer: string | null, body?: unknown) =>
      api.call('POST', `/v1/invitations/${token}/accept`, { token: bearer, ...(body === undefined ? {} : { body }) }),
    async list (orgId: string, query = '', position?: string | null) {
      const response = await api.call('GET', `/v1/orgs/${orgId}/invitations${query}`, position == null ? {}
        : { headers: { 'x-consistent-with': position } })
      if (response.statusCode !== 200) throw new Error(`list: ${response.statusCode} ${response.body}`)
      return response.json() as { items: Array<Record<string, unknown> & { inviteId: string, status: string }>, nextCursor: string | null }
    },
    async orgEvents (orgId: string) {
      return (await api.runtime.store.readStream(orgStreamId(orgId)))
        .map((e) => ({ type: e.type, data: e.data as Record<string, unknown>, actor: e.metadata.actor, version: e.streamVersion }))
    }
  }
}

async function world (t: Test, sql: SqlClient) {
  const api = await openTestApp(t, sql, { LOGIN_RATE_LIMIT_PER_MINUTE: '1000' })
  return { api, orgId: api.owner.orgId, ...helpers(api) }
}

t.test('invitations over HTTP', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await world(t, sql)
    const { api, orgId } = w

    await t.test('create answers the token once; the list shows the invitation without it', async (t) => {
      const empty = await w.list(orgId)
      t.same(empty, { items: [], nextCursor: null }, 'no invitations yet')
      const before = Date.now()
      const created = await w.invite(orgId, 'New.Person@A.example', ['member'])
      t.match(created, { inviteId: /^inv_[a-z2-7]{16}$/, token: /^llinv_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/, email: 'new.person@a.example', roles: ['member'], status: 'pending' })
      t.equal(created.token.split('_')[1], created.inviteId.slice(4), 'the token names its invitation')
      const lasts = Date.parse(created.expiresAt) - before
      t.ok(lasts >= 7 * DAY && lasts <= 7 * DAY + (Date.now() - before), 'it expires after 7 days (INVITATION_TTL_HOURS)')
      const listed = await w.list(orgId, '', created.position)
      t.equal(listed.items.length, 1)
      t.match(listed.items[0],
        { inviteId: created.inviteId, email: 'new.person@a.example', roles: ['member'], status: 'pending', invitedBy: api.owner.userId,
          endedAt: null })
      t.notMatch(JSON.stringify(listed), secretOf(created.token), 'the list never shows the token')
    })

    await t.test('the signed-in user with the invited address accepts, and joins with the invited roles in the same append', async (t) => {
      const joiner = await register(api, 'Joiner@a.example')
      const created = await w.invite(orgId, 'joiner@A.EXAMPLE', ['member', 'viewer'])
      const accepted = await w.accept(created.token, joiner.token)
      t.equal(accepted.statusCode, 200, accepted.body)
      t.match(accepted.json(), { orgId, userId: joiner.userId, roles: ['member', 'viewer'], position: /^\d+\.\d+$/ })
      const session = await api.call('GET', '/v1/session',
        { token: joiner.token, headers: { 'x-consistent-with': accepted.json().position } })
      t.match(session.json().memberships, [{ orgId, roles: ['member', 'viewer'] }])
      const events = await w.orgEvents(orgId)
      const at = events.findIndex((e) => e.type === 'org.invitation.accepted' && e.data.inviteId === created.inviteId)
      t.match(events.slice(at, at + 2), [
        { type: 'org.invitation.accepted', data: { inviteId: created.inviteId, userId: joiner.userId },
          actor: { type: 'user', id: joiner.userId } },
        { type: 'org.member.added', data: { userId: joiner.userId, roles: ['member', 'viewer'] } }
      ], 'accepted, then added, back to back in the organization\'s stream')
      problem(t, await w.accept(created.token, joiner.token), 409, 'invitation.already_accepted')
      const listed = await w.list(orgId, '?status=accepted', accepted.json().position)
      t.match(listed.items, [{ inviteId: created.inviteId, status: 'accepted', endedBy: joiner.userId }])
    })

    await t.test('someone without an account registers through the token and is signed in', async (t) => {
      const created = await w.invite(orgId, 'fresh@a.example', ['viewer'])
      problem(t, await w.accept(created.token, null), 401, 'auth.unauthenticated')
      problem(t, await w.accept(created.token, null, { displayName: 'Fresh', password: 'short' }), 400, 'http.validation')
      const accepted = await w.accept(created.token, null, { displayName: 'Fresh', password: 'a long enough password' })
      t.equal(accepted.statusCode, 201, accepted.body)
      const body = accepted.json()
      t.match(body, { orgId, userId: /^usr_/, roles: ['viewer'], token: /^ll_/, expiresAt: /Z$/ })
      const session = await api.call('GET', '/v1/session', { token: body.token, headers: { 'x-consistent-with': body.position } })
      t.match(session.json(),
        { user: { userId: body.userId, email: 'fresh@a.example', displayName: 'Fresh' }, memberships: [{ orgId, roles: ['viewer'] }] })
      const login = await api.call('POST', '/v1/auth/login',
        { token: null, body: { email: 'fresh@a.example', password: 'a long enough password' } })
      t.equal(login.statusCode, 200, 'the new account signs in with its password')
      problem(t, await w.accept(created.token, null, { displayName: 'Again', password: 'a long enough password' }), 409,
        'invitation.already_accepted')
      problem(t, await w.accept(created.token, body.token, { displayName: 'Fresh', password: 'a long enough password' }), 400,
        'validation.invalid_input')
    })

    await t.test('another address is refused and the invitation stays pending; ' +
      'an address with an account cannot register again', async (t) => {
      const stranger = await register(api, 'stranger@a.example')
      const created = await w.invite(orgId, 'meant@a.example', ['member'])
      problem(t, await w.accept(created.token, stranger.token), 403, 'invitation.wrong_address')
      t.match((await w.list(orgId, '?status=pending')).items.find((i) => i.inviteId === created.inviteId), { status: 'pending' })
      const forStranger = await w.invite(orgId, 'stranger@a.example', ['member'])
      problem(t, await w.accept(forStranger.token, null, { displayName: 'Other', password: 'a long enough password' }), 409,
        'identity.email_taken')
      t.equal((await w.accept(forStranger.token, stranger.token)).statusCode, 200, 'signed in with that address, it works')
    })

    await t.test('an unknown, malformed or forged token is not found', async (t) => {
      const created = await w.invite(orgId, 'forged@a.example', ['member'])
      const forged = `${created.token.slice(0, -4)}AAAA`
      const joiner = await register(api, 'forged@a.example')
      for (const token of [forged, 'llinv_aaaaaaaaaaaaaaaa_' + 'A'.repeat(43), 'nonsense', created.token.toUpperCase()]) {
        problem(t, await w.accept(token, joiner.token), 404, 'invitation.not_found')
        problem(t, await w.accept(token, null, { displayName: 'X', password: 'a long enough password' }), 404, 'invitation.not_found')
      }
      t.equal((await w.accept(created.token, joiner.token)).statusCode, 200, 'the real token still works')
    })

    await t.test('an expired invitation answers 410; its expiry is recorded once, by the system', async (t) => {
      const services = invitationServices(api.runtime)
      const joiner = await register(api, 'late@a.example')
      const now = Date.now()
      const stale = await createInvitation(services, w.as(api.owner.userId, new Date(now - 7 * DAY - 1)), orgId,
        { email: 'late@a.example', roles: ['member'] })
      const fresh = await createInvitation(services, w.as(api.owner.userId, new Date(now - 7 * DAY + 60_000)), orgId,
        { email: 'late@a.example', roles: ['member'] })
      const listed = await w.list(orgId, '?status=expired', stale.position)
      t.ok(listed.items.some((i) => i.inviteId === stale.inviteId), 'past its time, it lists as expired before anyone uses it')
      t.notOk((await w.list(orgId, '?status=pending')).items.some((i) => i.inviteId === stale.inviteId), 'and not as pending')
      problem(t, await w.accept(stale.token, joiner.token), 410, 'invitation.expired')
      problem(t, await w.accept(stale.token, joiner.token), 410, 'invitation.expired')
      problem(t, await w.accept(stale.token, null, { displayName: 'Late', password: 'a long enough password' }), 410, 'invitation.expired')
      problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/invitations/${stale.inviteId}`), 410, 'invitation.expired')
      const expiries = (await w.orgEvents(orgId)).filter((e) => e.type === 'org.invitation.expired')
      t.match(expiries, [{ data: { inviteId: stale.inviteId }, actor: { type: 'system', id: 'invitations' } }],
        'one expiry event, however often it is used')
      t.equal((await w.accept(fresh.token, joiner.token)).statusCode, 200, 'a minute before its end, an invitation still works')
    })

    await t.test('a revoked invitation answers 410; revoking twice changes nothing; an accepted one is not revoked', async (t) => {
      const joiner = await register(api, 'revoked@a.example')
      const created = await w.invite(orgId, 'revoked@a.example', ['member'])
      const revoked = await api.call('DELETE', `/v1/orgs/${orgId}/invitations/${created.inviteId}`,
        { body: { reason: 'sent to the wrong team' } })
      t.equal(revoked.statusCode, 200, revoked.body)
      t.match(revoked.json(), { position: /^\d+\.\d+$/ })
      t.same((await api.call('DELETE', `/v1/orgs/${orgId}/invitations/${created.inviteId}`)).json(), { position: null },
        'again: nothing to do')
      problem(t, await w.accept(created.token, joiner.token), 410, 'invitation.revoked')
      problem(t, await w.accept(created.token, null, { displayName: 'R', password: 'a long enough password' }), 410, 'invitation.revoked')
      t.match((await w.list(orgId, '?status=revoked', revoked.json().position)).items,
        [{ inviteId: created.inviteId, status: 'revoked', endedBy: api.owner.userId, reason: 'sent to the wrong team' }])
      const other = await w.invite(orgId, 'revoked@a.example', ['member'])
      t.equal((await w.accept(other.token, joiner.token)).statusCode, 200)
      problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/invitations/${other.inviteId}`), 409, 'invitation.already_accepted')
      problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/invitations/inv_doesnotexist0000`), 404, 'invitation.not_found')
    })

    await t.test('10 concurrent accepts of one token: exactly one wins', async (t) => {
      const joiner = await register(api, 'racer@a.example')
      const created = await w.invite(orgId, 'racer@a.example', ['member'])
      const answers = await Promise.all(Array.from({ length: 10 }, () => w.accept(created.token, joiner.token)))
      t.same(answers.map((a) => a.statusCode).sort(), [200, ...Array(9).fill(409)], answers.map((a) => a.body.slice(0, 80)).join('\n'))
      t.ok(answers.filter((a) => a.statusCode === 409).every((a) => a.json().code === 'invitation.already_accepted'))
      const events = await w.orgEvents(orgId)
      t.equal(events.filter((e) => e.type === 'org.invitation.accepted' && e.data.inviteId === created.inviteId).length, 1,
        'one acceptance')
      t.equal(events.filter((e) => e.type === 'org.member.added' && e.data.userId === joiner.userId).length, 1, 'one membership')

      const open = await w.invite(orgId, 'newracer@a.example', ['viewer'])
      const registrations = await Promise.all(Array.from({ length: 10 }, (_, i) =>
        w.accept(open.token, null, { displayName: `Racer ${i}`, password: 'a long enough password' })))
      const won = registrations.filter((r) => r.statusCode === 201)
      t.equal(won.length, 1, registrations.map((r) => `${r.statusCode} ${r.body.slice(0, 80)}`).join('\n'))
      t.ok(registrations.filter((r) => r.statusCode !== 201).every((r) => r.statusCode === 409), 'the others are conflicts')
      const accepted = (await w.orgEvents(orgId)).filter((e) => e.type === 'org.invitation.accepted' && e.data.inviteId === open.inviteId)
      t.same(accepted.map((e) => e.data.userId), [won[0]!.json().userId], 'the winner is the member')
    })

    await t.test('the inviter\'s right is checked again at acceptance: lost, ' +
      'the accept is refused and the invitation stays pending', async (t) => {
      const inviter = await register(api, 'inviter@a.example')
      const joined = await w.accept((await w.invite(orgId, 'inviter@a.example', ['admin'])).token, inviter.token)
      t.equal(joined.statusCode, 200, joined.body)
      const invitee = await register(api, 'invitee@a.example')
      const created = await w.invite(orgId, 'invitee@a.example', ['admin'], inviter.token)
      const demote = async (): Promise<void> => {
        t.equal((await api.call('PUT', `/v1/orgs/${orgId}/members/${inviter.userId}/roles/viewer`)).statusCode, 200)
        t.equal((await api.call('DELETE', `/v1/orgs/${orgId}/members/${inviter.userId}/roles/admin`)).statusCode, 200)
      }
      await demote()
      problem(t, await w.accept(created.token, invitee.token), 403, 'rbac.escalation')
      const other = await w.invite(orgId, 'brandnew@a.example', ['admin'])
      t.equal((await w.accept(other.token, null, { displayName: 'B', password: 'a long enough password' })).statusCode, 201,
        'the owner\'s invitations are unaffected')
      t.match((await w.list(orgId, '?status=pending')).items.find((i) => i.inviteId === created.inviteId), { status: 'pending' },
        'still pending')
      t.equal((await api.call('PUT', `/v1/orgs/${orgId}/members/${inviter.userId}/roles/admin`)).statusCode, 200)
      t.equal((await w.accept(created.token, invitee.token)).statusCode, 200, 'with the right back, the same invitation works')

      const second = await w.invite(orgId, 'second@a.example', ['member'], inviter.token)
      t.equal((await api.call('DELETE', `/v1/orgs/${orgId}/members/${inviter.userId}`)).statusCode, 200, 'the inviter leaves')
      problem(t, await w.accept(second.token, null, { displayName: 'S', password: 'a long enough password' }), 403, 'rbac.escalation')
      const { rows } = await api.runtime.sql.query('SELECT 1 FROM users WHERE email = $1', ['second@a.example'])
      t.same(rows, [], 'refused before any account is created')
    })

    await t.test('another organization\'s invitation is not found there', async (t) => {
      const other = await api.newOwner('owner@b.example', 'Org B')
      const created = await w.invite(orgId, 'cross@a.example', ['member'])
      problem(t, await api.call('DELETE', `/v1/orgs/${other.orgId}/invitations/${created.inviteId}`, { token: other.token }), 404,
        'invitation.not_found')
      problem(t, await api.call('DELETE', `/v1/orgs/${orgId}/invitations/${created.inviteId}`, { token: other.token }), 404,
        'org.not_found')
      t.same((await w.list(other.orgId, '', created.position).catch(() => undefined)), undefined, 'A\'s owner cannot list B\'s')
      const asB = await api.call('GET', `/v1/orgs/${other.orgId}/invitations`,
        { token: other.token, headers: { 'x-consistent-with': created.position } })
      t.same(asB.json(), { items: [], nextCursor: null }, 'B lists none of A\'s')
    })

    await t.test('POST …/members invites instead of adding, ' +
      'and answers alike for an address with an account and one without', async (t) => {
      const existing = await register(api, 'exists@a.example')
      const answers = []
      for (const email of ['exists@a.example', 'nobody-here@a.example']) {
        const response = await api.call('POST', `/v1/orgs/${orgId}/members`, { body: { email, roles: ['member'] } })
        t.equal(response.statusCode, 202, response.body)
        t.equal(response.headers.link, `</v1/orgs/${orgId}/invitations>; rel="successor-version"`)
        answers.push(response)
      }
      const shape = (body: Record<string, unknown>): unknown =>
        Object.fromEntries(Object.entries(body).map(([k, v]) => [k, k === 'email' ? 'x' : typeof v]))
      t.same(shape(answers[0]!.json()), shape(answers[1]!.json()), 'the same answer, field for field')
      const invited = []
      for (const email of ['exists@a.example', 'nobody-here@a.example']) invited.push(await api.call('POST',
        `/v1/orgs/${orgId}/invitations`, { body: { email, roles: ['member'] } }))
      t.same(invited.map((r) => r.statusCode), [201, 201])
      t.same(shape(invited[0]!.json()), shape(invited[1]!.json()))
      t.notOk((await w.orgEvents(orgId)).some((e) => e.type === 'org.member.added' && e.data.userId === existing.userId),
        'the user was not added')
      problem(t, await api.call('POST', `/v1/orgs/${orgId}/members`, { body: { userId: existing.userId, roles: ['member'] } }), 400,
        'org.add_requires_invitation')
      problem(t, await api.call('POST', `/v1/orgs/${orgId}/members`, { body: { userId: 'usr_nobody', roles: ['member'] } }), 400,
        'org.add_requires_invitation')
      t.equal((await w.accept(answers[0]!.json().token, existing.token)).statusCode, 200, 'the user joins by accepting')
    })
  })
})

t.test('invitation lists page at 0, 1, the page size ±1 and a few hundred', async (t) => {
  await forEachDatabase(t, async (t, { driver, sql }) => {
    // 300 once, on the server when there is one; 20 elsewhere, past the sizes below.
    const total = driver === scaleDriver() ? 300 : 20
    const { api, ...w } = await world(t, sql)
    const { orgId, userId, token } = await api.newOwner('pages@example.com', 'Pages')
    const services = invitationServices(api.runtime)
    // Newest first; invitations made in the same millisecond, by id, descending.
    const made: Array<{ inviteId: string, at: number }> = []
    let created: string[] = []
    const create = async (n: number): Promise<string | null> => {
      let position: string | null = null
      for (let i = 0; i < n; i++) {
        const now = new Date()
        const invitation = await createInvitation(services, w.as(userId, now), orgId,
          { email: `p${made.length}@pages.example`, roles: ['viewer'] })
        made.push({ inviteId: invitation.inviteId, at: now.getTime() })
        position = invitation.position
      }
      created = [...made].sort((a, b) => b.at - a.at || (a.inviteId < b.inviteId ? 1 : -1)).map((m) => m.inviteId)
      return position
    }
    const page = async (query: string, position: string | null) => {
      const response = await api.call('GET', `/v1/orgs/${orgId}/invitations${query}`,
        { token: token, headers: position === null ? {} : { 'x-consistent-with': position } })
      t.equal(response.statusCode, 200, response.body)
      return response.json() as { items: Array<{ inviteId: string }>, nextCursor: string | null }
    }
    const walk = async (limit: number, position: string | null): Promise<string[]> => {
      const ids: string[] = []
      let cursor: string | null = null
      do {
        const next = await page(`?limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`, position)
        t.ok(next.items.length <= limit)
        ids.push(...next.items.map((i) => i.inviteId))
        cursor = next.nextCursor
      } while (cursor !== null)
      return ids
    }

    t.same(await page('?limit=1', null), { items: [], nextCursor: null }, '0: an empty page, no cursor')
    let position = await create(1)
    t.same((await page('?limit=1', position)).items.map((i) => i.inviteId), created, '1: one item')
    t.equal((await page('?limit=1', position)).nextCursor, null, '1 with a page of 1: no cursor')
    position = await create(4)
    const first = await page('?limit=4', position)
    t.same(first.items.map((i) => i.inviteId), created.slice(0, 4), '5 with a page of 4: the newest 4')
    t.not(first.nextCursor, null, 'and a cursor')
    const last = await page(`?limit=4&cursor=${first.nextCursor}`, position)
    t.same([last.items.map((i) => i.inviteId), last.nextCursor], [created.slice(4), null], 'then the last one, and no cursor')
    t.match(await page('?limit=5', position), { items: { length: 5 }, nextCursor: null }, 'a page of exactly 5: no cursor')
    t.match(await page('?limit=6', position), { items: { length: 5 }, nextCursor: null }, 'a page of 6: no cursor')

    position = await create(total - 5)
    t.same(await walk(50, position), created, `${total} in pages of 50: each once, newest first`)
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 200 }), async (limit) => {
      t.same(await walk(limit, position), created, `pages of ${limit}`)
    }), { numRuns: 6 })
    const revoked = created.slice(10, 13)
    for (const inviteId of revoked) position = (await api.call('DELETE', `/v1/orgs/${orgId}/invitations/${inviteId}`, { token: token }))
      .json().position
    t.same((await page('?status=revoked&limit=2', position)).items.map((i) => i.inviteId), revoked.slice(0, 2), 'a status filter pages too')
    t.equal((await page('?status=pending&limit=200', position)).items.length, Math.min(200, total - revoked.length))
    problem(t, await api.call('GET', `/v1/orgs/${orgId}/invitations?cursor=bm9wZQ`, { token: token }), 400, 'http.invalid_cursor')
    problem(t, await api.call('GET', `/v1/orgs/${orgId}/invitations?status=lost`, { token: token }), 400, 'http.validation')
    await settled(api.runtime)
  })
})


t.test('an invitation token is in no event, no audit row and no log line, even at trace level', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const lines: string[] = []
    const sink = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
    const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), createLogger({ logLevel: 'trace', env: 'test' }, sink),
      { sql, runProjections: true })
    t.teardown(() => runtime.close())
    const app = await buildApp(runtime)
    t.teardown(() => app.close())
    const owner = await bootstrap(runtime.identity, systemCommand('test'), { email: 'owner@quiet.example', orgName: 'Quiet' })
    const call = (method: 'GET' | 'POST' | 'DELETE', url: string, bearer: string | null, payload?: object) =>
      app.inject({ method, url, headers: bearer === null ? {} : { authorization: `Bearer ${bearer}` },
        ...(payload === undefined ? {} : { payload }) })
    const tokens: string[] = []
    const invite = async (email: string): Promise<{ token: string, inviteId: string }> => {
      const created = (await call('POST', `/v1/orgs/${owner.orgId}/invitations`, owner.token, { email, roles: ['member'] })).json()
      tokens.push(created.token)
      return created
    }
    const joiner = (await call('POST', '/v1/auth/register', null,
      { email: 'joiner@quiet.example', password: 'a long enough password', displayName: 'J' })).json()
    t.equal((await call('POST', `/v1/invitations/${(await invite('joiner@quiet.example')).token}/accept`, joiner.token)).statusCode, 200)
    t.equal((await call('POST', `/v1/invitations/${(await invite('new@quiet.example')).token}/accept`, null,
      { displayName: 'N', password: 'a long enough password' })).statusCode, 201)
    const revoked = await invite('gone@quiet.example')
    await call('DELETE', `/v1/orgs/${owner.orgId}/invitations/${revoked.inviteId}`, owner.token)
    t.equal((await call('POST', `/v1/invitations/${revoked.token}/accept`, joiner.token)).statusCode, 410)
    t.equal((await call('POST', `/v1/invitations/${(await invite('other@quiet.example')).token}/accept`, joiner.token)).statusCode, 403)
    await settled(runtime)

    const log = lines.join('')
    t.match(log, /\/v1\/invitations\/\[redacted\]\/accept/, 'accepts were logged, their path redacted')
    const { rows: events } = await sql.query<{ text: string }>('SELECT data::text || metadata::text AS text FROM events')
    const { rows: audit } = await sql.query<{ text: string }>('SELECT row_to_json(a)::text AS text FROM audit_events a')
    t.ok(audit.some((row) => row.text.includes('org.invitation.accepted')), 'the audit log has the acceptances')
    for (const token of tokens) {
      const secret = secretOf(token)
      t.notOk(log.includes(secret), 'not in the logs')
      t.notOk(events.some((row) => row.text.includes(secret)), 'not in the events')
      t.notOk(audit.some((row) => row.text.includes(secret) || row.text.includes(hashToken(token))),
        'neither it nor its hash in the audit log')
    }
  })
})
