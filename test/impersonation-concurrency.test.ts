/**
 * One impersonation at a time, under concurrency: 20 simultaneous starts by
 * one admin on one node give exactly one session (201) and 19 clear 409
 * `impersonation.already_active`; the same across two runtimes on one
 * PostgreSQL database (PGlite cannot be shared between runtimes: skipped
 * there, saying so). After the session ends — stopped, revoked, expired
 * (by the sweep), or ended by the re-check reactor — the next one starts.
 */
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { addMember, changeUser, registerUser } from '../src/application/identity/commands.ts'
import { requestImpersonation } from '../src/application/impersonation/commands.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import type { LedgerlineError } from '../src/domain/errors.ts'
import { buildApp } from '../src/http/app.ts'
import { openRuntime } from '../src/runtime.ts'
import { openSqlClient } from '../src/sql/client.ts'
import { settled } from './helpers/assertions.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { register } from './helpers/http.ts'

const REASON = 'customer asked for help with their settings (SUP-7)'
const CONCURRENT = 20

/** A start's answer, over HTTP or from the application function: its status and code, or the session. */
interface Outcome { status: number, code?: string, detail?: string, sessionId?: string, token?: string }

const fromHttp = async (response: Promise<{ statusCode: number, json: () => Record<string, unknown> }>): Promise<Outcome> => {
  const r = await response
  const body = r.json()
  return r.statusCode === 201
    ? { status: 201, sessionId: body.sessionId as string, token: body.token as string }
    : { status: r.statusCode, code: body.code as string, detail: body.detail as string }
}

/** An admin who may impersonate and two members to impersonate, in the test app's organization. */
async function cast (api: TestApp): Promise<{ ada: { userId: string, token: string }, mia: string, tom: string }> {
  const { orgId } = api.owner
  const ada = await register(api, 'ada@a.example')
  const mia = await registerUser(api.runtime.identity, systemCommand('test'), { email: 'mia@a.example', displayName: 'mia' })
  const tom = await registerUser(api.runtime.identity, systemCommand('test'), { email: 'tom@a.example', displayName: 'tom' })
  await addMember(api.runtime.identity, systemCommand('test'), orgId, { userId: ada.userId, roles: ['admin'] })
  await addMember(api.runtime.identity, systemCommand('test'), orgId, { userId: mia.userId, roles: ['member'] })
  await addMember(api.runtime.identity, systemCommand('test'), orgId, { userId: tom.userId, roles: ['member'] })
  await settled(api.runtime)
  return { ada, mia: mia.userId, tom: tom.userId }
}

/** Exactly one started; every other a 409 `impersonation.already_active`; the one token works, and is the only session open. */
async function onlyOne (t: Test, api: TestApp, outcomes: Outcome[], adaId: string): Promise<{ sessionId: string, token: string }> {
  const created = outcomes.filter((o) => o.status === 201)
  t.equal(created.length, 1, `one started of ${outcomes.length}: ${JSON.stringify(outcomes.map((o) => o.status))}`)
  const refused = outcomes.filter((o) => o.status !== 201)
  t.equal(refused.length, outcomes.length - 1)
  t.ok(refused.every((o) => o.status === 409 && o.code === 'impersonation.already_active'),
    `every other one 409 impersonation.already_active: ${JSON.stringify([...new Set(refused.map((o) => `${o.status} ${o.code ?? ''}`))])}`)
  t.match(refused[0]?.detail, /already impersonating/, 'saying why')
  const { sessionId, token } = created[0] as { sessionId: string, token: string }
  t.equal((await api.call('GET', '/v1/session', { token })).statusCode, 200, 'its token works')
  await settled(api.runtime)
  const { rows } = await api.runtime.sql.query<{ session_id: string }>(
    "SELECT session_id FROM impersonation_sessions WHERE impersonator_id = $1 AND status = 'active' AND ended_at IS NULL", [adaId])
  t.same(rows.map((row) => row.session_id), [sessionId], 'and it is the only session open')
  return { sessionId, token }
}

const overHttp = (api: TestApp, token: string, targetUserId: string, count: number): Array<Promise<Outcome>> =>
  Array.from({ length: count }, () =>
    fromHttp(api.call('POST', `/v1/orgs/${api.owner.orgId}/impersonations`, { token, body: { targetUserId, reason: REASON } })))

/** Starts through the application function, as the route does (the route also limits each person to 20 a minute). */
const direct = (api: TestApp, userId: string, targetUserId: string, count: number): Promise<Outcome[]> =>
  Promise.all(Array.from({ length: count }, async () => {
  try {
    const started = await requestImpersonation(api.runtime.impersonation, systemCommand('test'), api.owner.orgId,
      { userId, impersonating: false, via: 'member' },
      { targetUserId, reason: REASON })
    return { status: 201, sessionId: started.sessionId, token: started.token! }
  } catch (error) {
    const { status, code, message } = error as LedgerlineError
    return { status, code, detail: message }
  }
}))

