import { pino } from 'pino'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { buildApp } from '../src/http/app.ts'
import { openRuntime } from '../src/runtime.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { settled } from './helpers/assertions.ts'

const logger = pino({ level: 'silent' })

t.test('health, readiness, metrics and the error model over HTTP', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), logger, { sql, runProjections: true })
    t.teardown(() => runtime.close())
    const app = await buildApp(runtime)
    t.teardown(() => app.close())
    await settled(runtime)

    const health = await app.inject('/healthz')
    t.equal(health.statusCode, 200)
    t.same(health.json(), { status: 'ok' })

    const ready = await app.inject('/readyz')
    t.equal(ready.statusCode, 200, ready.body)
    t.same(ready.json().checks.map((c: { name: string, ok: boolean }) => [c.name, c.ok]),
      [['database', true], ['event_store', true], ['projections', true], ['reactors', true]])

    const metrics = await app.inject('/metrics')
    t.equal(metrics.statusCode, 200)
    t.match(metrics.body, /ledgerline_projection_lag_seconds\{projection="stream_catalogue"\} 0/)
    t.match(metrics.body, /ledgerline_http_requests_total\{method="GET",route="\/readyz",status="200"\} 1/)

    const missing = await app.inject('/v1/nothing-here?x=1')
    t.equal(missing.statusCode, 404)
    t.match(missing.headers['content-type'], /^application\/problem\+json/)
    t.match(missing.json(), { type: 'about:blank', status: 404, code: 'http.not_found', instance: '/v1/nothing-here' })
    t.match(missing.json().traceId, /^[0-9a-f]{32}$/)
  })
})

t.test('a valid traceparent is honoured and echoed; an invalid one is replaced', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), logger, { sql })
    t.teardown(() => runtime.close())
    const app = await buildApp(runtime)
    t.teardown(() => app.close())
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const honoured = await app.inject({ url: '/nope', headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } })
    t.match(honoured.headers.traceparent, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`))
    t.equal(honoured.json().traceId, traceId)
    for (const bad of ['garbage', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, `00-${traceId}-${'0'.repeat(16)}-01`]) {
      const replaced = await app.inject({ url: '/nope', headers: { traceparent: bad } })
      t.not(replaced.json().traceId, traceId, `replaces ${bad}`)
      t.match(replaced.json().traceId, /^[0-9a-f]{32}$/)
    }
  })
})

t.test('readiness fails with the reason when the database is gone, and the server keeps answering', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), logger, { sql })
    const app = await buildApp(runtime)
    t.teardown(() => app.close())
    await runtime.close()
    await sql.close()
    const ready = await app.inject('/readyz')
    t.equal(ready.statusCode, 503)
    t.equal(ready.json().status, 'not_ready')
    t.equal(ready.json().checks.find((c: { name: string }) => c.name === 'database').ok, false)
    t.equal((await app.inject('/healthz')).statusCode, 200)
  })
})

t.test('a real listening server answers over TCP', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), logger, { sql })
    t.teardown(() => runtime.close())
    const app = await buildApp(runtime)
    t.teardown(() => app.close())
    const address = await app.listen({ host: '127.0.0.1', port: 0 })
    const response = await fetch(`${address}/healthz`)
    t.equal(response.status, 200)
    t.match(response.headers.get('traceparent'), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
  })
})
