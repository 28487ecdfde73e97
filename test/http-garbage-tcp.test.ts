/**
 * Garbage in, problem+json out (2 of 4; see test/http-garbage.test.ts). Raw
 * requests through a real listening server, so that Node's HTTP parser sees
 * the invalid JSON, huge and deep bodies too; then single requests at the
 * edges of the contract, among them the exact requests of the bugs the walk
 * found (a router or HTTP-parser error that was not a problem, a 500 on
 * deeply nested bodies: all fixed).
 */
import t from 'tap'
import { forEachDatabase } from './helpers/databases.ts'
import { comparePositions, formatPosition, parsePosition } from '../src/eventstore/position.ts'
import { judge, key, MUTATING, send, sendBytes, type Route, type Sent, world } from './helpers/garbage.ts'

/**
 * The MCP endpoint reads a body on POST only, once the Accept its clients send is there (the transport checks it first); a
 * DELETE ends a session and reads none.
 */
const MCP_ENDPOINT = '/v1/orgs/:orgId/mcp'
/**
 * The routes that read a body. Not: MCP's DELETE (it ends a session by its header), nor the dashboard's sign-out,
 * which takes no body and refuses a bearer token (401, sign out with POST /v1/auth/logout) before one would be read.
 */
const readsBody = (route: Route): boolean => MUTATING.has(route.method) &&
  !(route.method === 'DELETE' && (route.url === MCP_ENDPOINT || route.url === '/v1/auth/session'))
/**
 * Inbound webhooks take the raw bytes and judge them only once the source and the signature are: bad JSON to an unknown
 * source is 404, unsigned it is 400 or 401 by the headers. Their size limit (413) is checked like every route's.
 */
const RAW_BODY = new Set(['/v1/webhooks/stripe', '/v1/webhooks/in/:sourceId'])

t.test('invalid JSON, 2 MB bodies, 10,000-level nesting and wrong content types ' +
  'through a real listening server get 4xx problem+json', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await world(t, sql)
    const address = await w.app.listen({ port: 0, host: '127.0.0.1' })
    const port = Number(new URL(address).port)
    const huge = JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) })
    const deepArrays = '['.repeat(10_000) + ']'.repeat(10_000)
    const deepObjects = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)
    const badUtf8 = Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe, 0xc0, 0xaf]), Buffer.from('"}')])
    const payloads: Array<{ name: string, contentType?: string, body: string | Buffer, chunked?: boolean, expect?: number }> = [
      { name: 'invalid JSON', contentType: 'application/json', body: '{"name": "x",', expect: 400 },
      { name: 'JSON with a trailing second document', contentType: 'application/json', body: '{"name":"x"}{"name":"y"}', expect: 400 },
      { name: 'a 2 MB body with Content-Length', contentType: 'application/json', body: huge, expect: 413 },
      { name: 'a 2 MB chunked body', contentType: 'application/json', body: huge, chunked: true, expect: 413 },
      { name: '10,000 nested arrays', contentType: 'application/json', body: deepArrays },
      { name: '10,000 nested objects', contentType: 'application/json', body: deepObjects },
      { name: 'invalid UTF-8', contentType: 'application/json', body: badUtf8 },
      { name: 'text/plain', contentType: 'text/plain', body: 'name=x' },
      { name: 'form encoding', contentType: 'application/x-www-form-urlencoded', body: 'name=x&plan=pro' },
      { name: 'no content type', body: '{"name":"x"}' }
    ]
    let requests = 0
    for (const route of w.routes.filter((route) => route.method !== 'HEAD')) {
      for (const payload of payloads) {
        for (const token of [w.admin, undefined]) {
          const path = route.url.replace(/:(\w+)/g, (_whole, name: string) =>
            name === 'orgId' ? w.orgIds[0]! : name === 'userId' ? w.memberId : name === 'role' ? 'viewer' : 'nonexistent')
          const headers: Record<string, string> = {}
          if (token !== undefined) headers.authorization = `Bearer ${token.token}`
          if (payload.contentType !== undefined) headers['content-type'] = payload.contentType
          if (route.url === MCP_ENDPOINT) headers.accept = 'application/json, text/event-stream'
          const answer = await send(port, {
            method: route.method, path, headers, body: payload.body, ...(payload.chunked === true ? { chunked: true } : {})
          })
          requests++
          const sent: Sent = { method: route.method, url: path, validToken: token !== undefined, body: payload.body, route }
          const reason = judge(sent, answer, headers)
          t.equal(reason, undefined, `${key(route)} with ${payload.name}${token === undefined ? ', no token' : ''}: ${answer.status}`)
          // Only where the body is read at all: a body on GET is ignored, and without a token the 401 comes first.
          const judgedLater = payload.expect === 400 && RAW_BODY.has(route.url)
          if (payload.expect !== undefined && token !== undefined && readsBody(route) && !judgedLater && answer.status !== payload.expect) {
            t.fail(`${key(route)} with ${payload.name}: expected ${payload.expect}, got ${answer.status} ${answer.body.slice(0, 200)}`)
          }
          if (answer.status < 300 && MUTATING.has(route.method)) await w.keepValid()
        }
      }
    }
    // Paths the HTTP parser passes through untouched (app.inject would normalize them).
    for (const path of ['/v1/orgs/..', '/v1/orgs/../../etc/passwd', '/v1/orgs/%2e%2e/members', '/v1/orgs/./members',
      `/v1/orgs/${'%41'.repeat(100)}`, '/v1/orgs/a;b=c', '//v1//session', '/v1/session?%zz']) {
      const headers = { authorization: `Bearer ${w.admin.token}` }
      const answer = await send(port, { method: 'GET', path, headers })
      requests++
      t.equal(judge({ method: 'GET', url: path, validToken: true }, answer, headers), undefined, `GET ${path}: ${answer.status}`)
    }
    // What Node's parser refuses before Fastify sees it.
    const malformed = [
      'GET /v1/session HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n',
      'GET /v1/orgs/\u00e9\u4e2d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      `POST /v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${w.admin.token}\r\n` +
        `Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":"x"}`,
      '\u0000\u0001garbage\r\n\r\n'
    ]
    for (const bytes of malformed) {
      const answer = await sendBytes(port, Buffer.from(bytes, 'utf8'))
      requests++
      t.equal(judge({ method: '?', url: '?', validToken: false }, answer), undefined,
        `malformed request ${JSON.stringify(bytes.slice(0, 40))}: ${answer.status}`)
    }
    t.comment(`${requests} requests sent over TCP`)

    await w.keepValid()
    t.equal((await fetch(`${address}/healthz`)).status, 200, '/healthz still answers over TCP')
    const session = await fetch(`${address}/v1/session`, { headers: { authorization: `Bearer ${w.admin.token}` } })
    t.equal(session.status, 200, 'GET /v1/session still works over TCP')
  })
})

