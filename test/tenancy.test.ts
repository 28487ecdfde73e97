/**
 * Tenancy over HTTP: the organization comes from the path, and a principal
 * who is not a member of it gets 404 `org.not_found` for any of its
 * resources, never 403, so other tenants' ids cannot be probed. The walk
 * covers every route under /v1/orgs/:orgId the app serves (read from its
 * OpenAPI document and checked against the router), with a plausible valid
 * request for each from FILL: a new org route fails this file until someone
 * says how to call it.
 */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { addMember, bootstrap, registerUser } from '../src/application/identity/commands.ts'
import { createInvitation, invitationServices } from '../src/application/identity/invitations.ts'
import { requestVerification } from '../src/application/audit/verify-job.ts'
import { requestImpersonation } from '../src/application/impersonation/commands.ts'
import { createSource } from '../src/application/webhooks/inbound/sources.ts'
import { createEndpoint } from '../src/application/webhooks/outbound/endpoints.ts'
import { webhookSecretStoreOf } from '../src/application/webhooks/secrets.ts'
import { loadConfig } from '../src/config.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { BUILT_IN_ROLES } from '../src/domain/identity/events.ts'
import { comparePositions, formatPosition, parsePosition } from '../src/eventstore/position.ts'
import type { LogPosition } from '../src/eventstore/types.ts'
import { buildApp } from '../src/http/app.ts'
import { openRuntime, type Runtime } from '../src/runtime.ts'
import type { SqlClient } from '../src/sql/client.ts'
import { assistantEnv } from './helpers/assistant.ts'
import { untilVisible } from './helpers/assertions.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { documentedRoutes, routeKey, routerRoutes, type RouteKey } from './helpers/routes.ts'

const logger = pino({ level: 'silent' })
const ORG_ROUTE = /^\/v1\/orgs\/:orgId(\/|$)/

/** Who the walk is about: the organization in the path, its people, and who is calling. */
interface Context { orgId: string, ownerId: string, memberId: string, callerId: string }

/** How to call a route plausibly: a valid query and body (path parameters come from PARAMS). */
interface Fill {
  query?: Record<string, string>
  body?: (context: Context) => unknown
  headers?: Record<string, string>
}

