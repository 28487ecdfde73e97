/**
 * Garbage in, problem+json out. fast-check feeds every route the app has
 * (read from its own OpenAPI document, checked against the router so that
 * nothing hides) junk path parameters and query strings, wrong types, huge
 * strings, deep nesting, invalid JSON, unknown fields, wrong content types and
 * bad tokens. Every answer must be a 4xx problem+json whose `status` is the
 * HTTP status (a 2xx only where the token was valid, or the route is public,
 * and the input happened to be valid), never a 5xx, and the server must still
 * answer afterwards. A handful of raw requests go through a real listening
 * server, so Node's HTTP parser sees the invalid JSON, huge and deep bodies too.
 *
 * The bugs it found (router and HTTP-parser errors that were not problems, a
 * 500 on deeply nested bodies) are fixed and pinned by single-request tests
 * at the end.
 */
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import fc from 'fast-check'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { addMember, bootstrap, changeUser, createToken, registerUser, revokeToken } from '../src/application/identity/commands.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { BODY_LIMIT, buildApp } from '../src/http/app.ts'
import { comparePositions, formatPosition, parsePosition } from '../src/eventstore/position.ts'
import { openRuntime, type Runtime } from '../src/runtime.ts'
import type { SqlClient } from '../src/sql/client.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { documentedRoutes, routeKey, routerRoutes } from './helpers/routes.ts'

const logger = pino({ level: 'silent' })
/** fast-check runs per route; GARBAGE_RUNS raises it for a longer soak. */
const RUNS = Number(process.env.GARBAGE_RUNS ?? 50)
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PROPFIND', 'SEARCH']

// ---------------------------------------------------------------------------
// The routes, from the app itself
// ---------------------------------------------------------------------------

/** The subset of JSON Schema the OpenAPI document uses. */
interface Schema {
  type?: string | string[]
  enum?: unknown[]
  const?: unknown
  properties?: Record<string, Schema>
  required?: string[]
  additionalProperties?: boolean | Schema
  propertyNames?: Schema
  items?: Schema
  minItems?: number
  maxItems?: number
  minLength?: number
  maxLength?: number
  pattern?: string
  format?: string
  minimum?: number
  maximum?: number
  anyOf?: Schema[]
  oneOf?: Schema[]
}

interface Operation {
  parameters?: Array<{ in: string, name: string, required?: boolean, schema: Schema }>
  requestBody?: { content: Record<string, { schema: Schema }> }
  security?: unknown[]
}

interface Route {
  method: string
  /** Fastify's form: /v1/orgs/:orgId */
  url: string
  operation: Operation
  /** No bearer token needed. */
  public: boolean
}

/**
 * The routes under test: every operation of GET /openapi.json, plus the HEAD
 * twin Fastify adds to each GET. Left out, and only these: the Swagger UI's
 * static assets under /docs and /openapi.json itself (third-party plugin
 * routes serving fixed documents, with no input of ours).
 */
async function routesUnderTest (app: FastifyInstance): Promise<Route[]> {
  return (await documentedRoutes<Operation>(app)).map((route) => ({ ...route, public: route.operation.security === undefined }))
}

const excluded = (url: string): boolean => url === '/openapi.json' || url === '/docs' || url.startsWith('/docs/')
const key = routeKey

// ---------------------------------------------------------------------------
// A world to throw garbage at
// ---------------------------------------------------------------------------

interface Principal { userId: string, token: string, tokenId: string, admin: boolean }

interface World {
  runtime: Runtime
  app: FastifyInstance
  routes: Route[]
  admin: Principal
  other: Principal
  memberId: string
  orgIds: string[]
  revokedToken: string
  revokedTokenId: string
  /** Garbage that happened to be valid may revoke a token or demote the admin; this puts things back. */
  keepValid(): Promise<void>
}

const tokenIdOf = (token: string): string => token.split('_')[1]!

