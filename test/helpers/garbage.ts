/**
 * The garbage walk's parts (test/http-garbage*.test.ts): the routes under
 * test, read from the app's own OpenAPI document; a world of two
 * organizations to throw garbage at; fast-check generators of near-valid and
 * hostile requests; and the judge of every answer (a 4xx problem+json whose
 * `status` is the HTTP status, a 2xx only where a valid token met valid input,
 * never a 5xx).
 */
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import fc from 'fast-check'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { pino } from 'pino'
import type { Test } from 'tap'
import { addMember, bootstrap, changeUser, createToken, registerUser, revokeToken } from '../../src/application/identity/commands.ts'
import { loadConfig } from '../../src/config.ts'
import { systemCommand } from '../../src/domain/envelope.ts'
import { BODY_LIMIT, buildApp } from '../../src/http/app.ts'
import { parsePosition } from '../../src/eventstore/position.ts'
import { openRuntime, type Runtime } from '../../src/runtime.ts'
import type { SqlClient } from '../../src/sql/client.ts'
import { assistantEnv } from './assistant.ts'
import { scaleDriver } from './databases.ts'
import { startFakeOpenAI } from './fake-openai.ts'
import { documentedRoutes, routeKey } from './routes.ts'

export const logger = pino({ level: 'silent' })
/** fast-check runs per route; GARBAGE_RUNS raises it for a longer soak. */
export const RUNS = Number(process.env.GARBAGE_RUNS ?? 50)

/**
 * Runs per route on `driver`: RUNS on the database the realistic sizes run on
 * (scaleDriver), half of them, at least 25, on the other. The garbage is the
 * same kind on both; each database still meets every route with random input.
 */
export function runsOn (driver: 'pglite' | 'postgres'): number {
  return driver === scaleDriver() ? RUNS : Math.max(25, Math.ceil(RUNS / 2))
}
export const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PROPFIND', 'SEARCH']

// ---------------------------------------------------------------------------
// The routes, from the app itself
// ---------------------------------------------------------------------------