/** One entry per org route, keyed `METHOD /path/:param`; HEAD uses its GET's. */
const FILL: Record<string, Fill> = {
  'GET /v1/orgs/:orgId': {},
  'PATCH /v1/orgs/:orgId': { body: () => ({ name: 'Taken over', settings: { hijacked: true } }) },
  'PUT /v1/orgs/:orgId/plan': { body: () => ({ plan: 'enterprise' }) },
  'GET /v1/orgs/:orgId/members': { query: { limit: '10' } },
  'POST /v1/orgs/:orgId/members': { body: () => ({ email: 'intruder@example.com', roles: ['owner'] }) },
  'POST /v1/orgs/:orgId/invitations': { body: () => ({ email: 'intruder@example.com', roles: ['owner'] }) },
  'GET /v1/orgs/:orgId/invitations': { query: { status: 'pending', limit: '10' } },
  'DELETE /v1/orgs/:orgId/invitations/:inviteId': {},
  'DELETE /v1/orgs/:orgId/members/:userId': {},
  'PUT /v1/orgs/:orgId/members/:userId/roles/:role': {},
  'DELETE /v1/orgs/:orgId/members/:userId/roles/:role': {},
  'POST /v1/orgs/:orgId/authz/check': { body: (context) =>
    ({ checks: [{ userId: context.ownerId, action: 'billing:update', resource: { type: 'organization' } }] }) },
  'GET /v1/orgs/:orgId/roles': {},
  'GET /v1/orgs/:orgId/access': { query: { action: 'billing:update' } },
  'GET /v1/orgs/:orgId/audit-retention': {},
  'GET /v1/orgs/:orgId/audit-digests': { query: { limit: '5' } },
  'PUT /v1/orgs/:orgId/audit-retention': { body: () => ({ days: 7 }) },
  'POST /v1/orgs/:orgId/roles': { body: () => ({ name: 'Intruder', grants: [{ actions: ['*'], resource: '*', effect: 'allow' }] }) },
  'PATCH /v1/orgs/:orgId/roles/:roleId': { body: () => ({ name: 'Renamed' }) },
  'PUT /v1/orgs/:orgId/roles/:roleId/grants': { body: () => ({ grants: [{ actions: ['*'], resource: '*', effect: 'allow' }] }) },
  'DELETE /v1/orgs/:orgId/roles/:roleId': {},
  'POST /v1/orgs/:orgId/roles/:roleId/test': { body: () =>
    ({ cases: [{ action: 'billing:update', resource: { type: 'organization' }, expect: 'allow' }] }) },
  'POST /v1/orgs/:orgId/authz/explain': { body: (context) =>
    ({ userId: context.ownerId, action: 'billing:update', resource: { type: 'organization' } }) },
  'GET /v1/orgs/:orgId/audit-events': { query: { action: 'org.*', sort: 'asc', limit: '10' } },
  'GET /v1/orgs/:orgId/audit-events/export': { query: { format: 'csv' } },
  'POST /v1/orgs/:orgId/audit-events/verify': {},
  'GET /v1/orgs/:orgId/audit-events/verifications/:jobId': {},
  'POST /v1/orgs/:orgId/impersonations': { body: (context) =>
    ({ targetUserId: context.memberId, reason: 'taking over another tenant', ticket: 'EVIL-1' }) },
  'GET /v1/orgs/:orgId/impersonations': { query: { status: 'all' } },
  'GET /v1/orgs/:orgId/impersonations/:sessionId': {},
  'POST /v1/orgs/:orgId/impersonations/:sessionId/approve': {},
  'POST /v1/orgs/:orgId/impersonations/:sessionId/deny': { body: () => ({ note: 'denied from outside' }) },
  'POST /v1/orgs/:orgId/impersonations/:sessionId/start': {},
  'POST /v1/orgs/:orgId/impersonations/:sessionId/stop': {},
  'POST /v1/orgs/:orgId/impersonations/:sessionId/revoke': { body: () => ({ note: 'revoked from outside' }) },
  'POST /v1/orgs/:orgId/impersonations/revoke-all': { body: () => ({}) },
  'GET /v1/orgs/:orgId/support-access': {},
  'PUT /v1/orgs/:orgId/support-access': { body: () => ({ enabled: false }) },
  'GET /v1/orgs/:orgId/tools': {},
  'POST /v1/orgs/:orgId/tools/:name/calls': { body: () => ({ input: {} }) },
  'POST /v1/orgs/:orgId/tool-calls/:callId/approve': {},
  'POST /v1/orgs/:orgId/tool-calls/:callId/deny': {},
  'GET /v1/orgs/:orgId/tool-calls': { query: { limit: '10', tool: 'roles.assign' } },
  'GET /v1/orgs/:orgId/tool-calls/:callId': {},
  'GET /v1/orgs/:orgId/ai/usage': { query: { groupBy: 'day' } },
  'POST /v1/orgs/:orgId/assistant/conversations': {},
  'GET /v1/orgs/:orgId/assistant/conversations': { query: { limit: '10' } },
  'GET /v1/orgs/:orgId/assistant/conversations/:conversationId': {},
  'POST /v1/orgs/:orgId/assistant/conversations/:conversationId/messages': { body: () => ({ text: 'list the members' }) },
  'GET /v1/orgs/:orgId/assistant/conversations/:conversationId/stream': {},
  'POST /v1/orgs/:orgId/assistant/conversations/:conversationId/stop': {},
  'GET /v1/orgs/:orgId/ai/quotas': {},
  'PUT /v1/orgs/:orgId/ai/quotas': { body: () => ({ requestsPerMinute: 0 }) },
  'GET /v1/orgs/:orgId/ai/budget': {},
  'PUT /v1/orgs/:orgId/ai/budget': { body: () => ({ monthlyMicros: 0, reason: 'another tenant' }) },
  'POST /v1/orgs/:orgId/mcp': { headers: { accept: 'application/json, text/event-stream' },
    body: () => ({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) },
  'GET /v1/orgs/:orgId/mcp': {},
  'DELETE /v1/orgs/:orgId/mcp': {},
  'POST /v1/orgs/:orgId/webhooks/sources': { body: () => ({ name: 'Intruder source' }) },
  'GET /v1/orgs/:orgId/webhooks/sources': { query: { limit: '10' } },
  'GET /v1/orgs/:orgId/webhooks/sources/:sourceId': {},
  'POST /v1/orgs/:orgId/webhooks/sources/:sourceId/secrets': {},
  'DELETE /v1/orgs/:orgId/webhooks/sources/:sourceId': {},
  'GET /v1/orgs/:orgId/webhooks/sources/:sourceId/messages': { query: { limit: '10' } },
  'GET /v1/orgs/:orgId/webhooks/event-types': {},
  'POST /v1/orgs/:orgId/webhooks/endpoints': { body: () => ({ url: 'https://intruder.example/hook', eventTypes: ['*'] }) },
  'GET /v1/orgs/:orgId/webhooks/endpoints': { query: { limit: '10' } },
  'GET /v1/orgs/:orgId/webhooks/endpoints/:endpointId': {},
  'PATCH /v1/orgs/:orgId/webhooks/endpoints/:endpointId': { body: () => ({ url: 'https://intruder.example/hook' }) },
  'POST /v1/orgs/:orgId/webhooks/endpoints/:endpointId/secret/rotate': {},
  'POST /v1/orgs/:orgId/webhooks/endpoints/:endpointId/recover': { body: () => ({ since: '2026-01-01T00:00:00Z' }) },
  'GET /v1/orgs/:orgId/webhooks/endpoints/:endpointId/attempts': { query: { limit: '10' } },
  'POST /v1/orgs/:orgId/webhooks/messages/:messageId/resend': {},
  'DELETE /v1/orgs/:orgId/webhooks/endpoints/:endpointId': {}
}

/**
 * What a member's GET answers where it is not 200: the MCP endpoint offers no stream at GET (405
 * `mcp.method_not_allowed`, as the transport spec allows), to anyone; a non-member still gets 404 first.
 */
const MEMBER_GET_STATUS: Record<string, number> = {
  '/v1/orgs/:orgId/mcp': 405,
  // No response streams in the conversation: 204, nothing to resume.
  '/v1/orgs/:orgId/assistant/conversations/:conversationId/stream': 204
}

/** The values each path parameter takes; a route is called once per combination. */
const PARAMS: Record<string, (context: Context) => string[]> = {
  orgId: (context) => [context.orgId],
  userId: (context) => [context.ownerId, context.memberId, context.callerId],
  role: () => [...BUILT_IN_ROLES],
  roleId: () => ['role_doesnotexist'],
  sessionId: (context) => [SESSIONS.get(context.orgId) ?? 'imp_doesnotexist0000'],
  inviteId: (context) => [INVITES.get(context.orgId) ?? 'inv_doesnotexist0000'],
  jobId: (context) => [VERIFICATIONS.get(context.orgId) ?? 'job_doesnotexist0000'],
  name: () => ['org.get'],
  callId: (context) => [TOOL_CALLS.get(context.orgId) ?? 'call_doesnotexist000'],
  sourceId: (context) => [SOURCES.get(context.orgId) ?? 'whs_doesnotexist0000'],
  endpointId: (context) => [ENDPOINTS.get(context.orgId) ?? 'ep_doesnotexist00000'],
  messageId: () => ['msg_00000000000000000000000000000000'],
  conversationId: (context) => [CONVERSATIONS.get(context.orgId) ?? 'conv_doesnotexist000']
}

/** Each organization's assistant conversation, its owner's, by organization. */
const CONVERSATIONS = new Map<string, string>()

/** Each organization's inbound webhook source, by organization. */
const SOURCES = new Map<string, string>()

/** Each organization's outbound webhook endpoint, by organization. */
const ENDPOINTS = new Map<string, string>()

/** Each organization's audit verification job, by organization. */
const VERIFICATIONS = new Map<string, string>()

/** Each organization's pending invitation, by organization. */
const INVITES = new Map<string, string>()

/** Each organization's impersonation session (a break-glass request by its owner), by organization. */
const SESSIONS = new Map<string, string>()

/** Each organization's tool call waiting for its owner's approval (roles.assign: the admin stays admin), by organization. */
const TOOL_CALLS = new Map<string, string>()

type OrgRoute = RouteKey

/** The org routes of the OpenAPI document, with the HEAD twin Fastify adds to each GET. */
async function orgRoutes (app: FastifyInstance): Promise<OrgRoute[]> {
  return (await documentedRoutes(app)).filter((route) => ORG_ROUTE.test(route.url)).map(({ method, url }) => ({ method, url }))
}

const key = routeKey

interface Call { label: string, options: InjectOptions }

/**
 * The requests that walk `route` for `context` with `token`, one per combination of
 * path parameter values (`only` narrows some); throws when the walk cannot fill it in.
 */
function callsFor (route: OrgRoute, context: Context, token: string, only: Record<string, string[]> = {}): Call[] {
  const fill = FILL[key({ ...route, method: route.method === 'HEAD' ? 'GET' : route.method })]
  if (fill === undefined) throw new Error(`${key(route)} has no FILL entry: add a plausible valid request for it`)
  let combinations: Array<Record<string, string>> = [{}]
  for (const [, name] of route.url.matchAll(/:(\w+)/g)) {
    const values = PARAMS[name!]
    if (values === undefined) throw new Error(`${key(route)}: no way to fill :${name} in (add it to PARAMS)`)
    combinations = combinations.flatMap((combination) =>
      (only[name!] ?? values(context)).map((value) => ({ ...combination, [name!]: value })))
  }
  const query = fill.query === undefined ? '' : `?${new URLSearchParams(fill.query).toString()}`
  const body = fill.body?.(context)
  return combinations.map((params) => {
    const url = route.url.replace(/:(\w+)/g, (_whole, name: string) => encodeURIComponent(params[name]!)) + query
    return {
      label: `${route.method} ${url}`,
      options: {
        method: route.method as InjectOptions['method'],
        url,
        headers: {
          authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...fill.headers
        },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) })
      }
    }
  })
}