async function world (t: Test, sql: SqlClient): Promise<World> {
  const config = loadConfig({ NODE_ENV: 'test', LOGIN_RATE_LIMIT_PER_MINUTE: '10000', CONSISTENCY_TIMEOUT_MS: '1000' })
  const runtime = await openRuntime(config, logger, { sql, runProjections: true })
  t.teardown(() => runtime.close())
  const app = await buildApp(runtime)
  t.teardown(() => app.close())
  const services = runtime.identity
  const a = await bootstrap(services, systemCommand('garbage-test'), { email: 'admin@example.com', orgName: 'Garbage Inc', platformAdmin: true })
  const b = await bootstrap(services, systemCommand('garbage-test'), { email: 'other@example.com', orgName: 'Elsewhere Ltd' })
  const member = await registerUser(services, systemCommand('garbage-test'), { email: 'member@example.com', displayName: 'Member' })
  await addMember(services, { ...systemCommand('garbage-test'), actor: { type: 'user', id: a.userId } }, a.orgId, { userId: member.userId, roles: ['member'] })
  const revoked = await createToken(services, systemCommand('garbage-test'), a.userId, { name: 'revoked', kind: 'api' })
  const last = await revokeToken(services, systemCommand('garbage-test'), a.userId, revoked.tokenId)
  await runtime.runner.waitFor(parsePosition(last.position!)!, 10_000)

  const admin: Principal = { userId: a.userId, token: a.token, tokenId: tokenIdOf(a.token), admin: true }
  const other: Principal = { userId: b.userId, token: b.token, tokenId: tokenIdOf(b.token), admin: false }
  return {
    runtime,
    app,
    routes: await routesUnderTest(app),
    admin,
    other,
    memberId: member.userId,
    orgIds: [a.orgId, b.orgId],
    revokedToken: revoked.token,
    revokedTokenId: revoked.tokenId,
    async keepValid () {
      for (const principal of [admin, other]) {
        let current = await services.directory.authenticate(principal.token)
        if (current === undefined) {
          await changeUser(services, systemCommand('garbage-test'), principal.userId, { type: 'EnableUser', data: {} }).catch(() => {})
          const fresh = await createToken(services, systemCommand('garbage-test'), principal.userId, { name: 'replacement', kind: 'api' })
          principal.token = fresh.token
          principal.tokenId = fresh.tokenId
          current = await services.directory.authenticate(principal.token)
        }
        if (current !== undefined && principal.admin && !current.platformAdmin) {
          await changeUser(services, systemCommand('garbage-test'), principal.userId, { type: 'SetStaffFlags', data: { platformAdmin: true, platformSupport: false } })
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 80 })

/** Percent-encodes everything but unreserved characters, through UTF-8 (lone surrogates become U+FFFD). */
function pct (text: string): string {
  let out = ''
  for (const byte of Buffer.from(text, 'utf8')) {
    const char = String.fromCharCode(byte)
    out += /[A-Za-z0-9\-._~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** Values of JSON Schema `schema` (near enough: the server's own checks may still refuse some). */
function valid (schema: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (schema === undefined) return fc.jsonValue({ maxDepth: 2 })
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum)
  if ('const' in schema) return fc.constant(schema.const)
  const alternatives = schema.anyOf ?? schema.oneOf
  if (alternatives !== undefined) return fc.oneof(...alternatives.map((alternative) => valid(alternative, depth + 1)))
  const types = Array.isArray(schema.type) ? schema.type : schema.type === undefined ? [] : [schema.type]
  if (types.length > 1) return fc.oneof(...types.map((type) => valid({ ...schema, type }, depth + 1)))
  switch (types[0]) {
    case 'string': {
      if (schema.format === 'email') return fc.emailAddress()
      if (schema.pattern !== undefined) return fc.stringMatching(new RegExp(schema.pattern))
      const minLength = schema.minLength ?? 0
      return fc.string({ minLength, maxLength: Math.max(minLength, Math.min(schema.maxLength ?? 40, 40)) })
    }
    case 'integer':
      return fc.integer({ min: Math.max(schema.minimum ?? -1e6, -1e6), max: Math.min(schema.maximum ?? 1e6, 1e6) })
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true })
    case 'boolean':
      return fc.boolean()
    case 'null':
      return fc.constant(null)
    case 'array':
      return fc.array(valid(schema.items, depth + 1), { minLength: schema.minItems ?? 0, maxLength: Math.max(schema.minItems ?? 0, Math.min(schema.maxItems ?? 4, 4)) })
    case 'object': {
      if (schema.properties === undefined || Object.keys(schema.properties).length === 0) {
        const values = typeof schema.additionalProperties === 'object' ? valid(schema.additionalProperties, depth + 1) : fc.jsonValue({ maxDepth: 1 })
        const keys = schema.propertyNames === undefined ? fc.string({ minLength: 1, maxLength: 20 }) : valid(schema.propertyNames, depth + 1) as fc.Arbitrary<string>
        return fc.dictionary(keys, values, { maxKeys: 5 })
      }
      const required = new Set(schema.required ?? [])
      const shape: Record<string, fc.Arbitrary<unknown>> = {}
      for (const [name, property] of Object.entries(schema.properties)) shape[name] = valid(property, depth + 1)
      return fc.record(shape, { requiredKeys: [...required] })
    }
    default:
      return fc.jsonValue({ maxDepth: 2 })
  }
}

const asObject = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : {}

const wrongValue = fc.oneof(
  fc.anything({ maxDepth: 3 }),
  fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, -1e308, '', ' ', '\u0000', '\ud800', [], {}, [[]], { '': null }, 'x'.repeat(10_000))
)

/** Valid bodies and bodies one step from valid: a field of the wrong type, one missing, one huge, one unknown. */
function nearValid (schema: Schema): fc.Arbitrary<unknown> {
  const base = valid(schema)
  const fields = Object.keys(schema.properties ?? {})
  const variants: Array<fc.Arbitrary<unknown>> = [
    base,
    fc.tuple(base, printable, fc.jsonValue({ maxDepth: 2 })).map(([body, name, value]) => ({ ...asObject(body), [name]: value })),
    fc.tuple(base, fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '$ref', ''), fc.jsonValue({ maxDepth: 1 }))
      .map(([body, name, value]) => ({ ...asObject(body), [name]: value }))
  ]
  if (fields.length > 0) {
    const field = fc.constantFrom(...fields)
    variants.push(
      fc.tuple(base, field, wrongValue).map(([body, name, value]) => ({ ...asObject(body), [name]: value })),
      fc.tuple(base, field).map(([body, name]) => { const copy = { ...asObject(body) }; delete copy[name]; return copy }),
      fc.tuple(base, field, fc.integer({ min: 1_000, max: 200_000 })).map(([body, name, length]) => ({ ...asObject(body), [name]: 'é'.repeat(length) })),
      fc.tuple(base, field).map(([body, name]) => ({ ...asObject(body), [name]: [asObject(body)[name]] }))
    )
  }
  return fc.oneof(...variants)
}

/** A request as generated, before it is sent. */
interface Garbage {
  method: string
  path: string
  query: string
  tokenKind: 'admin' | 'other' | 'none' | 'revoked' | 'unknown' | 'junk'
  /** The Authorization header when tokenKind is junk. */
  junk: string
  contentType: string | undefined
  body: string | undefined
  idempotencyKey: string | undefined
  consistentWith: string | undefined
  /** Other headers the server reads or might: tracing, request id, negotiation, encodings. */
  extraHeaders: Record<string, string>
}

function bodyFor (route: Route): fc.Arbitrary<string | undefined> {
  const schema = route.operation.requestBody?.content['application/json']?.schema
  const nested = fc.tuple(fc.integer({ min: 10, max: 20_000 }), fc.constantFrom('[', '{"a":', '{"a":[')).map(([depth, open]) => {
    const close = open === '[' ? ']' : open === '{"a":' ? '}' : ']}'
    return open.repeat(depth) + (open === '[' ? '' : '1') + close.repeat(depth)
  })
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 3, arbitrary: fc.anything({ maxDepth: 4 }).map((value) => JSON.stringify(value)) },
    { weight: 2, arbitrary: fc.json({ maxDepth: 4 }) },
    // invalid JSON: random text, truncated JSON, classics
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    { weight: 1, arbitrary: fc.json({ maxDepth: 3 }).filter((text) => text.length > 1).map((text) => text.slice(0, -1)) },
    { weight: 1, arbitrary: fc.constantFrom('{', '}', '{"a":}', "{'a':1}", 'NaN', 'undefined', '[1,]', '{"a":1}{"b":2}', '\u0000', '\ufeff{}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '') },
    // deep nesting, balanced and not
    { weight: 2, arbitrary: nested },
    { weight: 1, arbitrary: nested.map((text) => text.slice(0, Math.ceil(text.length / 2))) },
    // around and over the 1 MiB body limit
    { weight: 1, arbitrary: fc.integer({ min: BODY_LIMIT - 1_000, max: 2 * BODY_LIMIT }).map((length) => JSON.stringify({ name: 'x'.repeat(length), email: 'x'.repeat(length) })) },
    // close to what the route wants
    { weight: schema === undefined ? 1 : 6, arbitrary: (schema === undefined ? fc.jsonValue({ maxDepth: 3 }) : nearValid(schema)).map((value) => JSON.stringify(value)) }
  )
}

function segmentFor (world: World, name: string, schema: Schema): fc.Arbitrary<string> {
  const real: Array<() => string[]> = []
  if (name === 'orgId') real.push(() => world.orgIds)
  if (name === 'userId') real.push(() => [world.admin.userId, world.other.userId, world.memberId])
  if (name === 'tokenId') real.push(() => [world.admin.tokenId, world.other.tokenId, world.revokedTokenId])
  if (schema.enum !== undefined) real.push(() => schema.enum!.map(String))
  const realIds = real.length === 0
    ? valid(schema).map((value) => pct(String(value)))
    : fc.tuple(fc.nat(), fc.constantFrom(...real)).map(([index, pool]) => { const values = pool(); return pct(values[index % values.length]!) })
  return fc.oneof(
    { weight: 4, arbitrary: realIds },
    { weight: 2, arbitrary: valid(schema).map((value) => pct(String(value))) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }).map(pct) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 150, maxLength: 1_500 }).map(pct) },
    { weight: 1, arbitrary: fc.constantFrom('..', '.', '%2e%2e', '%2F', '%2f..%2f', '%00', '%zz', '%', '%%', '%E0%A4%A', '%C0%AF', '%FF%FE', '~', ';', ',', '*', '$', "'", '%20', '+', '') },
    { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 30 }).map((bytes) => bytes.map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('')) }
  )
}

