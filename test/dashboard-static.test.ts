/**
 * The dashboard's files at /app (src/http/plugins/static.ts), on a small
 * stand-in build: client routes answer index.html, hashed assets are cached
 * for good, every answer carries the strict CSP, what is missing is a
 * problem+json 404 (never index.html in its place), and a server started
 * without a build says how to make one.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { connect } from 'node:net'
import { join } from 'node:path'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { errorsPlugin } from '../src/http/plugins/errors.ts'
import { CONTENT_SECURITY_POLICY, DASHBOARD_PREFIX, dashboardStatic } from '../src/http/plugins/static.ts'

const INDEX = '<!doctype html><html><head><script type="module" src="/app/assets/index-Ab12.js"></script></head><body></body></html>'

async function serve (t: Test, root: string) {
  const app = Fastify()
  await app.register(errorsPlugin)
  await app.register(dashboardStatic, { prefix: DASHBOARD_PREFIX, root })
  t.teardown(() => app.close())
  return app
}

function standInBuild (t: Test): string {
  const root = mkdtempSync(join(tmpdir(), 'dashboard-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  mkdirSync(join(root, 'assets'))
  writeFileSync(join(root, 'index.html'), INDEX)
  writeFileSync(join(root, 'assets', 'index-Ab12.js'), 'export {}\n')
  writeFileSync(join(root, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>')
  writeFileSync(join(root, '.built'), 'stamp')
  return root
}

t.test('client routes answer index.html, revalidated, under the strict CSP', async (t) => {
  const app = await serve(t, standInBuild(t))
  for (const url of ['/app', '/app/', '/app/sign-in', '/app/orgs/o_1/members', '/app/orgs/o_1/members?cursor=x']) {
    const response = await app.inject(url)
    t.equal(response.statusCode, 200, `${url}: 200`)
    t.equal(response.body, INDEX, `${url}: index.html`)
    t.match(response.headers['content-type'], /^text\/html/)
    t.equal(response.headers['cache-control'], 'no-cache', `${url}: revalidated on each visit`)
    t.equal(response.headers['content-security-policy'], CONTENT_SECURITY_POLICY, `${url}: the CSP`)
  }
  const head = await app.inject({ method: 'HEAD', url: '/app/orgs/o_1/members' })
  t.same([head.statusCode, head.body], [200, ''], 'HEAD: no body')
  t.match(CONTENT_SECURITY_POLICY, /script-src 'self';/, 'scripts from this origin only')
  t.notMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval|\*/, 'no inline script, no eval, no wildcard')
})

t.test('hashed assets are cached for a year; the icon is revalidated', async (t) => {
  const app = await serve(t, standInBuild(t))
  const script = await app.inject('/app/assets/index-Ab12.js')
  t.equal(script.statusCode, 200)
  t.match(script.headers['content-type'], /javascript/)
  t.equal(script.headers['cache-control'], 'public, max-age=31536000, immutable')
  t.equal(script.headers['content-security-policy'], CONTENT_SECURITY_POLICY)
  t.equal(script.headers['x-content-type-options'], 'nosniff')
  const icon = await app.inject('/app/favicon.svg')
  t.same([icon.statusCode, icon.headers['cache-control']], [200, 'no-cache'])
})

t.test('a missing file, a dot file, a path out of the build or a POST is a problem+json 404, not index.html', async (t) => {
  const app = await serve(t, standInBuild(t))
  const cases: Array<['GET' | 'POST', string]> = [
    ['GET', '/app/assets/missing-1234.js'], ['GET', '/app/missing.png'], ['GET', '/app/.built'], ['GET', '/app/../package.json'],
    ['GET', '/app/%2e%2e/package.json'], ['POST', '/app/orgs/o_1/members'], ['POST', '/app']
  ]
  for (const [method, url] of cases) {
    const response = await app.inject({ method, url })
    t.equal(response.statusCode, 404, `${method} ${url}: 404 (${response.statusCode} ${response.body.slice(0, 80)})`)
    t.match(response.headers['content-type'], /^application\/problem\+json/, `${method} ${url}: problem+json`)
    t.not(response.body, INDEX)
  }
})

t.test('a server started without a build answers 503 dashboard.not_built, saying how to build it', async (t) => {
  const app = await serve(t, join(tmpdir(), 'no-such-dashboard-build'))
  for (const url of ['/app', '/app/', '/app/orgs/o_1/members']) {
    const response = await app.inject(url)
    t.equal(response.statusCode, 503, `${url}: 503`)
    t.equal(response.json().code, 'dashboard.not_built')
    t.match(response.json().detail, /npm run build:web/)
  }
})

t.test('paths out of the build, sent as raw bytes (no HTTP client normalizes them), never reach a file outside it', async (t) => {
  const outer = mkdtempSync(join(tmpdir(), 'dashboard-outer-'))
  t.teardown(() => rmSync(outer, { recursive: true, force: true }))
  const root = join(outer, 'dist')
  mkdirSync(join(root, 'assets'), { recursive: true })
  writeFileSync(join(root, 'index.html'), INDEX)
  writeFileSync(join(outer, 'secret.txt'), 'TOP SECRET next to the build')
  const app = await serve(t, root)
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  const port = Number(new URL(address).port)
  const paths = ['/app/../secret.txt', '/app/assets/../../secret.txt', '/app/%2e%2e/secret.txt', '/app/%2E%2E/secret.txt',
    '/app/..%2fsecret.txt', '/app/..%2Fsecret.txt', '/app/assets/..%2f..%2fsecret.txt', '/app/%2e%2e%2fsecret.txt',
    '/app/..%5csecret.txt', '/app/..\\secret.txt', '/app/%252e%252e/secret.txt', '/app//../secret.txt', '/app/./../secret.txt',
    '/app/.%2e/secret.txt', '/app/secret.txt%00.png']
  for (const path of paths) {
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1')
      const chunks: Buffer[] = []
      socket.on('data', (chunk: Buffer) => chunks.push(chunk))
      socket.on('error', reject)
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')))
      // Written, not ended: a client that half-closes first may have its socket dropped before a slower answer.
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)
    })
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0)
    t.notMatch(raw, /TOP SECRET/, `${path}: the file outside the build is not served`)
    t.ok([400, 403, 404].includes(status) || (status === 200 && raw.includes(INDEX)),
      `${path}: ${status}, a refusal or the client route's index.html`)
    if (status !== 200) t.match(raw, /\r\ncontent-type: application\/problem\+json/i, `${path}: a refusal is problem+json`)
  }
})