interface Tenancy {
  runtime: Runtime
  app: FastifyInstance
  routes: OrgRoute[]
  a: { orgId: string, ownerId: string, memberId: string, token: string }
  b: { orgId: string, ownerId: string, memberId: string, token: string }
  /** Where the log stood once the setup was written. */
  setUp: LogPosition
}

async function tenancy (t: Test, sql: SqlClient): Promise<Tenancy> {
  // The assistant talks to a fake upstream (one short answer per message the walk sends).
  const upstream = await startFakeOpenAI()
  t.teardown(() => upstream.close())
  for (let i = 0; i < 10; i++) upstream.enqueue({ text: ['Nothing to see.'], usage: { prompt_tokens: 5, completion_tokens: 3 } })
  const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test', ...assistantEnv(upstream) }), logger, { sql, runProjections: true })
  t.teardown(() => runtime.close())
  // Verifications stay waiting: a job running in the background would write events after the set-up position.
  await runtime.jobs.stop()
  const app = await buildApp(runtime)
  t.teardown(() => app.close())
  const services = runtime.identity
  const people = async (name: string) => {
    const owner = await bootstrap(services, systemCommand('tenancy-test'), { email: `owner-${name}@example.com`, orgName: `Org ${name}` })
    const member = await registerUser(services, systemCommand('tenancy-test'),
      { email: `member-${name}@example.com`, displayName: `Member ${name}` })
    const asOwner = { ...systemCommand('tenancy-test'), actor: { type: 'user' as const, id: owner.userId } }
    await addMember(services, asOwner, owner.orgId, { userId: member.userId, roles: ['admin'] })
    INVITES.set(owner.orgId,
      (await createInvitation(invitationServices(runtime), { ...asOwner, commandId: randomUUID() }, owner.orgId,
        { email: `invitee-${name}@example.com`, roles: ['member'] })).inviteId)
    VERIFICATIONS.set(owner.orgId, (await requestVerification(runtime, { ...asOwner, commandId: randomUUID() }, owner.orgId)).jobId)
    const requested = await requestImpersonation(runtime.impersonation, { ...asOwner, commandId: randomUUID() }, owner.orgId,
      { userId: owner.userId, impersonating: false, via: 'member' },
      { targetUserId: member.userId, reason: 'a session for the tenancy walk', ticket: 'SUP-9' })
    SESSIONS.set(owner.orgId, requested.sessionId)
    SOURCES.set(owner.orgId, (await createSource({ ...services, secrets: webhookSecretStoreOf(runtime.config, runtime.sql),
      now: () => new Date() }, { ...asOwner, commandId: randomUUID() }, owner.orgId, { name: `Source ${name}` })).sourceId)
    // Subscribed to what the walk never does: its deliveries would write events during the "nothing was written" checks.
    ENDPOINTS.set(owner.orgId, (await createEndpoint(runtime.webhooks.endpoints, owner.orgId,
      { url: 'https://siem.example/hook', eventTypes: ['ai.tool.call.timed_out'] }, { ...asOwner, commandId: randomUUID() })).endpointId)
    CONVERSATIONS.set(owner.orgId, (await runtime.assistant.create(owner.orgId, owner.userId,
      { ...asOwner, commandId: randomUUID(), orgId: owner.orgId })).conversationId)
    const pending = await runtime.tools.call({ orgId: owner.orgId, tool: 'roles.assign', input: { userId: member.userId, role: 'admin' },
      caller: { userId: owner.userId, platformAdmin: false, platformSupport: false }, metadata: { ...asOwner, commandId: randomUUID() } })
    if (pending.status !== 'approval_required') throw new Error(`the walk's tool call should wait for approval: ${pending.status}`)
    TOOL_CALLS.set(owner.orgId, pending.callId)
    return { orgId: owner.orgId, ownerId: owner.userId, memberId: member.userId, token: owner.token,
      position: parsePosition(pending.position!)! }
  }
  const a = await people('a')
  const b = await people('b')
  const setUp = comparePositions(a.position, b.position) > 0 ? a.position : b.position
  await runtime.runner.waitFor(setUp, 10_000)
  await untilVisible(runtime.store, setUp)
  return { runtime, app, routes: await orgRoutes(app), a, b, setUp }
}