/** The subset of JSON Schema the OpenAPI document uses. */
export interface Schema {
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

export interface Operation {
  parameters?: Array<{ in: string, name: string, required?: boolean, schema: Schema }>
  requestBody?: { content: Record<string, { schema: Schema }> }
  security?: unknown[]
}

export interface Route {
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
export async function routesUnderTest (app: FastifyInstance): Promise<Route[]> {
  return (await documentedRoutes<Operation>(app)).map((route) => ({ ...route, public: route.operation.security === undefined }))
}

// The dashboard's files (/app) are no API: they are in no OpenAPI document and take no body (test/dashboard-static.test.ts).
export const excluded = (url: string): boolean => url === '/openapi.json' || url === '/docs' || url.startsWith('/docs/') ||
  url === '/app' || url.startsWith('/app/')
export const key = routeKey

// ---------------------------------------------------------------------------
// A world to throw garbage at
// ---------------------------------------------------------------------------

export interface Principal { userId: string, token: string, tokenId: string, admin: boolean }

export interface World {
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

export const tokenIdOf = (token: string): string => token.split('_')[1]!

/**
 * `consistencyTimeoutMs`: how long a read waits for the caller's own last write
 * to reach the read models before answering 504. The walks allow plenty, so a
 * busy machine cannot turn a slow projection into a failed walk; the test of
 * that 504 itself asks for 1 s.
 */
export async function world (t: Test, sql: SqlClient, { consistencyTimeoutMs = 30_000 } = {}): Promise<World> {
  const upstream = await startFakeOpenAI()
  t.teardown(() => upstream.close())
  const config = loadConfig({
    NODE_ENV: 'test',
    LOGIN_RATE_LIMIT_PER_MINUTE: '10000',
    CONSISTENCY_TIMEOUT_MS: String(consistencyTimeoutMs),
    // Configured, so the Stripe webhook route answers what it receives (unconfigured it is 503 by design).
    STRIPE_WEBHOOK_SECRET: 'whsec_garbagewalk0000',
    // And the assistant has a model (a fake upstream): unconfigured, a message is 503 ai.not_configured by design.
    ...assistantEnv(upstream)
  })
  const runtime = await openRuntime(config, logger, { sql, runProjections: true })
  t.teardown(() => runtime.close())
  const app = await buildApp(runtime)
  t.teardown(() => app.close())
  const services = runtime.identity
  const a = await bootstrap(services, systemCommand('garbage-test'),
    { email: 'admin@example.com', orgName: 'Garbage Inc', platformAdmin: true })
  const b = await bootstrap(services, systemCommand('garbage-test'), { email: 'other@example.com', orgName: 'Elsewhere Ltd' })
  const member = await registerUser(services, systemCommand('garbage-test'), { email: 'member@example.com', displayName: 'Member' })
  await addMember(services, { ...systemCommand('garbage-test'), actor: { type: 'user', id: a.userId } }, a.orgId,
    { userId: member.userId, roles: ['member'] })
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
          await changeUser(services, systemCommand('garbage-test'), principal.userId,
            { type: 'SetStaffFlags', data: { platformAdmin: true, platformSupport: false } })
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

export const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 80 })

/** Percent-encodes everything but unreserved characters, through UTF-8 (lone surrogates become U+FFFD). */
export function pct (text: string): string {
  let out = ''
  for (const byte of Buffer.from(text, 'utf8')) {
    const char = String.fromCharCode(byte)
    out += /[A-Za-z0-9\-._~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** Values of JSON Schema `schema` (near enough: the server's own checks may still refuse some). */
export function valid (schema: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (schema === undefined) return fc.jsonValue({ maxDepth: 2 })
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum)
  if ('const' in schema) return fc.constant(schema.const)
  const alternatives = schema.anyOf ?? schema.oneOf
  if (alternatives !== undefined) return fc.oneof(...alternatives.map((alternative) => valid(alternative, depth + 1)))
  const types = Array.isArray(schema.type) ? schema.type : schema.type === undefined ? [] : [schema.type]
  if (types.length > 1) return fc.oneof(...types.map((type) => valid({ ...schema, type }, depth + 1)))
  const ofType = VALID_OF_TYPE[types[0] ?? '']
  return ofType === undefined ? fc.jsonValue({ maxDepth: 2 }) : ofType(schema, depth)
}

/** Values of one JSON type, within the schema's bounds (capped, so a case stays small). */
const VALID_OF_TYPE: Record<string, (schema: Schema, depth: number) => fc.Arbitrary<unknown>> = {
  string (schema) {
    if (schema.format === 'email') return fc.emailAddress()
    if (schema.pattern !== undefined) return fc.stringMatching(new RegExp(schema.pattern))
    const minLength = schema.minLength ?? 0
    return fc.string({ minLength, maxLength: Math.max(minLength, Math.min(schema.maxLength ?? 40, 40)) })
  },
  integer: (schema) => fc.integer({ min: Math.max(schema.minimum ?? -1e6, -1e6), max: Math.min(schema.maximum ?? 1e6, 1e6) }),
  number: () => fc.double({ noNaN: true, noDefaultInfinity: true }),
  boolean: () => fc.boolean(),
  null: () => fc.constant(null),
  array: (schema, depth) => fc.array(valid(schema.items, depth + 1), {
    minLength: schema.minItems ?? 0,
    maxLength: Math.max(schema.minItems ?? 0, Math.min(schema.maxItems ?? 4, 4))
  }),
  object (schema, depth) {
    if (schema.properties === undefined || Object.keys(schema.properties).length === 0) {
      const values = typeof schema.additionalProperties === 'object'
        ? valid(schema.additionalProperties, depth + 1)
        : fc.jsonValue({ maxDepth: 1 })
      const keys = schema.propertyNames === undefined
        ? fc.string({ minLength: 1, maxLength: 20 })
        : valid(schema.propertyNames, depth + 1) as fc.Arbitrary<string>
      return fc.dictionary(keys, values, { maxKeys: 5 })
    }
    const shape: Record<string, fc.Arbitrary<unknown>> = {}
    for (const [name, property] of Object.entries(schema.properties)) shape[name] = valid(property, depth + 1)
    return fc.record(shape, { requiredKeys: schema.required ?? [] })
  }
}

export const asObject = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : {}

export const wrongValue = fc.oneof(
  fc.anything({ maxDepth: 3 }),
  fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, -1e308, '', ' ', '\u0000', '\ud800', [], {}, [[]], { '': null }, 'x'.repeat(10_000))
)

/** Valid bodies and bodies one step from valid: a field of the wrong type, one missing, one huge, one unknown. */
export function nearValid (schema: Schema): fc.Arbitrary<unknown> {
  const base = valid(schema)
  const fields = Object.keys(schema.properties ?? {})
  const variants: Array<fc.Arbitrary<unknown>> = [
    base,
    fc.tuple(base, printable, fc.jsonValue({ maxDepth: 2 })).map(([body, name, value]) => ({ ...asObject(body), [name]: value })),
    fc.tuple(base, fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '$ref', ''),
      fc.jsonValue({ maxDepth: 1 }))
      .map(([body, name, value]) => ({ ...asObject(body), [name]: value }))
  ]
  if (fields.length > 0) {
    const field = fc.constantFrom(...fields)
    variants.push(
      fc.tuple(base, field, wrongValue).map(([body, name, value]) => ({ ...asObject(body), [name]: value })),
      fc.tuple(base, field).map(([body, name]) => { const copy = { ...asObject(body) }; delete copy[name]; return copy }),
      fc.tuple(base, field, fc.integer({ min: 1_000, max: 200_000 }))
        .map(([body, name, length]) => ({ ...asObject(body), [name]: 'é'.repeat(length) })),
      fc.tuple(base, field).map(([body, name]) => ({ ...asObject(body), [name]: [asObject(body)[name]] }))
    )
  }
  return fc.oneof(...variants)
}

/** A request as generated, before it is sent. */
export interface Garbage {
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

export function bodyFor (route: Route): fc.Arbitrary<string | undefined> {
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
    { weight: 1, arbitrary: fc.constantFrom('{', '}', '{"a":}', "{'a':1}", 'NaN', 'undefined', '[1,]', '{"a":1}{"b":2}', '\u0000',
      '\ufeff{}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '') },
    // deep nesting, balanced and not
    { weight: 2, arbitrary: nested },
    { weight: 1, arbitrary: nested.map((text) => text.slice(0, Math.ceil(text.length / 2))) },
    // around and over the 1 MiB body limit
    { weight: 1, arbitrary: fc.integer({ min: BODY_LIMIT - 1_000, max: 2 * BODY_LIMIT })
      .map((length) => JSON.stringify({ name: 'x'.repeat(length), email: 'x'.repeat(length) })) },
    // close to what the route wants
    { weight: schema === undefined ? 1 : 6, arbitrary: (schema === undefined ? fc.jsonValue({ maxDepth: 3 }) : nearValid(schema))
      .map((value) => JSON.stringify(value)) }
  )
}

export function segmentFor (world: World, name: string, schema: Schema): fc.Arbitrary<string> {
  const real: Array<() => string[]> = []
  if (name === 'orgId') real.push(() => world.orgIds)
  if (name === 'userId') real.push(() => [world.admin.userId, world.other.userId, world.memberId])
  if (name === 'tokenId') real.push(() => [world.admin.tokenId, world.other.tokenId, world.revokedTokenId])
  if (schema.enum !== undefined) real.push(() => schema.enum!.map(String))
  const realIds = real.length === 0
    ? valid(schema).map((value) => pct(String(value)))
    : fc.tuple(fc.nat(), fc.constantFrom(...real))
      .map(([index, pool]) => { const values = pool(); return pct(values[index % values.length]!) })
  return fc.oneof(
    { weight: 4, arbitrary: realIds },
    { weight: 2, arbitrary: valid(schema).map((value) => pct(String(value))) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }).map(pct) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 150, maxLength: 1_500 }).map(pct) },
    { weight: 1, arbitrary: fc.constantFrom('..', '.', '%2e%2e', '%2F', '%2f..%2f', '%00', '%zz', '%', '%%', '%E0%A4%A', '%C0%AF', '%FF%FE',
      '~', ';', ',', '*', '$', "'", '%20', '+', '') },
    { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 30 })
      .map((bytes) => bytes.map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('')) }
  )
}

