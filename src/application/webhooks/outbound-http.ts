/**
 * The HTTP client every outbound webhook delivery goes through, guarded
 * against server-side request forgery: an organization chooses the URL, and
 * without a guard it could make Ledgerline POST to its own loopback, the
 * private network around it, or the cloud's metadata service.
 *
 * - The URL: http or https, no credentials, port 80, 443 or 1024 and up
 *   (nothing is posted to a mail or SSH server); else `webhook.url_invalid`.
 * - The address: a literal IP is checked before anything is sent; a name is
 *   checked when the socket connects, through the `lookup` node:http hands
 *   to net.connect, so what is checked is the address connected to: a name
 *   that answers a public address first and a private one at connect time
 *   (DNS rebinding) is refused. Every address a name resolves to must pass.
 *   Refused: `webhook.target_forbidden`, naming the address class.
 * - No redirect is followed: a 3xx is an answer like any other.
 * - One deadline, `timeoutMs`, covers the lookup, the connection, the
 *   headers and the body; the caller's `signal` aborts too (its reason is
 *   thrown as it is, so a job's runner recognizes its own abort).
 * - At most 64 KiB of the answer is read; the excerpt is its first 1 KiB.
 *
 * `allowPrivate` (WEBHOOK_ALLOW_PRIVATE_TARGETS, which production's
 * preflight refuses) lifts the address check, for tests whose receivers
 * listen on 127.0.0.1; the URL rules still hold.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { BlockList, isIP } from 'node:net'

export interface OutboundRequest { url: string, headers: Record<string, string>, body: string, timeoutMs: number, signal?: AbortSignal }
export interface OutboundResponse { status: number, headers: Record<string, string>, excerpt: string, durationMs: number }
export interface OutboundClient { post (request: OutboundRequest): Promise<OutboundResponse> }

/**
 * Refused before sending: `webhook.url_invalid` (not http(s), credentials in URL, bad port) or `webhook.target_forbidden` (address
 * class). Permanent: retrying the same URL cannot succeed.
 */
export class OutboundRefused extends Error {
  readonly permanent = true
  constructor (readonly code: 'webhook.url_invalid' | 'webhook.target_forbidden', message: string) {
    super(message)
    this.name = 'OutboundRefused'
  }
}

/** The request was sent (or being sent) and got no complete answer: worth retrying. */
export class OutboundFailed extends Error {
  constructor (readonly code: 'webhook.timeout' | 'webhook.connection_failed', message: string) {
    super(message)
    this.name = 'OutboundFailed'
  }
}

/** The default deadline of a delivery, as Svix's. */
export const DELIVERY_TIMEOUT_MS = 15_000
/** How much of an answer is read; the rest is left unread and the connection closed. */
export const RESPONSE_LIMIT_BYTES = 64 * 1024
/** How much of it is kept: what an attempt shows. */
export const EXCERPT_BYTES = 1024

type Lookup = typeof dnsLookup
type Transport = (url: URL, options: RequestOptions) => ClientRequest

/**
 * Address classes no delivery may reach, most specific first (the metadata addresses sit inside link-local, CGNAT and unique
 * local ranges; broadcast inside reserved).
 */
const FORBIDDEN: ReadonlyArray<readonly [reason: string, cidr: string]> = [
  ['cloud metadata', '169.254.169.254/32'],
  ['cloud metadata', '100.100.100.200/32'],
  ['cloud metadata', 'fd00:ec2::254/128'],
  ['unspecified', '0.0.0.0/8'],
  ['unspecified', '::/128'],
  ['loopback', '127.0.0.0/8'],
  ['loopback', '::1/128'],
  ['private', '10.0.0.0/8'],
  ['private', '172.16.0.0/12'],
  ['private', '192.168.0.0/16'],
  ['private', 'fc00::/7'],
  ['private', 'fec0::/10'],
  ['link-local', '169.254.0.0/16'],
  ['link-local', 'fe80::/10'],
  ['carrier-grade NAT', '100.64.0.0/10'],
  ['multicast', '224.0.0.0/4'],
  ['multicast', 'ff00::/8'],
  ['broadcast', '255.255.255.255/32'],
  ['reserved', '240.0.0.0/4'],
  ['reserved', '192.0.0.0/24'],
  ['reserved', '192.0.2.0/24'],
  ['reserved', '198.18.0.0/15'],
  ['reserved', '198.51.100.0/24'],
  ['reserved', '203.0.113.0/24'],
  ['reserved', '2001:db8::/32'],
  ['reserved', '100::/64']
]

const RULES = FORBIDDEN.map(([reason, cidr]) => {
  const [network, prefix] = cidr.split('/') as [string, string]
  const family = isIP(network) === 4 ? 'ipv4' : 'ipv6'
  const list = new BlockList()
  list.addSubnet(network, Number(prefix), family)
  return { reason, family, list }
})

/**
 * IPv6 forms that carry an IPv4 address, which is what they end up reaching: IPv4-mapped (::ffff:0:0/96), IPv4-compatible
 * (::/96), NAT64 (64:ff9b::/96 and the local 64:ff9b:1::/48), 6to4 (2002::/16) and Teredo (2001::/32, the client's address
 * inverted in the last 32 bits).
 */