/** Where the log stands: the visible head, and every event row (also ones an older transaction elsewhere still hides). */
async function logState (runtime: Runtime): Promise<{ head: string, events: number }> {
  const { rows } = await runtime.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM events')
  return { head: formatPosition(await runtime.store.headPosition()), events: rows[0]!.n }
}

function problemOf (response: LightMyRequestResponse): Record<string, unknown> | undefined {
  if (!String(response.headers['content-type'] ?? '').startsWith('application/problem+json')) return undefined
  if (response.body === '') return {}
  return response.json() as Record<string, unknown>
}

/** The answer to an org the caller may not see: 404 problem+json, code org.not_found (HEAD: status and type only). */
function assertNotFound (t: Test, call: Call, response: LightMyRequestResponse): void {
  const problem = problemOf(response)
  const ok = response.statusCode === 404 && problem !== undefined &&
    (call.options.method === 'HEAD' || (problem.code === 'org.not_found' && problem.status === 404))
  t.ok(ok, `${call.label} → 404 org.not_found (got ${response.statusCode} ${response.body.slice(0, 200)})`)
}

/** What a problem says, without what differs per request (trace id, path). */
function substance (response: LightMyRequestResponse): unknown {
  if (response.body === '') return { status: response.statusCode, type: response.headers['content-type'] }
  const { traceId: _traceId, instance: _instance, ...rest } = response.json() as Record<string, unknown>
  return { ...rest, httpStatus: response.statusCode, type: response.headers['content-type'] }
}