export function queryFor (route: Route): fc.Arbitrary<string> {
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
    { weight: 4, arbitrary: fc.array(fc.tuple(name, value), { maxLength: 5 })
      .map((pairs) => `?${pairs.map(([k, v]) => `${pct(k)}=${pct(v)}`).join('&')}`) },
    { weight: 1, arbitrary: printable.map((text) => `?${text.replace(/[#\s]/g, '')}`) },
    { weight: 1, arbitrary: fc.constantFrom('?', '??', '?&&&', '?=', '?a', '?a[b]=1', '?a[]=1&a[]=2', '?limit=1&limit=2', '?%zz=%zz',
      '?cursor=%00', '?__proto__[x]=1') }
  )
}

export function garbageFor (world: World, route: Route): fc.Arbitrary<Garbage> {
  const pathParameters = (route.operation.parameters ?? []).filter((parameter) => parameter.in === 'path')
  const segments = Object.fromEntries(
    pathParameters.map((parameter) => [parameter.name, segmentFor(world, parameter.name, parameter.schema)])
  )
  const path = (Object.keys(segments).length === 0 ? fc.constant({}) : fc.record(segments))
    .map((values: Record<string, string>) => route.url.replace(/:(\w+)/g, (_whole, name: string) => values[name] ?? ''))
  return fc.record({
    method: fc.oneof({ weight: 9, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
    path,
    query: queryFor(route),
    tokenKind: fc.constantFrom(
      'admin', 'admin', 'admin', 'other', 'none', 'revoked', 'unknown', 'junk'
    ) as fc.Arbitrary<Garbage['tokenKind']>,
    junk: fc.oneof(
      printable,
      printable.map((text) => `Bearer ${text}`),
      fc.constantFrom('Bearer', 'Bearer ', 'Basic YTpi', `Bearer ll_${'a'.repeat(16)}_${'A'.repeat(43)} extra`),
      fc.integer({ min: 500, max: 5_000 }).map((length) => `Bearer ${'A'.repeat(length)}`)
    ),
    contentType: fc.oneof(
      { weight: 8, arbitrary: fc.constant('application/json') },
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 3, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'APPLICATION/JSON', 'application/problem+json',
        'application/json; charset=utf-16', 'text/plain', 'text/html', 'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=xyz', 'application/octet-stream', '*/*', ';', 'application/', 'json') },
      { weight: 1, arbitrary: printable }
    ),
    body: bodyFor(route),
    idempotencyKey: fc.oneof(
      { weight: 4, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.uuid() },
      { weight: 1, arbitrary: printable }
    ),
    // Positions the log has reached, and text that is not a position. (One beyond the head is waited for: see the 504 test.)
    consistentWith: fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom('0.0', '1.', '.1', '1.2.3', '-1.0', '1e3.0', '0x1.0',
        ' ', '', `${'9'.repeat(21)}.0`, '0.0, 0.0') },
      { weight: 1, arbitrary: printable.filter((text) => parsePosition(text) === undefined) }
    ),
    extraHeaders: fc.dictionary(
      fc.constantFrom('accept', 'accept-encoding', 'accept-charset', 'content-encoding', 'traceparent', 'tracestate', 'x-request-id',
        'user-agent', 'x-forwarded-for', 'forwarded', 'expect', 'if-none-match', 'range', 'origin'),
      fc.oneof(printable, fc.integer({ min: 1_000, max: 20_000 }).map((length) => 'a'.repeat(length)),
        fc.constantFrom('gzip', 'br', 'deflate', 'identity', '*/*', 'application/xml', '100-continue', 'bytes=0-1')),
      { maxKeys: 3 }
    )
  })
}