function queryFor (route: Route): fc.Arbitrary<string> {
  const parameters = (route.operation.parameters ?? []).filter((parameter) => parameter.in === 'query')
  const name = parameters.length === 0 ? printable : fc.oneof(fc.constantFrom(...parameters.map((parameter) => parameter.name)), printable)
  const value = fc.oneof(
    ...parameters.map((parameter) => valid(parameter.schema).map(String)),
    printable,
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.integer({ min: 500, max: 20_000 }).map((length) => '9'.repeat(length)),
    fc.constantFrom('', '-1', '0', '1e3', '0x10', 'NaN', 'Infinity', '[]', '{}', 'null', 'true')
  )
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant('') },
    { weight: 4, arbitrary: fc.array(fc.tuple(name, value), { maxLength: 5 }).map((pairs) => `?${pairs.map(([k, v]) => `${pct(k)}=${pct(v)}`).join('&')}`) },
    { weight: 1, arbitrary: printable.map((text) => `?${text.replace(/[#\s]/g, '')}`) },
    { weight: 1, arbitrary: fc.constantFrom('?', '??', '?&&&', '?=', '?a', '?a[b]=1', '?a[]=1&a[]=2', '?limit=1&limit=2', '?%zz=%zz', '?cursor=%00', '?__proto__[x]=1') }
  )
}

