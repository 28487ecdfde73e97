/**
 * /metrics is guarded: with METRICS_TOKEN it answers only to that bearer
 * token (401 problem+json, nothing else, without it or with a wrong one);
 * with METRICS_PORT it leaves the API's port for a listener of its own;
 * production refuses to start with neither. /metrics/organizations names the
 * organizations behind the per-organization alert gauges, under the same guard.
 */
import { generateKeyPairSync } from 'node:crypto'
import { pino } from 'pino'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { buildApp } from '../src/http/app.ts'
import { startMetricsListener } from '../src/http/metrics-listener.ts'
import { bearerMatches, metricsOpenProblem } from '../src/ops/lib/metrics-access.ts'
import { openRuntime } from '../src/runtime.ts'
import { openTestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { problem, register } from './helpers/http.ts'
import { addMember } from '../src/application/identity/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'

const TOKEN = 'metrics-token-0123456789abcdef'
const SIGNING_KEY = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()

t.test('the bearer token is compared whole, case-insensitively on the scheme only', async (t) => {
  t.ok(bearerMatches(TOKEN, `Bearer ${TOKEN}`))
  t.ok(bearerMatches(TOKEN, `bearer ${TOKEN}`))
  t.notOk(bearerMatches(TOKEN, undefined))
  t.notOk(bearerMatches(TOKEN, ''))
  t.notOk(bearerMatches(TOKEN, 'Bearer '))
  t.notOk(bearerMatches(TOKEN, TOKEN), 'the scheme is required')
  t.notOk(bearerMatches(TOKEN, `Bearer ${TOKEN.slice(0, -1)}`))
  t.notOk(bearerMatches(TOKEN, `Bearer ${TOKEN}x`))
  t.notOk(bearerMatches(TOKEN, `Basic ${TOKEN}`))
})

t.test('open /metrics is a problem unless a token or a listener of its own guards it', async (t) => {
  t.match(metricsOpenProblem(loadConfig({})), /METRICS_TOKEN.*METRICS_PORT/)
  t.equal(metricsOpenProblem(loadConfig({ METRICS_TOKEN: TOKEN })), undefined)
  t.equal(metricsOpenProblem(loadConfig({ METRICS_PORT: '9464' })), undefined)
  t.throws(() => loadConfig({ METRICS_TOKEN: 'short' }), /METRICS_TOKEN: at least 16 characters/)
})

t.test('with METRICS_TOKEN, /metrics and /metrics/organizations answer only to it', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql, { METRICS_TOKEN: TOKEN })
    for (const url of ['/metrics', '/metrics/organizations']) {
      for (const [what, headers] of [['no token', {}], ['a wrong token', { authorization: 'Bearer metrics-token-0123456789abcdeX' }],
        ['an API token', { authorization: `Bearer ${api.owner.token}` }]] as const) {
        const refused = await api.app.inject({ method: 'GET', url, headers })
        problem(t, refused, 401, 'auth.metrics_token_required')
        t.equal(refused.headers['www-authenticate'], 'Bearer realm="metrics"', `${url}, ${what}`)
        t.notMatch(refused.body, /ledgerline_|org_/, `${url}, ${what}: nothing leaked`)
      }
    }
    const scraped = await api.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })
    t.equal(scraped.statusCode, 200)
    t.match(scraped.body, /ledgerline_authz_max_org_denials_5m 0/)

    // A viewer refused twice: the organization tops the denials window.
    const viewer = await register(api, 'viewer@a.example')
    await addMember(api.runtime.identity, { ...systemCommand('test'), actor: { type: 'user', id: api.owner.userId } }, api.owner.orgId,
      { userId: viewer.userId, roles: ['viewer'] })
    for (let i = 0; i < 2; i++) t.equal((await api.call('PATCH', `/v1/orgs/${api.owner.orgId}`,
      { token: viewer.token, body: { name: 'x' } })).statusCode, 403)
    const organizations = await api.app.inject({ method: 'GET', url: '/metrics/organizations',
      headers: { authorization: `Bearer ${TOKEN}` } })
    t.equal(organizations.statusCode, 200)
    t.same(organizations.json().denials, { windowMs: 300_000, threshold: 50, organizations: [{ orgId: api.owner.orgId, count: 2 }] })
    t.same(organizations.json().roleChanges.organizations.map((o: { orgId: string }) => o.orgId), [api.owner.orgId],
      'the bootstrap and the new member were role changes')
  })
})

t.test('with METRICS_PORT, /metrics leaves the API port for a listener of its own', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql, { METRICS_PORT: '0', METRICS_TOKEN: TOKEN })
    problem(t, await api.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } }), 404,
      'http.not_found')
    const listener = await startMetricsListener(api.runtime)
    t.ok(listener)
    t.teardown(() => listener?.app.close())
    t.equal((await fetch(`${listener!.address}/metrics`)).status, 401, 'the token is required there too')
    const scraped = await fetch(`${listener!.address}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    t.equal(scraped.status, 200)
    t.match(await scraped.text(), /ledgerline_ready/)
    t.equal((await fetch(`${listener!.address}/v1/session`)).status, 404, 'nothing but the metrics there')
  })
})

t.test('production refuses to build the server with /metrics open', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const open = async (env: Record<string, string>) => {
      const runtime = await openRuntime(loadConfig({ NODE_ENV: 'production', AUDIT_SIGNING_KEY: SIGNING_KEY, ...env }),
        pino({ level: 'silent' }), { sql })
      t.teardown(() => runtime.close())
      return buildApp(runtime)
    }
    await t.rejects(open({}), { code: 'config.invalid', message: /refusing to start in production: \/metrics is open/ })
    const withToken = await open({ METRICS_TOKEN: TOKEN })
    t.teardown(() => withToken.close())
    t.equal((await withToken.inject('/metrics')).statusCode, 401)
    const apart = await open({ METRICS_PORT: '9464' })
    t.teardown(() => apart.close())
    t.equal((await apart.inject('/metrics')).statusCode, 404)
  })
})
