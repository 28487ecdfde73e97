/**
 * The first start in development: a demo owner whose printed token works and
 * who can be given a password exactly as the banner says, then sign in.
 */
import { generateKeyPairSync } from 'node:crypto'
import { pino } from 'pino'
import t from 'tap'
import { DEMO, firstRun } from '../src/application/identity/first-run.ts'
import { loadConfig } from '../src/config.ts'
import { buildApp } from '../src/http/app.ts'
import { openRuntime } from '../src/runtime.ts'
import { forEachDatabase } from './helpers/databases.ts'

const AUDIT_SIGNING_KEY = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()

void forEachDatabase(t, async (t, db) => {
  const runtime = await openRuntime(loadConfig({ NODE_ENV: 'development', AUDIT_SIGNING_KEY }), pino({ level: 'silent' }),
    { sql: db.sql, runProjections: true })
  t.teardown(() => runtime.close())
  const app = await buildApp(runtime)
  t.teardown(() => app.close())

  const welcome = await firstRun(runtime, 'http://localhost:3000')
  t.ok(welcome.created)
  const rule = '='.repeat(72)
  t.equal(welcome.lines[0], rule, 'the banner opens with a rule')
  t.equal(welcome.lines.at(-1), rule, 'and closes with one')
  t.notOk(welcome.lines.some((line) => line.startsWith('{')), 'no line reads like a JSON log line')
  const token = welcome.lines.map((line) => /^ {2}(ll_\S+)$/.exec(line)?.[1]).find((found) => found !== undefined)!
  t.ok(token, 'the token has a line of its own')

  // The banner's own command: PUT /v1/me/password with the token and only a new password.
  const command = welcome.lines.join('\n')
  t.match(command, /curl -X PUT -H "Authorization: Bearer ll_\S+" -H 'content-type: application\/json' \\\n {4}-d '\{"newPassword":"<at least 10 characters>"\}' http:\/\/localhost:3000\/v1\/me\/password/)
  const set = await app.inject({ method: 'PUT', url: '/v1/me/password',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: { newPassword: 'demo-password-1' } })
  t.equal(set.statusCode, 200, set.body)
  const login = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: DEMO.email, password: 'demo-password-1' } })
  t.equal(login.statusCode, 200, login.body)
  const kept = await app.inject({ method: 'GET', url: '/v1/session', headers: { authorization: `Bearer ${token}` } })
  t.equal(kept.statusCode, 200, 'the API token used to set the password keeps working')

  const again = await firstRun(runtime, 'http://localhost:3000')
  t.same(again, { lines: [], created: false }, 'a second start prints nothing')
})