t.test('one impersonation at a time on one node, under concurrency; the next once it ends, however it ends', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { ada, mia, tom } = await cast(api)
    const { orgId } = api.owner

    const first = await onlyOne(t, api, await Promise.all(overHttp(api, ada.token, mia, CONCURRENT)), ada.userId)
    const { rows: denied } = await api.runtime.sql.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM impersonation_sessions " +
      "WHERE impersonator_id = $1 AND status = 'denied' AND end_reason = 'impersonator_busy' AND reason = $2",
      [ada.userId, REASON])
    t.equal(denied[0]!.n, CONCURRENT - 1, 'each refusal is recorded, with the requester\'s reason')

    t.equal((await api.call('POST', '/v1/impersonation/stop', { token: first.token })).statusCode, 200, 'stopped')
    const second = await onlyOne(t, api, await direct(api, ada.userId, tom, CONCURRENT), ada.userId)

    const revoked = await api.call('POST', `/v1/orgs/${orgId}/impersonations/${second.sessionId}/revoke`,
      { body: { reason: 'done with it' } })
    t.equal(revoked.statusCode, 200, revoked.body)
    const third = await onlyOne(t, api, await direct(api, ada.userId, mia, CONCURRENT), ada.userId)

    // Expired: the sweep, run at a clock past the expiry, writes it; the next start finds it over.
    const expiresAt = Date.parse((await api.call('GET', `/v1/orgs/${orgId}/impersonations/${third.sessionId}`)).json().expiresAt as string)
    t.same(await api.runtime.impersonationExpiry.runOnce(new Date(expiresAt + 1)), [third.sessionId], 'the sweep ends it')
    const fourth = await onlyOne(t, api, await direct(api, ada.userId, tom, CONCURRENT), ada.userId)

    // Ended by the re-check reactor, without a request: the target is disabled.
    await changeUser(api.runtime.identity, systemCommand('test'), tom, { type: 'DisableUser', data: { lastOwnerOf: [] } })
    const status = async (): Promise<{ status: string, endReason: string | null }> =>
      (await api.call('GET', `/v1/orgs/${orgId}/impersonations/${fourth.sessionId}`)).json()
    for (let i = 0; i < 100 && (await status()).status === 'active'; i++) await new Promise((resolve) => setTimeout(resolve, 50))
    t.match(await status(), { status: 'revoked', endReason: 'target_unavailable' }, 'the reactor ended it')
    const fifth = await onlyOne(t, api, await direct(api, ada.userId, mia, CONCURRENT), ada.userId)
    t.equal((await api.call('POST', '/v1/impersonation/stop', { token: fifth.token })).statusCode, 200)
  })
})

t.test('one impersonation at a time across two runtimes on one database', async (t) => {
  await forEachDatabase(t, async (t, { driver, sql, url }) => {
    if (driver === 'pglite') {
      await t.test('two runtimes',
        { skip: 'PGlite is embedded in one process: two runtimes cannot share it (this runs on PostgreSQL, with DATABASE_URL)' },
        async () => {})
      return
    }
    const a = await openTestApp(t, sql)
    const { ada, mia, tom } = await cast(a)
    const secondSql = await openSqlClient({ databaseUrl: url!, poolSize: 10 })
    t.teardown(() => secondSql.close())
    const runtimeB = await openRuntime(loadConfig({ NODE_ENV: 'test' }), pino({ level: 'silent' }),
      { sql: secondSql, runProjections: true })
    t.teardown(() => runtimeB.close())
    const appB = await buildApp(runtimeB)
    t.teardown(() => appB.close())
    const b: TestApp = {
      ...a,
      runtime: runtimeB,
      app: appB,
      call: (method, path, options = {}) => appB.inject({
        method, url: path, headers: { authorization: `Bearer ${options.token ?? a.owner.token}` },
        ...(options.body === undefined ? {} : { payload: options.body as object })
      })
    }
    const bothNodes = async (target: string): Promise<Outcome[]> => {
      const half = CONCURRENT / 2
      return Promise.all([...overHttp(a, ada.token, target, half), ...overHttp(b, ada.token, target, half)])
    }
    const first = await onlyOne(t, a, await bothNodes(mia), ada.userId)
    t.equal((await b.call('GET', '/v1/session', { token: first.token })).statusCode, 200, 'the token works on the other node too')
    t.equal((await b.call('POST', '/v1/impersonation/stop', { token: first.token })).statusCode, 200, 'stopped on the other node')
    // The next burst, on both nodes at once, right after: neither waits for the other's read model.
    const second = await onlyOne(t, a, await bothNodes(tom), ada.userId)
    t.equal((await a.call('POST', '/v1/impersonation/stop', { token: second.token })).statusCode, 200)
  })
})