t.test('a principal of another organization gets 404 on every org route, never 403, and nothing is written', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await tenancy(t, sql)
    const { a, b } = w

    await t.test('the walk covers every org route the router serves and can fill each one in', async (t) => {
      const served = routerRoutes(w.app).filter((route) => ORG_ROUTE.test(route.url)).map(key).sort()
      t.same(w.routes.map(key).sort(), served, 'the OpenAPI document (with HEAD twins) lists every org route the router serves')
      t.ok(w.routes.length >= 9, `${w.routes.length} org routes`)
      for (const route of w.routes) {
        t.doesNotThrow(() => callsFor(route, { orgId: a.orgId, ownerId: a.ownerId, memberId: a.memberId, callerId: b.ownerId }, b.token),
          `${key(route)} can be filled in`)
      }
      t.same(Object.keys(FILL).sort(), [...new Set(w.routes.filter((route) => route.method !== 'HEAD').map(key))].sort(),
        'FILL has no entry for a route that is gone')
    })

    const asB = { orgId: a.orgId, ownerId: a.ownerId, memberId: a.memberId, callerId: b.ownerId }

    await t.test('B, owner of another organization, gets 404 org.not_found on each of A\'s org routes with A\'s real ids', async (t) => {
      const before = await logState(w.runtime)
      let calls = 0
      for (const route of w.routes) {
        for (const call of callsFor(route, asB, b.token)) {
          const response = await w.app.inject(call.options)
          calls++
          assertNotFound(t, call, response)
          t.not(response.statusCode, 403, `${call.label} is never 403`)
        }
      }
      t.comment(`${calls} requests`)
      t.same(await logState(w.runtime), before, 'nothing was written: the head of the log and the event count are unchanged')
    })

    await t.test('an organization that does not exist answers exactly like one the caller is not a member of', async (t) => {
      const before = await logState(w.runtime)
      const missing = 'org_doesnotexist00000'
      for (const [who, token, callerId] of [['B', b.token, b.ownerId], ['A\'s owner', a.token, a.ownerId]] as const) {
        let calls = 0
        for (const route of w.routes) {
          const onA = callsFor(route, asB, b.token)
          for (const [index, call] of callsFor(route, { ...asB, orgId: missing, callerId }, token).entries()) {
            const response = await w.app.inject(call.options)
            calls++
            assertNotFound(t, call, response)
            if (who === 'B') {
              const twin = await w.app.inject(onA[index]!.options)
              t.same(substance(response), substance(twin), `${who}: ${call.label} and ${onA[index]!.label} are indistinguishable`)
            }
          }
        }
        t.comment(`${who}: ${calls} requests on a missing organization`)
      }
      t.same(await logState(w.runtime), before, 'nothing was written')
    })

    await t.test('as a control, A\'s owner gets through on A\'s GET routes, and B\'s own organization works', async (t) => {
      const consistent = { 'x-consistent-with': formatPosition(w.setUp) }
      for (const route of w.routes.filter((route) => route.method === 'GET' || route.method === 'HEAD')) {
        for (const call of callsFor(route, { ...asB, callerId: a.ownerId }, a.token)) {
          const response = await w.app.inject({ ...call.options, headers: { ...call.options.headers, ...consistent } })
          t.equal(response.statusCode, MEMBER_GET_STATUS[route.url] ?? 200,
            `A's owner: ${call.label} → ${response.statusCode} ${response.body.slice(0, 120)}`)
        }
      }
      const own = { orgId: b.orgId, ownerId: b.ownerId, memberId: b.memberId, callerId: b.ownerId }
      // B acts on their member only (B demoting or removing themselves would end the walk), and removes them last; their
      // webhook endpoint too, after the routes that read it.
      const removed = new Set(['/v1/orgs/:orgId/members/:userId', '/v1/orgs/:orgId/webhooks/endpoints/:endpointId'])
      const removal = (route: OrgRoute): number => Number(route.method === 'DELETE' && removed.has(route.url))
      for (const route of [...w.routes].sort((x, y) => removal(x) - removal(y))) {
        for (const call of callsFor(route, own, b.token, { userId: [b.memberId] })) {
          const response = await w.app.inject({ ...call.options, headers: { ...call.options.headers, ...consistent } })
          const code = problemOf(response)?.code
          if (route.method === 'GET' || route.method === 'HEAD') {
            t.equal(response.statusCode, MEMBER_GET_STATUS[route.url] ?? 200,
              `B on B: ${call.label} → ${response.statusCode} ${response.body.slice(0, 120)}`)
          } else {
            // Commands act (2xx) or meet a domain rule (409: already a member, a member keeps a role; 403: B may not approve the
            // break-glass request B made); never validation, role or tenancy refusals.
            const domainRule = code === 'impersonation.self_approval'
            t.ok(response.statusCode < 500 && response.statusCode !== 400 && (response.statusCode !== 403 || domainRule)
              && code !== 'org.not_found',
              `B on B: ${call.label} → ${response.statusCode} ${response.body.slice(0, 160)}`)
          }
        }
      }
    })
  })
})
