/**
 * What a client causes is logged at info or warn, never error, so no client
 * can fill the error log: a validation failure, a 403, a 404, a malformed or
 * made-up X-Consistent-With (whose wait runs out: 504). A failure of the
 * server's own still logs at error. Log lines are captured from the
 * runtime's logger, given a stream.
 */
import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import { bootstrap } from '../src/application/identity/commands.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { formatPosition } from '../src/eventstore/position.ts'
import { buildApp } from '../src/http/app.ts'
import { openRuntime } from '../src/runtime.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { settled } from './helpers/assertions.ts'

interface Line { level: number, msg: string, code?: string, traceId?: string }
const ERROR = 50
const WARN = 40

t.test('client-caused failures log below error; the server\'s own at error', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const lines: Line[] = []
    const stream = new Writable({
      write (chunk: Buffer, _encoding, done) {
        for (const text of chunk.toString().split('\n')) if (text !== '') lines.push(JSON.parse(text))
        done()
      }
    })
    const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test', CONSISTENCY_TIMEOUT_MS: '200' }), pino({ level: 'info' }, stream),
      { sql, runProjections: true })
    t.teardown(() => runtime.close())
    const app = await buildApp(runtime)
    app.get('/test/boom', async () => { throw new Error('a bug of ours') })
    // A read model read before its first build made its tables.
    app.get('/test/unbuilt', async () => sql.query('SELECT * FROM a_read_model_not_built_yet'))
    t.teardown(() => app.close())
    const { token, orgId } = await bootstrap(runtime.identity, systemCommand('test'), { email: 'owner@a.example', orgName: 'Org A' })
    // The reads below wait 200 ms at most for the read models: let them catch up with the set-up first.
    await settled(runtime)
    const call = async (url: string, headers: Record<string, string> = {}, method: 'GET' | 'PATCH' = 'GET', payload?: object) => {
      const response = await app.inject({ method, url, headers: { authorization: `Bearer ${token}`, ...headers },
        ...(payload === undefined ? {} : { payload }) })
      return { status: response.statusCode,
        lines: lines.filter((line) => line.traceId === response.headers['traceparent']?.toString().split('-')[1]
          || line.traceId === response.json<{ traceId?: string }>().traceId) }
    }

    const cases: Array<[string, Awaited<ReturnType<typeof call>>, number]> = [
      ['a validation failure', await call(`/v1/orgs/${orgId}`, {}, 'PATCH', { name: 42 }), 400],
      ['an unknown organization', await call('/v1/orgs/org_nope'), 404],
      ['no token', await call('/v1/session', { authorization: 'Bearer nope' }), 401],
      ['a malformed consistency position', await call('/v1/session', { 'x-consistent-with': 'yesterday' }), 400],
      ['a made-up consistency position',
        await call('/v1/session', { 'x-consistent-with': formatPosition({ major: 2n ** 62n, minor: 2n ** 62n }) }), 504]
    ]
    for (const [what, outcome, status] of cases) {
      t.equal(outcome.status, status, what)
      t.ok(outcome.lines.length > 0, `${what}: its lines were captured`)
      t.same(outcome.lines.filter((line) => line.level >= ERROR).map((line) => line.msg), [], `${what}: nothing at error`)
    }
    const timedOut = cases[4]![1].lines.find((line) => line.code === 'projection.timeout')
    t.equal(timedOut?.level, WARN, 'the consistency timeout is a warning')

    const bug = await call('/test/boom')
    t.equal(bug.status, 500)
    t.ok(bug.lines.some((line) => line.level === ERROR && line.msg === 'request failed'), 'a bug of ours is an error')

    const response = await app.inject({ url: '/test/unbuilt', headers: { authorization: `Bearer ${token}` } })
    t.equal(response.statusCode, 503, 'a read model not built yet: 503, not 500')
    t.match(response.json(), { code: 'projection.not_built', retryAfterSeconds: 1 }, 'it says to retry shortly')
    t.equal(response.headers['retry-after'], '1', 'in the header too')
    const unbuilt = lines.filter((line) => line.traceId === response.json<{ traceId: string }>().traceId)
    t.same(unbuilt.filter((line) => line.level >= WARN).map((line) => [line.level, line.msg]), [[WARN, 'read model not built yet']],
      'logged once, as a warning')
  })
})