function embeddedIpv4 (bytes: Uint8Array): { kind: string, ipv4: string } | undefined {
  const words = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!)
  const last32 = (invert = false): string => [12, 13, 14, 15].map((i) => (invert ? 255 - bytes[i]! : bytes[i]!)).join('.')
  const zeros = (from: number, to: number): boolean => words.slice(from, to).every((word) => word === 0)
  if (zeros(0, 5) && words[5] === 0xffff) return { kind: 'IPv4-mapped', ipv4: last32() }
  if (zeros(0, 6) && !zeros(6, 8)) return { kind: 'IPv4-compatible', ipv4: last32() }
  if (words[0] === 0x64 && words[1] === 0xff9b && (zeros(2, 6) || words[2] === 1)) return { kind: 'NAT64', ipv4: last32() }
  if (words[0] === 0x2002) return { kind: '6to4', ipv4: [2, 3, 4, 5].map((i) => bytes[i]!).join('.') }
  if (words[0] === 0x2001 && words[1] === 0) return { kind: 'Teredo', ipv4: last32(true) }
  return undefined
}

/** Why an address may not be reached, or undefined when it may. */
export function forbiddenAddress (ip: string): string | undefined {
  const address = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '')
  const version = isIP(address)
  if (version === 0) return 'not an IP address'
  const family = version === 4 ? 'ipv4' : 'ipv6'
  const rule = RULES.find((candidate) => candidate.family === family && candidate.list.check(address, family))
  if (rule !== undefined) return rule.reason
  if (version === 4) return undefined
  const embedded = embeddedIpv4(ipv6Bytes(address))
  const inner = embedded === undefined ? undefined : forbiddenAddress(embedded.ipv4)
  return inner === undefined ? undefined : `${inner} (${embedded!.kind} ${embedded!.ipv4})`
}

/** The 16 bytes of a valid IPv6 address (`::` expanded, a trailing dotted IPv4 included). */
function ipv6Bytes (address: string): Uint8Array {
  let text = address.toLowerCase()
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted !== null) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number]
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined]
  const words = (part: string | undefined): number[] =>
    (part === undefined || part === '' ? [] : part.split(':').map((word) => parseInt(word, 16)))
  const left = words(head)
  const right = words(tail)
  const all = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right]
  return Uint8Array.from(all.flatMap((word) => [word >> 8, word & 0xff]))
}

/**
 * The URL a delivery may be sent to, or OutboundRefused: http(s), no credentials, a usable port, and (unless private targets are
 * allowed) no forbidden literal IP.
 */
export function targetUrl (raw: string, options: { allowPrivate: boolean }): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new OutboundRefused('webhook.url_invalid', 'the URL cannot be parsed')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new OutboundRefused('webhook.url_invalid', `the URL must be http or https, not ${url.protocol.slice(0, 20)}`)
  }
  if (url.username !== '' || url.password !== '') throw new OutboundRefused('webhook.url_invalid', 'the URL must not carry credentials')
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)
  if (port !== 80 && port !== 443 && port < 1024) {
    throw new OutboundRefused('webhook.url_invalid', `port ${port} is refused: use 80, 443, or 1024 and up`)
  }
  const literal = url.hostname.replace(/^\[|\]$/g, '')
  const reason = options.allowPrivate || isIP(literal) === 0 ? undefined : forbiddenAddress(literal)
  if (reason !== undefined) throw forbidden(literal, reason)
  return url
}

/**
 * The URL checked as a delivery would be, its name resolved now: for refusing an endpoint when it is registered. A delivery
 * checks again when it connects, since the name may resolve elsewhere by then.
 */
export async function checkTarget (
  raw: string, options: { allowPrivate: boolean, lookup?: typeof import('node:dns').lookup }
): Promise<URL> {
  const url = targetUrl(raw, options)
  const name = url.hostname.replace(/^\[|\]$/g, '')
  if (options.allowPrivate || isIP(name) !== 0) return url
  const lookup = guardedLookup(options.lookup ?? dnsLookup)
  await new Promise<void>((resolve, reject) => {
    lookup(name, { all: true }, (error) => (error === null ? resolve() : reject(error instanceof OutboundRefused ? error : failure(error))))
  })
  return url
}

function forbidden (address: string, reason: string): OutboundRefused {
  return new OutboundRefused('webhook.target_forbidden', `${address} may not be reached: ${reason}`)
}

/**
 * A lookup for net.connect that refuses a name resolving to any forbidden address. It answers in the form asked (`all` or one
 * address), so it serves connections with and without family autoselection alike.
 */