function garbageFor (world: World, route: Route): fc.Arbitrary<Garbage> {
  const pathParameters = (route.operation.parameters ?? []).filter((parameter) => parameter.in === 'path')
  const segments = Object.fromEntries(pathParameters.map((parameter) => [parameter.name, segmentFor(world, parameter.name, parameter.schema)]))
  const path = (Object.keys(segments).length === 0 ? fc.constant({}) : fc.record(segments))
    .map((values: Record<string, string>) => route.url.replace(/:(\w+)/g, (_whole, name: string) => values[name] ?? ''))
  return fc.record({
    method: fc.oneof({ weight: 9, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
    path,
    query: queryFor(route),
    tokenKind: fc.constantFrom('admin', 'admin', 'admin', 'other', 'none', 'revoked', 'unknown', 'junk') as fc.Arbitrary<Garbage['tokenKind']>,
    junk: fc.oneof(printable, printable.map((text) => `Bearer ${text}`), fc.constantFrom('Bearer', 'Bearer ', 'Basic YTpi', `Bearer ll_${'a'.repeat(16)}_${'A'.repeat(43)} extra`), fc.integer({ min: 500, max: 5_000 }).map((length) => `Bearer ${'A'.repeat(length)}`)),
    contentType: fc.oneof(
      { weight: 8, arbitrary: fc.constant('application/json') },
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 3, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'APPLICATION/JSON', 'application/problem+json', 'application/json; charset=utf-16', 'text/plain', 'text/html',
        'application/x-www-form-urlencoded', 'multipart/form-data; boundary=xyz', 'application/octet-stream', '*/*', ';', 'application/', 'json') },
      { weight: 1, arbitrary: printable }
    ),
    body: bodyFor(route),
    idempotencyKey: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.uuid() }, { weight: 1, arbitrary: printable }),
    // Positions the log has reached, and text that is not a position. (One beyond the head is waited for: see the 504 test.)
    consistentWith: fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom('0.0', '1.', '.1', '1.2.3', '-1.0', '1e3.0', '0x1.0', ' ', '', `${'9'.repeat(21)}.0`, '0.0, 0.0') },
      { weight: 1, arbitrary: printable.filter((text) => parsePosition(text) === undefined) }
    ),
    extraHeaders: fc.dictionary(
      fc.constantFrom('accept', 'accept-encoding', 'accept-charset', 'content-encoding', 'traceparent', 'tracestate', 'x-request-id', 'user-agent', 'x-forwarded-for', 'forwarded', 'expect', 'if-none-match', 'range', 'origin'),
      fc.oneof(printable, fc.integer({ min: 1_000, max: 20_000 }).map((length) => 'a'.repeat(length)), fc.constantFrom('gzip', 'br', 'deflate', 'identity', '*/*', 'application/xml', '100-continue', 'bytes=0-1')),
      { maxKeys: 3 }
    )
  })
}

// ---------------------------------------------------------------------------
// Sending and judging
// ---------------------------------------------------------------------------

function authorizationFor (world: World, kind: Garbage['tokenKind'], junk: string): string | undefined {
  switch (kind) {
    case 'admin': return `Bearer ${world.admin.token}`
    case 'other': return `Bearer ${world.other.token}`
    case 'none': return undefined
    case 'revoked': return `Bearer ${world.revokedToken}`
    case 'unknown': return `Bearer ll_${'a'.repeat(16)}_${'A'.repeat(43)}`
    case 'junk': return junk
  }
}

