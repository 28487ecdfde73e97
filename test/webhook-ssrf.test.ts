/**
 * The outbound client's guard against server-side request forgery: every
 * forbidden address class refused (IPv4, IPv6, and IPv6 forms embedding a
 * forbidden IPv4), URLs that are not plain http(s) refused, a name that
 * rebinds to loopback between the check at registration and the connection
 * refused at connect time, and nothing reaching the local receiver when
 * refused. With private targets allowed (tests only), a local receiver is
 * reached: no redirect followed, one deadline over headers and body, the
 * answer read up to 64 KiB with a 1 KiB excerpt, header names lower-cased.
 */
import type { lookup as dnsLookup, LookupAddress } from 'node:dns'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import {
  checkTarget, EXCERPT_BYTES, forbiddenAddress, OutboundFailed, outboundClient, OutboundRefused, retryAfterMs, targetUrl
} from '../src/application/webhooks/outbound-http.ts'

interface Receiver { url: string, requests: Array<{ url: string, headers: IncomingMessage['headers'], body: string }> }

/** A local HTTP receiver answering with `handler`; every request it got is kept. */
async function receiver (t: Test, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Receiver> {
  const requests: Receiver['requests'] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      requests.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })
      handler(req, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests }
}

/** A lookup answering each call with the next of `answers` (the last one again after the end); counts its calls. */
function scriptedLookup (...answers: string[][]): { lookup: typeof dnsLookup, calls: () => number } {
  let calls = 0
  const lookup = (_name: string, options: { all?: boolean }, callback: (...args: unknown[]) => void): void => {
    const addresses: LookupAddress[] = answers[Math.min(calls++, answers.length - 1)]!
      .map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
    setImmediate(() => (options.all === true ? callback(null, addresses) : callback(null, addresses[0]!.address, addresses[0]!.family)))
  }
  return { lookup: lookup as unknown as typeof dnsLookup, calls: () => calls }
}

const post = { headers: { 'content-type': 'application/json' }, body: '{"type":"rbac.role.created"}', timeoutMs: 5000 }