// ---------------------------------------------------------------------------
// Sending and judging
// ---------------------------------------------------------------------------

export function authorizationFor (world: World, kind: Garbage['tokenKind'], junk: string): string | undefined {
  switch (kind) {
    case 'admin': return `Bearer ${world.admin.token}`
    case 'other': return `Bearer ${world.other.token}`
    case 'none': return undefined
    case 'revoked': return `Bearer ${world.revokedToken}`
    case 'unknown': return `Bearer ll_${'a'.repeat(16)}_${'A'.repeat(43)}`
    case 'junk': return junk
  }
}

export function injectOptions (world: World, garbage: Garbage): InjectOptions {
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
export interface Answer { status: number, contentType: string, body: string }

export const fromInject = (response: LightMyRequestResponse): Answer =>
  ({ status: response.statusCode, contentType: String(response.headers['content-type'] ?? ''), body: response.body })

/** What a request was, for the verdict and for known-bug matching. */
export interface Sent {
  method: string
  url: string
  validToken: boolean
  idempotencyKey?: string | undefined
  body?: string | Buffer | undefined
  route?: Route | undefined
}

export function parsed (answer: Answer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(answer.body)
    return value !== null && typeof value === 'object' ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/** Why `answer` breaks the contract, or undefined when it keeps it. */
/**
 * The MCP endpoint answers what its protocol refuses (a body that is not JSON-RPC, a missing Accept) with a JSON-RPC error, as
 * the Streamable HTTP transport spec has it; what it refuses before the protocol (token, tenancy, Host) is problem+json.
 */
const MCP_ENDPOINT = '/v1/orgs/:orgId/mcp'

function jsonRpcError (answer: Answer): boolean {
  const body = answer.contentType.startsWith('application/json') ? parsed(answer) : undefined
  const error = body?.error as { code?: unknown, message?: unknown } | undefined
  return body?.jsonrpc === '2.0' && typeof error?.code === 'number' && typeof error.message === 'string'
}

export function violation (sent: Sent, answer: Answer): string | undefined {
  const { status } = answer
  if (status >= 200 && status < 300) {
    if (sent.route?.public === true || sent.validToken) return undefined
    return `${status} without a valid token`
  }
  if (status < 400 || status > 499) return `status ${status}`
  if (sent.route?.url === MCP_ENDPOINT && jsonRpcError(answer)) return undefined
  if (!answer.contentType.startsWith('application/problem+json')) return `${status} with content-type ${answer.contentType}: ` +
    `${answer.body.slice(0, 200)}`
  if (sent.method === 'HEAD') return answer.body === '' ? undefined : 'HEAD answered a body'
  const problem = parsed(answer)
  if (problem === undefined) return `${status} problem+json that is not a JSON object: ${answer.body.slice(0, 200)}`
  if (typeof problem.code !== 'string') return `${status} problem without a string code: ${answer.body.slice(0, 200)}`
  if (problem.status !== status) return `problem status ${String(problem.status)} on an HTTP ${status}`
  return undefined
}

export function describe (sent: Sent, answer: Answer, headers?: Record<string, string>): string {
  const body = sent.body === undefined ? '(no body)' : `body (${sent.body.length} bytes): ${sent.body.toString().slice(0, 200)}`
  return `${sent.method} ${sent.url.slice(0, 300)} ${JSON.stringify(headers ?? {}).slice(0, 300)} ${body} → ` +
    `${answer.status} ${answer.contentType} ${answer.body.slice(0, 300)}`
}

/** Judges one answer: undefined when it keeps the contract, else the reason with the request. */
export function judge (sent: Sent, answer: Answer, headers?: Record<string, string>): string | undefined {
  const reason = violation(sent, answer)
  return reason === undefined ? undefined : `${reason}\n  request: ${describe(sent, answer, headers)}`
}

// ---------------------------------------------------------------------------
// Raw HTTP against a listening server
// ---------------------------------------------------------------------------

export interface RawRequest { method: string, path: string, headers: Record<string, string>, body?: Buffer | string, chunked?: boolean }

/** One request through node:http; a server that answers before reading a huge body may reset the upload, which is fine. */
export function send (port: number, request: RawRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // Framing is explicit: Node's client sends a GET or DELETE body unframed unless told its length or chunking.
    const body = request.body === undefined ? undefined : Buffer.from(request.body)
    const framing = body === undefined
      ? {}
      : request.chunked === true ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(body.length) }
    const req = httpRequest({
      host: '127.0.0.1', port, method: request.method, path: request.path, headers: { ...request.headers, ...framing }, agent: false
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({
        status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8')
      }))
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
export function sendBytes (port: number, bytes: Buffer | string): Promise<Answer> {
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