function injectOptions (world: World, garbage: Garbage): InjectOptions {
  const headers: Record<string, string> = { ...garbage.extraHeaders }
  const authorization = authorizationFor(world, garbage.tokenKind, garbage.junk)
  if (authorization !== undefined) headers.authorization = authorization
  if (garbage.contentType !== undefined) headers['content-type'] = garbage.contentType
  if (garbage.idempotencyKey !== undefined) headers['idempotency-key'] = garbage.idempotencyKey
  if (garbage.consistentWith !== undefined) headers['x-consistent-with'] = garbage.consistentWith
  return {
    method: garbage.method as InjectOptions['method'],
    url: garbage.path + garbage.query,
    headers,
    ...(garbage.body === undefined ? {} : { payload: garbage.body })
  }
}

/** What a response looked like, for the verdict: from app.inject or a raw socket alike. */
interface Answer { status: number, contentType: string, body: string }

const fromInject = (response: LightMyRequestResponse): Answer =>
  ({ status: response.statusCode, contentType: String(response.headers['content-type'] ?? ''), body: response.body })

/** What a request was, for the verdict and for known-bug matching. */
interface Sent { method: string, url: string, validToken: boolean, idempotencyKey?: string | undefined, body?: string | Buffer | undefined, route?: Route | undefined }

function parsed (answer: Answer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(answer.body)
    return value !== null && typeof value === 'object' ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/** Why `answer` breaks the contract, or undefined when it keeps it. */
function violation (sent: Sent, answer: Answer): string | undefined {
  const { status } = answer
  if (status >= 200 && status < 300) {
    if (sent.route?.public === true || sent.validToken) return undefined
    return `${status} without a valid token`
  }
  if (status < 400 || status > 499) return `status ${status}`
  if (!answer.contentType.startsWith('application/problem+json')) return `${status} with content-type ${answer.contentType}: ${answer.body.slice(0, 200)}`
  if (sent.method === 'HEAD') return answer.body === '' ? undefined : 'HEAD answered a body'
  const problem = parsed(answer)
  if (problem === undefined) return `${status} problem+json that is not a JSON object: ${answer.body.slice(0, 200)}`
  if (typeof problem.code !== 'string') return `${status} problem without a string code: ${answer.body.slice(0, 200)}`
  if (problem.status !== status) return `problem status ${String(problem.status)} on an HTTP ${status}`
  return undefined
}

function describe (sent: Sent, answer: Answer, headers?: Record<string, string>): string {
  const body = sent.body === undefined ? '(no body)' : `body (${sent.body.length} bytes): ${sent.body.toString().slice(0, 200)}`
  return `${sent.method} ${sent.url.slice(0, 300)} ${JSON.stringify(headers ?? {}).slice(0, 300)} ${body} → ${answer.status} ${answer.contentType} ${answer.body.slice(0, 300)}`
}

/** Judges one answer: undefined when it keeps the contract, else the reason with the request. */
function judge (sent: Sent, answer: Answer, headers?: Record<string, string>): string | undefined {
  const reason = violation(sent, answer)
  return reason === undefined ? undefined : `${reason}\n  request: ${describe(sent, answer, headers)}`
}

// ---------------------------------------------------------------------------
// Raw HTTP against a listening server
// ---------------------------------------------------------------------------

interface RawRequest { method: string, path: string, headers: Record<string, string>, body?: Buffer | string, chunked?: boolean }

/** One request through node:http; a server that answers before reading a huge body may reset the upload, which is fine. */
function send (port: number, request: RawRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // Framing is explicit: Node's client sends a GET or DELETE body unframed unless told its length or chunking.
    const body = request.body === undefined ? undefined : Buffer.from(request.body)
    const framing = body === undefined ? {} : request.chunked === true ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(body.length) }
    const req = httpRequest({ host: '127.0.0.1', port, method: request.method, path: request.path, headers: { ...request.headers, ...framing }, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error)
    })
    if (body !== undefined) {
      if (request.chunked === true) {
        for (let offset = 0; offset < body.length; offset += 64 * 1024) req.write(body.subarray(offset, offset + 64 * 1024))
      } else {
        req.write(body)
      }
    }
    req.end()
  })
}

/** Bytes straight onto a socket: what Node's HTTP parser itself refuses. */
function sendBytes (port: number, bytes: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', (error: NodeJS.ErrnoException) => { if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error) })
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const [head = '', ...rest] = text.split('\r\n\r\n')
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0)
      const contentType = /\r\ncontent-type: *([^\r]*)/i.exec(head)?.[1] ?? ''
      resolve({ status, contentType, body: rest.join('\r\n\r\n') })
    })
    socket.end(bytes)
  })
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