const FORBIDDEN: Array<[address: string, reason: RegExp]> = [
  ['127.0.0.1', /^loopback$/], ['127.255.255.255', /^loopback$/], ['::1', /^loopback$/],
  ['10.0.0.0', /^private$/], ['10.255.255.255', /^private$/], ['172.16.0.1', /^private$/], ['172.31.255.255', /^private$/],
  ['192.168.0.1', /^private$/], ['192.168.255.255', /^private$/], ['fc00::1', /^private$/], ['fdff:ffff::1', /^private$/],
  ['169.254.0.1', /^link-local$/], ['169.254.255.255', /^link-local$/], ['fe80::1', /^link-local$/], ['fe80::1%eth0', /^link-local$/],
  ['febf:ffff::1', /^link-local$/],
  ['169.254.169.254', /^cloud metadata$/], ['fd00:ec2::254', /^cloud metadata$/], ['100.100.100.200', /^cloud metadata$/],
  ['100.64.0.0', /^carrier-grade NAT$/], ['100.127.255.255', /^carrier-grade NAT$/],
  ['224.0.0.1', /^multicast$/], ['239.255.255.255', /^multicast$/], ['ff02::1', /^multicast$/],
  ['0.0.0.0', /^unspecified$/], ['0.1.2.3', /^unspecified$/], ['::', /^unspecified$/], ['255.255.255.255', /^broadcast$/],
  ['240.0.0.1', /^reserved$/], ['192.0.2.1', /^reserved$/], ['2001:db8::1', /^reserved$/],
  ['::ffff:127.0.0.1', /^loopback \(IPv4-mapped 127\.0\.0\.1\)$/], ['::ffff:7f00:1', /^loopback \(IPv4-mapped/],
  ['::FFFF:169.254.169.254', /^cloud metadata \(IPv4-mapped/], ['::ffff:10.1.2.3', /^private \(IPv4-mapped/],
  ['::ffff:100.64.1.1', /^carrier-grade NAT \(IPv4-mapped/], ['[::ffff:192.168.1.1]', /^private \(IPv4-mapped/],
  ['::127.0.0.1', /^loopback \(IPv4-compatible/],
  ['64:ff9b::a9fe:a9fe', /^cloud metadata \(NAT64 169\.254\.169\.254\)$/], ['64:ff9b::10.0.0.1', /^private \(NAT64/],
  ['64:ff9b:1::7f00:1', /^loopback \(NAT64/],
  ['2002:7f00:1::1', /^loopback \(6to4 127\.0\.0\.1\)$/], ['2002:a9fe:a9fe::', /^cloud metadata \(6to4/],
  ['2001:0:4136:e378:8000:63bf:80ff:fffe', /^loopback \(Teredo 127\.0\.0\.1\)$/]
]

const ALLOWED = [
  '8.8.8.8', '1.1.1.1', '9.255.255.255', '11.0.0.0', '172.15.255.255', '172.32.0.0', '192.167.255.255', '192.169.0.0',
  '100.63.255.255', '100.128.0.0', '169.253.255.255', '169.255.0.0', '126.255.255.255', '128.0.0.0', '223.255.255.255',
  '2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', 'fbff:ffff::1'
]

t.test('forbiddenAddress names the class of every forbidden address, and lets public ones through', async (t) => {
  for (const [address, reason] of FORBIDDEN) t.match(forbiddenAddress(address), reason, address)
  for (const address of ALLOWED) t.equal(forbiddenAddress(address), undefined, address)
  t.equal(forbiddenAddress('localhost'), 'not an IP address')
  t.equal(forbiddenAddress(''), 'not an IP address')
})

/** Forbidden IPv4 blocks, as [first octets, prefix length]. */
const FORBIDDEN_V4: Array<[number[], number]> = [
  [[0], 8], [[10], 8], [[100, 64], 10], [[127], 8], [[169, 254], 16], [[172, 16], 12], [[192, 168], 16], [[224], 4], [[240], 4]
]
const toIpv4 = (n: number): string => [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.')

t.test('any IPv4 inside a forbidden block is refused, alone and mapped into IPv6; a random IPv4 reads the same either way', async (t) => {
  const inBlock = fc.tuple(fc.constantFrom(...FORBIDDEN_V4), fc.nat()).map(([[octets, prefix], offset]) => {
    const network = octets.reduce((sum, octet, index) => sum + octet * 2 ** (24 - 8 * index), 0)
    return toIpv4(network + (offset % 2 ** (32 - prefix)))
  })
  fc.assert(fc.property(inBlock, (ip) => forbiddenAddress(ip) !== undefined && forbiddenAddress(`::ffff:${ip}`) !== undefined &&
    forbiddenAddress(`64:ff9b::${ip}`) !== undefined), { numRuns: 2000 })
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n) => {
    const ip = toIpv4(n)
    return (forbiddenAddress(ip) === undefined) === (forbiddenAddress(`::ffff:${ip}`) === undefined)
  }), { numRuns: 2000 })
  t.pass('2000 addresses in forbidden blocks refused in three forms; 2000 random ones judged alike mapped or not')
})

t.test('only plain http(s) URLs without credentials, on 80, 443 or 1024 and up, are taken', async (t) => {
  const invalid = [
    'not a url', 'ftp://example.com/hook', 'file:///etc/passwd', 'javascript:alert(1)', 'gopher://example.com:70/',
    'https://user:secret@example.com/hook', 'https://user@example.com/hook', 'http://example.com:22/', 'http://example.com:0/',
    'http://example.com:1023/'
  ]
  for (const url of invalid) t.throws(() => targetUrl(url, { allowPrivate: true }), { code: 'webhook.url_invalid', permanent: true }, url)
  const literal = [
    'http://127.0.0.1:8080/', 'http://[::1]:8080/', 'http://2130706433:8080/', 'http://0x7f.1:8080/', 'http://127.1/',
    'http://169.254.169.254/latest/meta-data/', 'http://[::ffff:169.254.169.254]/', 'http://[fd00:ec2::254]/', 'http://0.0.0.0:8080/',
    'https://10.0.0.8/hook'
  ]
  for (const url of literal) {
    t.throws(() => targetUrl(url, { allowPrivate: false }), { code: 'webhook.target_forbidden', permanent: true }, url)
  }
  t.throws(() => targetUrl('ftp://example.com/', { allowPrivate: false }), OutboundRefused, 'an OutboundRefused, marked permanent for the job')
  t.equal(targetUrl('https://hooks.example.com/in?x=1', { allowPrivate: false }).href, 'https://hooks.example.com/in?x=1')
  t.equal(targetUrl('http://8.8.8.8:8443/', { allowPrivate: false }).port, '8443')
  t.equal(targetUrl('http://127.0.0.1:8080/', { allowPrivate: true }).hostname, '127.0.0.1', 'allowed when private targets are')
})

t.test('a refused target gets nothing: a literal loopback address, localhost, a name resolving to several addresses one of them private',
  async (t) => {
    const local = await receiver(t, (_req, res) => res.end('ok'))
    const port = new URL(local.url).port
    const guarded = outboundClient({ allowPrivate: false })
    await t.rejects(guarded.post({ ...post, url: `${local.url}/hook` }), { code: 'webhook.target_forbidden' })
    await t.rejects(guarded.post({ ...post, url: `http://localhost:${port}/hook` }),
      { code: 'webhook.target_forbidden', message: /^localhost \((127\.0\.0\.1|::1)\) may not be reached: loopback$/ }, 'resolved, then refused')
    const mixed = scriptedLookup(['93.184.215.14', '127.0.0.1'])
    await t.rejects(outboundClient({ allowPrivate: false, lookup: mixed.lookup }).post({ ...post, url: `http://mixed.test:${port}/` }),
      { code: 'webhook.target_forbidden', message: /127\.0\.0\.1.*loopback/ })
    t.equal(local.requests.length, 0, 'the receiver got no request')
  })

t.test('a name rebinding to loopback after the check at registration is refused when the delivery connects', async (t) => {
  const local = await receiver(t, (_req, res) => res.end('ok'))
  const port = new URL(local.url).port
  const rebinding = scriptedLookup(['93.184.215.14'], ['127.0.0.1'])
  const options = { allowPrivate: false, lookup: rebinding.lookup }
  const url = `http://rebind.test:${port}/hook`
  t.equal((await checkTarget(url, options)).hostname, 'rebind.test', 'at registration it resolves to a public address')
  await t.rejects(outboundClient(options).post({ ...post, url }), { code: 'webhook.target_forbidden', message: /127\.0\.0\.1.*loopback/ })
  t.equal(rebinding.calls(), 2, 'resolved again at connect time')
  t.equal(local.requests.length, 0, 'the receiver got no request')
  await t.rejects(checkTarget(url, options), { code: 'webhook.target_forbidden' }, 'checked now, the name is refused too')
  await t.rejects(checkTarget('http://localhost/', { allowPrivate: false }), { code: 'webhook.target_forbidden' })
})

t.test('with private targets allowed a local receiver is reached; its answer comes back with header names in lower case', async (t) => {
  const local = await receiver(t, (_req, res) => {
    res.setHeader('X-Receiver-Id', 'Rcv-1')
    res.setHeader('Set-Cookie', ['a=1', 'b=2'])
    res.writeHead(202, { 'Content-Type': 'text/plain' }).end('accepted')
  })
  const client = outboundClient({ allowPrivate: true })
  const headers = { 'content-type': 'application/json', 'Webhook-Id': 'msg_1', 'webhook-signature': 'v1,abc' }
  const answer = await client.post({ ...post, headers, url: `${local.url}/in?x=1` })
  t.equal(answer.status, 202)
  t.equal(answer.excerpt, 'accepted')
  t.equal(answer.headers['x-receiver-id'], 'Rcv-1')
  t.equal(answer.headers['content-type'], 'text/plain')
  t.equal(answer.headers['set-cookie'], 'a=1, b=2', 'repeated headers joined')
  t.ok(Object.keys(answer.headers).every((name) => name === name.toLowerCase()), 'every name in lower case')
  t.ok(answer.durationMs >= 0)
  t.equal(local.requests.length, 1)
  t.match(local.requests[0], {
    url: '/in?x=1',
    headers: { 'webhook-id': 'msg_1', 'webhook-signature': 'v1,abc', 'content-length': String(post.body.length) },
    body: post.body
  }, 'the body and headers as sent')
  const again = await client.post({ ...post, url: `${local.url}/again` })
  t.equal(again.status, 202, 'a second delivery over the kept connection')
})

t.test('a redirect is an answer, not followed', async (t) => {
  const local = await receiver(t, (req, res) => {
    if (req.url === '/hook') res.writeHead(302, { location: '/elsewhere' }).end()
    else res.end('followed')
  })
  const answer = await outboundClient({ allowPrivate: true }).post({ ...post, url: `${local.url}/hook` })
  t.equal(answer.status, 302)
  t.equal(answer.headers.location, '/elsewhere')
  t.same(local.requests.map((r) => r.url), ['/hook'], 'nothing asked for the redirect\'s target')
})

t.test('one deadline covers the headers and the body; the caller\'s signal aborts with its own reason', async (t) => {
  const silent = await receiver(t, () => {})
  const client = outboundClient({ allowPrivate: true })
  await t.rejects(client.post({ ...post, url: silent.url, timeoutMs: 150 }),
    new OutboundFailed('webhook.timeout', 'no complete answer within 150 ms'))
  const trickle = await receiver(t, (_req, res) => {
    res.writeHead(200)
    res.write('part of a body')
  })
  await t.rejects(client.post({ ...post, url: trickle.url, timeoutMs: 150 }), { code: 'webhook.timeout' },
    'headers came, the body did not end')
  const controller = new AbortController()
  const reason = new Error('the node is shutting down')
  const pending = client.post({ ...post, url: silent.url, timeoutMs: 10_000, signal: controller.signal })
  controller.abort(reason)
  await t.rejects(pending, reason)
  await t.rejects(client.post({ ...post, url: silent.url, signal: AbortSignal.abort(reason) }), reason, 'aborted before it started')
  const gone = createServer()
  await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve))
  const port = (gone.address() as AddressInfo).port
  await new Promise((resolve) => gone.close(resolve))
  await t.rejects(client.post({ ...post, url: `http://127.0.0.1:${port}/` }), { code: 'webhook.connection_failed' }, 'nothing listening')
})

t.test('at most 64 KiB of an answer is read; the excerpt is its first 1 KiB, never a cut character', async (t) => {
  let chunksWritten = 0
  // Writes for as long as it is read: without the cap the delivery would wait for its deadline.
  const endless = await receiver(t, (_req, res) => {
    res.writeHead(200)
    const chunk = Buffer.alloc(16 * 1024, 'x')
    const write = (): void => {
      let room = true
      while (!res.destroyed && room) {
        room = res.write(chunk)
        chunksWritten++
      }
      if (!res.destroyed) res.once('drain', write)
    }
    write()
  })
  const client = outboundClient({ allowPrivate: true })
  const answer = await client.post({ ...post, url: endless.url, timeoutMs: 30_000 })
  t.equal(answer.status, 200)
  t.equal(answer.excerpt, 'x'.repeat(EXCERPT_BYTES))
  t.ok(chunksWritten > 4, 'the receiver wrote more than 64 KiB before it was cut off')

  const bodies = [
    ['', ''], ['short', 'short'], ['y'.repeat(EXCERPT_BYTES - 1), 'y'.repeat(EXCERPT_BYTES - 1)],
    ['y'.repeat(EXCERPT_BYTES), 'y'.repeat(EXCERPT_BYTES)], ['y'.repeat(EXCERPT_BYTES + 1), 'y'.repeat(EXCERPT_BYTES)],
    // '€' is 3 bytes: one cut by the 1 KiB boundary is left out, one that fits is kept.
    [`${'y'.repeat(EXCERPT_BYTES - 1)}€`, 'y'.repeat(EXCERPT_BYTES - 1)],
    [`${'y'.repeat(EXCERPT_BYTES - 3)}€z`, `${'y'.repeat(EXCERPT_BYTES - 3)}€`]
  ]
  const fixed = await receiver(t, (req, res) => res.end(bodies[Number(req.url!.slice(1))]![0]))
  for (const [index, [, excerpt]] of bodies.entries()) {
    t.equal((await client.post({ ...post, url: `${fixed.url}/${index}` })).excerpt, excerpt, `body ${index}`)
  }
})

t.test('Retry-After reads as delay-seconds or an HTTP date', async (t) => {
  const now = new Date('2026-03-01T12:00:00.000Z')
  t.equal(retryAfterMs('120', now), 120_000)
  t.equal(retryAfterMs(' 0 ', now), 0)
  t.equal(retryAfterMs('Sun, 01 Mar 2026 12:05:00 GMT', now), 300_000)
  t.equal(retryAfterMs('Sun, 01 Mar 2026 11:00:00 GMT', now), 0, 'a date past is now')
  for (const value of [undefined, '', 'soon', '-5', '1.5']) t.equal(retryAfterMs(value, now), undefined, String(value))
})

t.test('a kept connection the receiver dropped is tried again once on a new one; a new connection that fails is not', async (t) => {
  // A receiver speaking raw HTTP/1.1: the first request on a connection is answered with keep-alive; a second one on the same
  // connection finds it closed (the receiver let it go idle), as when its idle timeout and the next delivery cross.
  const connections: string[][] = []
  const server = createNetServer((socket) => {
    const seen: string[] = []
    connections.push(seen)
    let buffered = ''
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1')
      for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
        const head = buffered.slice(0, end)
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0)
        if (buffered.length < end + 4 + length) return
        seen.push(buffered.slice(end + 4, end + 4 + length))
        buffered = buffered.slice(end + 4 + length)
        if (seen.length === 1 && !dropFirst) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok')
        else socket.resetAndDestroy()
      }
    })
  })
  let dropFirst = false
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  const client = outboundClient({ allowPrivate: true })
  t.match(await client.post({ ...post, url, body: 'one' }), { status: 200, excerpt: 'ok' })
  t.match(await client.post({ ...post, url, body: 'two' }), { status: 200, excerpt: 'ok' },
    'the second, after its kept connection was dropped')
  t.same(connections, [['one', 'two'], ['two']], 'sent on the kept connection, then once more on a new one')
  dropFirst = true
  connections.length = 0
  const fresh = outboundClient({ allowPrivate: true })
  await t.rejects(fresh.post({ ...post, url, body: 'three' }), { code: 'webhook.connection_failed' },
    'a new connection reset: an attempt failed')
  t.same(connections, [['three']], 'not sent again: the receiver may have seen it')
})