// Single requests at the edges of the contract, among them the exact requests
// of the bugs the walk found (all fixed).

t.test('single requests at the edges: a position beyond the log, and each bug the walk found', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await world(t, sql, { consistencyTimeoutMs: 1000 })
    const bearer = { authorization: `Bearer ${w.admin.token}` }

    await t.test('a position beyond the head of the log in X-Consistent-With is waited for, ' +
      'then answered 504 problem+json (documented; the one 5xx a caller can ask for)', async (t) => {
      // The largest position there is: no log reaches it. (A head read here can lag behind the log, held back by
      // an open transaction in another database of the server, while transaction ids run far ahead.)
      const head = await w.runtime.store.headPosition()
      const ahead = formatPosition({ major: 2n ** 63n - 1n, minor: 0n })
      t.ok(comparePositions(parsePosition(ahead)!, head) > 0)
      const started = Date.now()
      const response = await w.app.inject({ url: '/v1/session', headers: { ...bearer, 'x-consistent-with': ahead } })
      t.equal(response.statusCode, 504)
      t.match(response.headers['content-type'], /^application\/problem\+json/)
      t.match(response.json(), { status: 504, code: 'projection.timeout' })
      t.ok(Date.now() - started >= 900, 'after CONSISTENCY_TIMEOUT_MS')
      t.equal((await w.app.inject({ url: '/v1/session', headers: { ...bearer, 'x-consistent-with': formatPosition(head) } })).statusCode,
        200, 'a reached position answers at once')
    })

    await t.test('a path with malformed percent-encoding answers 400 problem+json', async (t) => {
      const response = await w.app.inject({ url: '/v1/orgs/%zz', headers: bearer })
      t.equal(response.statusCode, 400)
      t.match(response.headers['content-type'], /^application\/problem\+json/, `GET /v1/orgs/%zz: ${response.body}`)
    })

    await t.test('a path parameter longer than the router allows answers 4xx problem+json', async (t) => {
      const response = await w.app.inject({ url: `/v1/orgs/${'a'.repeat(201)}`, headers: bearer })
      t.ok(response.statusCode >= 400 && response.statusCode < 500, String(response.statusCode))
      t.match(response.headers['content-type'], /^application\/problem\+json/, `GET /v1/orgs/a×201: ${response.body}`)
    })

    await t.test('a request the HTTP parser refuses answers 400 problem+json', async (t) => {
      const address = await w.app.listen({ port: 0, host: '127.0.0.1' })
      const answer = await sendBytes(Number(new URL(address).port), 'GET /v1/session HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n')
      t.equal(answer.status, 400)
      t.match(answer.contentType, /^application\/problem\+json/, `a header line without a colon: ${answer.body}`)
    })

    await t.test('a deeply nested body with an Idempotency-Key on a route without a body schema answers 4xx, not 500', async (t) => {
      for (const depth of [1_000, 10_000, 100_000]) {
        const response = await w.app.inject({
          method: 'POST',
          url: `/v1/admin/users/${w.memberId}/enable`,
          headers: { ...bearer, 'content-type': 'application/json', 'idempotency-key': `deep-${depth}` },
          payload: '['.repeat(depth) + ']'.repeat(depth)
        })
        t.ok(response.statusCode < 500, `${depth} levels: ${response.statusCode} ${response.body.slice(0, 120)}`)
      }
      t.equal((await w.app.inject('/healthz')).statusCode, 200, 'the server still answers')
    })
  })
})