t.test('every route the router serves is in the OpenAPI document, so the garbage walk misses none', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test' }), logger, { sql })
    t.teardown(() => runtime.close())
    const app = await buildApp(runtime)
    t.teardown(() => app.close())
    const routes = await routesUnderTest(app)
    const served = routerRoutes(app).filter((route) => !excluded(route.url)).map(key).sort()
    const walked = routes.map(key).sort()
    t.ok(served.length >= 20, `the router listing parsed (${served.length} routes)`)
    t.same(served, walked, 'the router and the OpenAPI document (with HEAD twins) list the same routes')
  })
})

t.test('generated garbage to every route gets only 4xx problem+json, never a 5xx, and the server still answers afterwards', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await world(t, sql)
    let sentCount = 0

    const unknownRoute: Route = { method: 'GET', url: '/v1/:junk', operation: { parameters: [{ in: 'path', name: 'junk', schema: { type: 'string' } }] }, public: false }
    for (const route of [...w.routes, unknownRoute]) {
      const failure = await fc.assert(fc.asyncProperty(garbageFor(w, route), async (garbage) => {
        const options = injectOptions(w, garbage)
        const response = await w.app.inject(options)
        sentCount++
        const target = w.routes.find((candidate) => candidate.method === garbage.method && candidate.url === route.url)
        const sent: Sent = {
          method: garbage.method,
          url: String(options.url),
          validToken: garbage.tokenKind === 'admin' || garbage.tokenKind === 'other',
          idempotencyKey: garbage.idempotencyKey,
          body: garbage.body,
          route: target
        }
        const reason = judge(sent, fromInject(response), options.headers as Record<string, string>)
        if (response.statusCode < 300 && MUTATING.has(garbage.method)) await w.keepValid()
        if (reason !== undefined) throw new Error(reason)
      }), { numRuns: route === unknownRoute ? RUNS * 2 : RUNS, includeErrorInReport: true }).then(() => undefined, (error: Error) => error.message)
      t.equal(failure, undefined, `${key(route)}: ${RUNS} garbage requests answered within the contract`)
    }
    t.comment(`${sentCount} requests sent through app.inject`)

    await w.keepValid()
    t.equal((await w.app.inject('/healthz')).statusCode, 200, '/healthz still answers')
    const session = await w.app.inject({ url: '/v1/session', headers: { authorization: `Bearer ${w.admin.token}` } })
    t.equal(session.statusCode, 200, `GET /v1/session still works: ${session.body.slice(0, 200)}`)
    t.equal(session.json().user.userId, w.admin.userId)
  })
})