function guardedLookup (lookup: Lookup): Lookup {
  const guarded = (hostname: string, options: object, callback: (...args: unknown[]) => void): void => {
    lookup(hostname, { ...options, all: true as const }, (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => {
      if (error !== null) return callback(error)
      const found = addresses.map((entry) => ({ entry, reason: forbiddenAddress(entry.address) })).find((item) => item.reason !== undefined)
      if (found !== undefined) return callback(forbidden(`${hostname} (${found.entry.address})`, found.reason!))
      if (addresses.length === 0) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }))
      if ((options as { all?: boolean }).all === true) return callback(null, addresses)
      callback(null, addresses[0]!.address, addresses[0]!.family)
    })
  }
  return guarded as unknown as Lookup
}

export function outboundClient (options: { allowPrivate: boolean, lookup?: typeof import('node:dns').lookup }): OutboundClient {
  const lookup = options.allowPrivate ? (options.lookup ?? dnsLookup) : guardedLookup(options.lookup ?? dnsLookup)
  // Connections are kept for the next delivery to the same receiver; each was checked when it connected.
  const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) }
  return {
    async post (request) {
      const url = targetUrl(request.url, options)
      const secure = url.protocol === 'https:'
      const transport = secure ? httpsRequest : httpRequest
      const agent = secure ? agents.https : agents.http
      const started = performance.now()
      try {
        return await send(url, request, transport, agent, lookup)
      } catch (error) {
        // A kept connection the receiver closed while idle fails before any answer (ECONNRESET, EPIPE): nothing reached the
        // receiver's handler, so it is sent once more on a new connection, within what is left of the deadline, as
        // node:http's documentation advises, rather than spending one of the message's attempts on it.
        if (!(error instanceof StaleConnection)) throw error
        const left = request.timeoutMs - (performance.now() - started)
        if (left <= 0) throw error.failure
        return await send(url, { ...request, timeoutMs: left }, transport, agent, lookup, false)
      }
    }
  }
}

/** A kept connection that failed before any answer came back: `post` tries again once on a new one. */
class StaleConnection extends Error {
  constructor (readonly failure: OutboundFailed) {
    super(failure.message)
  }
}

const STALE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED'])

function send (
  url: URL, request: OutboundRequest, transport: Transport, agent: HttpAgent, lookup: Lookup, mayReuse = true
): Promise<OutboundResponse> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const body = Buffer.from(request.body, 'utf8')
    const headers = { ...request.headers, 'content-length': String(body.length) }
    // The second try of a stale connection opens a new one (no agent: nothing kept to reuse).
    const req = transport(url, { method: 'POST', headers, agent: mayReuse ? agent : false, lookup })
    req.on('error', (error) => {
      if (error instanceof OutboundRefused) return finish(error)
      const stale = mayReuse && req.reusedSocket && response === undefined && STALE_CODES.has((error as NodeJS.ErrnoException).code ?? '')
      finish(stale ? new StaleConnection(failure(error)) : failure(error))
    })
    let response: IncomingMessage | undefined
    let settled = false
    /** Settles once; unless the answer was read to its end (the connection goes back to the pool), the connection is closed. */
    const finish = (error: unknown, value?: OutboundResponse, complete = false): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      request.signal?.removeEventListener('abort', onAbort)
      if (error === undefined) resolve(value!)
      else reject(error)
      if (complete) return
      response?.destroy()
      req.destroy()
    }
    const timer = setTimeout(() => finish(new OutboundFailed('webhook.timeout', `no complete answer within ${request.timeoutMs} ms`)),
      request.timeoutMs)
    const onAbort = (): void => finish(request.signal!.reason)
    if (request.signal?.aborted === true) return finish(request.signal.reason)
    request.signal?.addEventListener('abort', onAbort, { once: true })
    req.on('response', (res) => {
      response = res
      const chunks: Buffer[] = []
      let bytes = 0
      const answer = (complete: boolean): void => finish(undefined, {
        status: res.statusCode ?? 0,
        headers: headersOf(res),
        // A character cut at the 1 KiB boundary is left out rather than shown broken.
        excerpt: new TextDecoder('utf-8').decode(Buffer.concat(chunks).subarray(0, EXCERPT_BYTES), { stream: true }),
        durationMs: performance.now() - started
      }, complete)
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        bytes += chunk.length
        if (bytes >= RESPONSE_LIMIT_BYTES) answer(false)
      })
      res.on('end', () => answer(true))
      res.on('error', (error) => finish(failure(error)))
    })
    req.end(body)
  })
}

function failure (error: Error): OutboundFailed {
  const code = (error as NodeJS.ErrnoException).code
  return new OutboundFailed('webhook.connection_failed', `${code === undefined ? '' : `${code}: `}${error.message}`.slice(0, 500))
}

/** The answer's headers, names in lower case (as node:http gives them), repeated ones joined. */
function headersOf (res: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(res.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
  }
  return headers
}

/**
 * A Retry-After header's wait in milliseconds (delay-seconds or an HTTP date, RFC 9110 §10.2.3), or undefined when absent or
 * unreadable; a date in the past is 0.
 */
export function retryAfterMs (value: string | undefined, now: Date): number | undefined {
  if (value === undefined) return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  const at = Date.parse(text)
  return Number.isNaN(at) || !/[a-z]/i.test(text) ? undefined : Math.max(0, at - now.getTime())
}
