/**
 * A client that trickles its request is cut off: a real listening server
 * with small timeouts, and a raw socket that sends a body (or headers) one
 * byte at a time. The outcome is asserted (408 problem+json, or the
 * connection closed, before the request could complete), not a timing.
 */
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { openTestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'

interface Outcome { response: string, sent: number, closed: boolean }

/** Writes `head` then `trickle` one byte every 50 ms until the server answers or closes. */
function trickle (port: number, head: string, trickle: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1')
    let response = ''
    let sent = 0
    let timer: NodeJS.Timeout | undefined
    const finish = (closed: boolean): void => {
      clearInterval(timer)
      socket.destroy()
      resolve({ response, sent, closed })
    }
    socket.on('connect', () => {
      socket.write(head)
      timer = setInterval(() => {
        if (sent >= trickle.length) return finish(false) // the whole request went through: not cut off
        if (socket.writable) socket.write(trickle[sent++]!)
      }, 50)
    })
    socket.on('data', (chunk) => { response += chunk.toString() })
    socket.on('close', () => finish(true))
    socket.on('error',
      (error: NodeJS.ErrnoException) => { if (error.code === 'ECONNRESET' || error.code === 'EPIPE') finish(true); else reject(error) })
  })
}

t.test('the timeouts are configurable, with sane defaults, headers within the request', async (t) => {
  t.same(loadConfig({}).httpTimeouts, { requestMs: 30_000, headersMs: 10_000, keepAliveMs: 72_000, connectionMs: 120_000 })
  t.throws(() => loadConfig({ HTTP_REQUEST_TIMEOUT_MS: '1000', HTTP_HEADERS_TIMEOUT_MS: '2000' }), /HTTP_HEADERS_TIMEOUT_MS: must not exceed HTTP_REQUEST_TIMEOUT_MS/)
  t.throws(() => loadConfig({ HTTP_REQUEST_TIMEOUT_MS: '0' }), /HTTP_REQUEST_TIMEOUT_MS/)
})

t.test('a request that trickles its body or its headers is cut off with 408', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql, { HTTP_REQUEST_TIMEOUT_MS: '1000', HTTP_HEADERS_TIMEOUT_MS: '500' })
    await api.app.listen({ port: 0, host: '127.0.0.1' })
    const port = (api.app.server.address() as { port: number }).port
    t.equal(api.app.server.requestTimeout, 1000)
    t.equal(api.app.server.headersTimeout, 500)

    const body = JSON.stringify({ email: 'someone@a.example', password: 'x'.repeat(300) })
    const head = `POST /v1/auth/login HTTP/1.1\r\nHost: localhost\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`
    const slowBody = await trickle(port, head, body)
    t.ok(slowBody.closed, 'the server closed the connection')
    t.ok(slowBody.sent < body.length, `cut off after ${slowBody.sent} of ${body.length} bytes of body`)
    t.match(slowBody.response, /^HTTP\/1\.1 408 Request Timeout\r\n/)
    t.match(slowBody.response, /Content-Type: application\/problem\+json/)
    t.match(slowBody.response, /"code":"http.request_timeout"/)

    const headers = 'X-Slow: ' + 'a'.repeat(200) + '\r\n\r\n'
    const slowHeaders = await trickle(port, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n', headers)
    t.ok(slowHeaders.closed)
    t.ok(slowHeaders.sent < headers.length, `cut off after ${slowHeaders.sent} of ${headers.length} bytes of headers`)
    t.match(slowHeaders.response, /^HTTP\/1\.1 408 /)

    const healthy = await fetch(`http://127.0.0.1:${port}/healthz`)
    t.equal(healthy.status, 200, 'a request that arrives in time is served')
  })
})