t.test('invalid JSON, 2 MB bodies, 10,000-level nesting and wrong content types through a real listening server get 4xx problem+json', async (t) => {
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
          const path = route.url.replace(/:(\w+)/g, (_whole, name: string) => name === 'orgId' ? w.orgIds[0]! : name === 'userId' ? w.memberId : name === 'role' ? 'viewer' : 'nonexistent')
          const headers: Record<string, string> = {}
          if (token !== undefined) headers.authorization = `Bearer ${token.token}`
          if (payload.contentType !== undefined) headers['content-type'] = payload.contentType
          const answer = await send(port, { method: route.method, path, headers, body: payload.body, ...(payload.chunked === true ? { chunked: true } : {}) })
          requests++
          const sent: Sent = { method: route.method, url: path, validToken: token !== undefined, body: payload.body, route }
          const reason = judge(sent, answer, headers)
          t.equal(reason, undefined, `${key(route)} with ${payload.name}${token === undefined ? ', no token' : ''}: ${answer.status}`)
          // Only where the body is read at all: a body on GET is ignored, and without a token the 401 comes first.
          if (payload.expect !== undefined && token !== undefined && MUTATING.has(route.method) && answer.status !== payload.expect) {
            t.fail(`${key(route)} with ${payload.name}: expected ${payload.expect}, got ${answer.status} ${answer.body.slice(0, 200)}`)
          }
          if (answer.status < 300 && MUTATING.has(route.method)) await w.keepValid()
        }
      }
    }
    // Paths the HTTP parser passes through untouched (app.inject would normalize them).
    for (const path of ['/v1/orgs/..', '/v1/orgs/../../etc/passwd', '/v1/orgs/%2e%2e/members', '/v1/orgs/./members', `/v1/orgs/${'%41'.repeat(100)}`, '/v1/orgs/a;b=c', '//v1//session', '/v1/session?%zz']) {
      const headers = { authorization: `Bearer ${w.admin.token}` }
      const answer = await send(port, { method: 'GET', path, headers })
      requests++
      t.equal(judge({ method: 'GET', url: path, validToken: true }, answer, headers), undefined, `GET ${path}: ${answer.status}`)
    }
    // What Node's parser refuses before Fastify sees it.
    const malformed = [
      'GET /v1/session HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n',
      'GET /v1/orgs/\u00e9\u4e2d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      `POST /v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${w.admin.token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":"x"}`,
      '\u0000\u0001garbage\r\n\r\n'
    ]
    for (const bytes of malformed) {
      const answer = await sendBytes(port, Buffer.from(bytes, 'utf8'))
      requests++
      t.equal(judge({ method: '?', url: '?', validToken: false }, answer), undefined, `malformed request ${JSON.stringify(bytes.slice(0, 40))}: ${answer.status}`)
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
    const w = await world(t, sql)
    const bearer = { authorization: `Bearer ${w.admin.token}` }

    await t.test('a position beyond the head of the log in X-Consistent-With is waited for, then answered 504 problem+json (documented; the one 5xx a caller can ask for)', async (t) => {
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
      t.equal((await w.app.inject({ url: '/v1/session', headers: { ...bearer, 'x-consistent-with': formatPosition(head) } })).statusCode, 200, 'a reached position answers at once')
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

// ---------------------------------------------------------------------------
// Every query parameter, path parameter and cursor of every GET route, one
// hostile value at a time (the routes and their parameters from /openapi.json)
// ---------------------------------------------------------------------------

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64url')

/** Values PostgreSQL refuses or that sit at the edge of what it takes, and values no parameter means. */
const HOSTILE = [
  '\u0000', 'a\u0000b', `${'a'.repeat(100)}\u0000`, '\ud800', '\uffff', 'é'.repeat(300), 'x'.repeat(10_000),
  '2024-13-45', '2024-02-30', '2023-02-29', '0000-01-01', '10000-01-01', '2024-13-45T00:00:00Z', '2024-02-30T12:00:00Z', '0000-01-01T00:00:00Z',
  '10000-01-01T00:00:00Z', '+010000-01-01T00:00:00Z', '0001-01-01T00:00:00+00:01', '9999-12-31T23:59:59-00:01', '0001-01-01T00:00:00-23:59',
  '2024-01-01T24:00:00Z', '2024-01-01T23:59:60Z', '2024-01-01T00:00:00+24:00', '2024-01-01T00:00:00.1234567890Z', '2024-01-01 00:00:00', '1709251200',
  '-1', '0', '1', '00', '-0', '1.5', '1e3', '0x10', ' 5', '5 ', 'NaN', 'Infinity', '9'.repeat(30), '9223372036854775807', '9223372036854775808', '-9223372036854775809',
  'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz', '-'.repeat(36), '6f1c2d3e-4b5a-5c6d-8e7f-8091a2b3c4d5x', '6F1C2D3E-4B5A-5C6D-8E7F-8091A2B3C4D5',
  '', ' ', '*', '%', '..', '[]', '{}', 'null', 'true', "' OR 1=1 --", 'rbac.*', '.*', 'a..b'
]

/** Cursors that are not base64url, that decode to garbage JSON, or to JSON of the right shape holding impossible values. */
function hostileCursors (): string[] {
  const kinds: Array<[string, Record<string, string>]> = [
    ['audit.1', { sort: 'asc', seq: '1' }], ['security-log.1', { occurredAt: '2024-01-01T00:00:00.000Z', seq: '1', id: '6f1c2d3e-4b5a-5c6d-8e7f-8091a2b3c4d5' }],
    ['impersonations.1', { requestedAt: '2024-01-01T00:00:00.000Z', sessionId: 'ims_1' }], ['members.1', { userId: 'usr_1' }]
  ]
  const impossible = ['2024-13-45T00:00:00.000Z', '2024-02-30T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '\u0000', '99999999999999999999', '-1', 'not-a-uuid', '-'.repeat(36), 'x'.repeat(300), '']
  const shaped = kinds.flatMap(([kind, key]) => Object.keys(key).flatMap((field) => [
    ...impossible.map((value) => b64(JSON.stringify([kind, { ...key, [field]: value }]))),
    b64(JSON.stringify([kind, { ...key, [field]: 12 }])), b64(JSON.stringify([kind, { ...key, [field]: null }])), b64(JSON.stringify([kind, { ...key, [field]: [] }]))
  ]).concat([b64(JSON.stringify([kind, { ...key, extra: 1 }])), b64(JSON.stringify([kind])), b64(JSON.stringify([kind, key, 1])), b64(JSON.stringify(['other.9', key]))]))
  return [
    ...shaped,
    '!!!', 'a', 'ab=', '====', '%00', 'A'.repeat(5_000), b64('garbage'), b64('{}'), b64('[]'), b64('null'), b64('"x"'), b64('[1,2]'), b64('['.repeat(5_000)),
    Buffer.from([0xff, 0xfe, 0xc0, 0xaf]).toString('base64url'), b64('{"__proto__":{"x":1}}'),
    // The textual cursors of before: a1/s1/i1/m1, with impossible values in them.
    b64('a1.d.99999999999999999999'), b64('s1.2024-13-45T00:00:00.000Z.1.6f1c2d3e-4b5a-5c6d-8e7f-8091a2b3c4d5'), b64('i1.0000-01-01T00:00:00.000Z.x'), b64('m1:\u0000')
  ]
}

/** Raw query-string encodings that percent-decoding itself trips on. */
const RAW_QUERY_VALUES = ['%', '%zz', '%FF%FE', '%C0%AF', '%ED%A0%80', '%E0%A4%A', '%00%00', 'a%00']

t.test('every query parameter, path parameter and cursor of every GET route, one hostile value at a time, gets 2xx or 4xx problem+json, never a 5xx', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await world(t, sql)
    const gets = w.routes.filter((route) => route.method === 'GET')
    const cursors = hostileCursors()
    const realPath = (route: Route, override: Record<string, string> = {}): string => route.url.replace(/:(\w+)/g, (_whole, name: string) =>
      override[name] ?? (name === 'orgId' ? w.orgIds[0]! : name === 'userId' ? w.memberId : name === 'tokenId' ? w.admin.tokenId : name === 'role' ? 'viewer' : 'nonexistent'))
    let requests = 0
    let invalidCursors = 0
    const walked: string[] = []
    for (const route of gets) {
      for (const parameter of route.operation.parameters ?? []) {
        if (parameter.in !== 'query' && parameter.in !== 'path') continue
        walked.push(`${route.url} ${parameter.in}:${parameter.name}`)
        const isCursor = parameter.name === 'cursor'
        const encoded = [...HOSTILE.map(pct), ...(parameter.in === 'query' ? RAW_QUERY_VALUES : []), ...(isCursor ? cursors : [])]
        for (const value of encoded) {
          const url = parameter.in === 'path' ? realPath(route, { [parameter.name]: value }) : `${realPath(route)}?${parameter.name}=${value}`
          const headers = { authorization: `Bearer ${w.admin.token}` }
          const response = await w.app.inject({ method: 'GET', url, headers })
          requests++
          const reason = judge({ method: 'GET', url, validToken: true, route }, fromInject(response), headers)
          if (reason !== undefined) t.fail(`${route.url} ${parameter.in}:${parameter.name}: ${reason}`)
          if (isCursor && response.statusCode === 400 && response.json().code === 'http.invalid_cursor') invalidCursors++
        }
      }
    }
    t.ok(walked.some((entry) => entry.endsWith('query:cursor')), `the walk found cursors: ${walked.filter((entry) => entry.endsWith('query:cursor')).join('; ')}`)
    t.ok(walked.some((entry) => entry.endsWith('query:from')) && walked.some((entry) => entry.endsWith('query:before')), 'and time filters')
    t.ok(invalidCursors >= cursors.length, `hostile cursors were refused as http.invalid_cursor (${invalidCursors})`)
    t.comment(`${requests} requests over ${walked.length} parameters of ${gets.length} GET routes`)
    t.equal((await w.app.inject('/healthz')).statusCode, 200, '/healthz still answers')
    t.equal((await w.app.inject({ url: '/v1/session', headers: { authorization: `Bearer ${w.admin.token}` } })).statusCode, 200, 'and GET /v1/session')
  })
})

t.test('random strings in every query parameter of the main list routes get 2xx or 4xx problem+json (fast-check)', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await world(t, sql)
    const lists = ['/v1/orgs/:orgId/audit-events', '/v1/orgs/:orgId/audit-events/export', '/v1/orgs/:orgId/audit-digests', '/v1/orgs/:orgId/members',
      '/v1/orgs/:orgId/impersonations', '/v1/me/security-log']
    const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ maxLength: 300 }),
      fc.date({ noInvalidDate: false }).map((date) => Number.isNaN(date.getTime()) ? 'Invalid Date' : date.toISOString()), fc.bigInt().map(String))
    for (const url of lists) {
      const route = w.routes.find((candidate) => candidate.method === 'GET' && candidate.url === url)
      t.ok(route !== undefined, `${url} is in the OpenAPI document`)
      const names = (route?.operation.parameters ?? []).filter((parameter) => parameter.in === 'query').map((parameter) => parameter.name)
      if (route === undefined || names.length === 0) continue
      const failure = await fc.assert(fc.asyncProperty(fc.dictionary(fc.constantFrom(...names), text, { maxKeys: names.length }), async (query) => {
        const search = Object.entries(query).map(([name, value]) => `${name}=${pct(value)}`).join('&')
        const path = url.replace(':orgId', w.orgIds[0]!)
        const headers = { authorization: `Bearer ${w.admin.token}` }
        const response = await w.app.inject({ method: 'GET', url: `${path}?${search}`, headers })
        const reason = judge({ method: 'GET', url: `${path}?${search}`, validToken: true, route }, fromInject(response), headers)
        if (reason !== undefined) throw new Error(reason)
      }), { numRuns: RUNS * 2 }).then(() => undefined, (error: Error) => error.message)
      t.equal(failure, undefined, `${url}: ${RUNS * 2} random query strings`)
    }
    t.equal((await w.app.inject('/healthz')).statusCode, 200, '/healthz still answers')
  })
})
