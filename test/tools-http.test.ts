/**
 * The tool registry over HTTP, on PGlite and PostgreSQL: what a caller is
 * offered (nothing with ai:use alone, a member's reads, an owner everything,
 * a viewer not even the route), a call answered with its output, a
 * destructive call waiting for its caller's approval (approved, denied, not
 * approvable by anyone else, read back), input refused as a tool error,
 * another organization's ids not found, impersonation, who reads which
 * calls, and the call list's keyset pages at 0, 1, the page size ±1 and 300.
 */
import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { requestImpersonation } from '../src/application/impersonation/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { problem } from './helpers/http.ts'
import { after, allow, openToolsApp, type Person, type ToolsApp } from './helpers/tools-http.ts'

interface Call { callId: string, status: string, tool: string, callerId: string, requestedAt: string }
interface Page { items: Call[], nextCursor: string | null }

const MEMBER_TOOLS = ['access.who_can', 'members.list', 'org.get', 'roles.list', 'users.get']

t.test('the tool routes', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await openToolsApp(t, sql)
    const people = {
      aiOnly: await w.member('ai-only', { grants: [allow('ai:use')] }),
      member: await w.member('member', ['member']),
      viewer: await w.member('viewer', ['viewer']),
      remover: await w.member('remover', { grants: [allow('ai:use', 'member:remove', 'member:read')] }),
      leaver: await w.member('leaver', ['viewer']),
      stayer: await w.member('stayer', ['member']),
      // Not a critical account (member:invite is not sensitive), so an impersonation of them needs no second approver.
      inviter: await w.member('inviter', { grants: [allow('ai:use', 'member:invite', 'member:read')] })
    }
    await w.settled()
    await t.test('the list offers what the caller\'s roles allow, with schemas and annotations', (t) => listing(t, w, people))
    await t.test('a call answers 200 with its output and call id', (t) => calling(t, w))
    await t.test('a destructive call answers 202, waits for its caller, and runs once approved', (t) => approving(t, w, people))
    await t.test('a pending call denied by its caller never runs', (t) => denying(t, w, people))
    await t.test('refusals are problem+json with the pipeline\'s codes, and name the recorded call', (t) => refusals(t, w, people))
    await t.test('another organization\'s ids are not found', (t) => otherOrganization(t, w))
    await t.test('while impersonating, blocked tools are neither offered nor run', (t) => impersonating(t, w, people))
    await t.test('a member reads their own calls; a reader of the audit log reads everyone\'s', (t) => readers(t, w, people))
    await t.test('the call list in keyset pages at 0, 1, the page size ±1 and 300 calls', (t) => pages(t, w))
  })
})

const tools = (w: ToolsApp, token?: string) => w.api.call('GET', `/v1/orgs/${w.orgId}/tools`, token === undefined ? {} : { token })
const names = (response: LightMyRequestResponse): string[] => (response.json().items as Array<{ name: string }>).map((x) => x.name).sort()
const callTool = (w: ToolsApp, name: string, input: unknown, token?: string) =>
  w.api.call('POST', `/v1/orgs/${w.orgId}/tools/${name}/calls`,
  { body: input === undefined ? {} : { input }, ...(token === undefined ? {} : { token }) })
const onCall = (w: ToolsApp, callId: string, verb: 'approve' | 'deny', token?: string) =>
  w.api.call('POST', `/v1/orgs/${w.orgId}/tool-calls/${callId}/${verb}`, token === undefined ? {} : { token })
const readCall = (w: ToolsApp, callId: string, position: string | null, token?: string) =>
  w.api.call('GET', `/v1/orgs/${w.orgId}/tool-calls/${callId}`, { ...after(position), ...(token === undefined ? {} : { token }) })

async function listing (t: Test, w: ToolsApp, people: Record<string, Person>): Promise<void> {
  const none = await tools(w, people.aiOnly!.token)
  t.equal(none.statusCode, 200)
  t.same(none.json(), { items: [] }, 'ai:use alone: no tool (each needs its own permission too)')
  t.same(names(await tools(w, people.member!.token)), MEMBER_TOOLS, 'a member: the non-sensitive reads')
  const all = await tools(w)
  t.same(names(all), [...w.api.runtime.tools.deps.registry.names].sort(), 'an owner: every registered tool')
  t.ok(names(all).length >= 12, `${names(all).length} tools`)
  const remove = (all.json().items as Array<Record<string, unknown>>).find((tool) => tool.name === 'members.remove')
  t.match(remove, {
    title: String, description: String, permission: 'member:remove', approval: 'always', timeoutMs: Number,
    inputSchema: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { userId: {} } },
    outputSchema: { type: 'object' },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false }
  }, 'a tool as the pipeline describes it')
  const viewer = await tools(w, people.viewer!.token)
  problem(t, viewer, 403, 'auth.forbidden')
  t.equal(viewer.json().action, 'ai:use', 'a viewer may not use AI tools at all: the route names ai:use')
}

async function calling (t: Test, w: ToolsApp): Promise<void> {
  const response = await callTool(w, 'org.get', {})
  t.equal(response.statusCode, 200, response.body)
  t.match(response.json(),
    { status: 'succeeded', callId: String, position: String, output: { orgId: w.orgId, name: 'Org A', plan: 'free' } })
  const omitted = await callTool(w, 'org.get', undefined)
  t.match({ ...omitted.json(), httpStatus: omitted.statusCode }, { httpStatus: 200, output: { orgId: w.orgId } }, 'no input: {}')
  const read = await readCall(w, response.json().callId, response.json().position)
  t.match(read.json(), { tool: 'org.get', status: 'succeeded', callerId: w.api.owner.userId, attempts: 1, approval: 'not_required',
    outputBytes: Number }, 'the call is recorded and read back')
}

async function approving (t: Test, w: ToolsApp, people: Record<string, Person>): Promise<void> {
  const pending = await callTool(w, 'members.remove', { userId: people.leaver!.userId }, people.remover!.token)
  t.equal(pending.statusCode, 202, pending.body)
  const { callId, position, expiresAt, location } = pending.json()
  t.equal(location, `/v1/orgs/${w.orgId}/tool-calls/${callId}`)
  t.equal(pending.headers.location, location, 'Location names the call')
  t.match(pending.json(), { status: 'approval_required' })
  const minutes = (Date.parse(expiresAt) - Date.now()) / 60_000
  t.ok(minutes > 14 && minutes <= 15, `it waits 15 minutes (${minutes.toFixed(2)})`)
  t.match((await readCall(w, callId, position, people.remover!.token)).json(),
    { status: 'awaiting_approval', approval: 'required', attempts: 0, approvalExpiresAt: expiresAt }, 'nothing ran')

  problem(t, await onCall(w, callId, 'approve'), 403, 'tool.approval_not_yours')
  problem(t, await onCall(w, callId, 'deny', people.stayer!.token), 403, 'tool.approval_not_yours')
  await w.settled()
  const still = await w.api.runtime.identity.policies.snapshotOf(w.orgId)
  t.same(still.rolesOf(people.leaver!.userId), ['viewer'], 'the owner\'s approval is not the caller\'s: the member is still there')

  const approved = await onCall(w, callId, 'approve', people.remover!.token)
  t.equal(approved.statusCode, 200, approved.body)
  t.match(approved.json(), { status: 'succeeded', callId, position: String })
  t.same((await w.api.runtime.identity.policies.snapshotOf(w.orgId)).rolesOf(people.leaver!.userId), [], 'the member is gone')
  const read = await readCall(w, callId, approved.json().position, people.remover!.token)
  t.match(read.json(), { status: 'succeeded', decidedBy: people.remover!.userId, attempts: 1, input: { userId: people.leaver!.userId },
    errorCode: null }, 'read after approval: succeeded, approved by its caller')
  problem(t, await onCall(w, callId, 'approve', people.remover!.token), 409, 'tool.call_not_pending')
}

async function denying (t: Test, w: ToolsApp, people: Record<string, Person>): Promise<void> {
  const pending = await callTool(w, 'roles.assign', { userId: people.stayer!.userId, role: 'admin' })
  t.equal(pending.statusCode, 202, pending.body)
  const { callId } = pending.json()
  const denied = await onCall(w, callId, 'deny')
  t.equal(denied.statusCode, 200, denied.body)
  t.match(denied.json(), { callId, status: 'denied', position: String })
  problem(t, await onCall(w, callId, 'approve'), 409, 'tool.call_not_pending')
  problem(t, await onCall(w, callId, 'deny'), 409, 'tool.call_not_pending')
  t.match((await readCall(w, callId, denied.json().position)).json(),
    { status: 'denied', denialReason: 'approval_denied', decidedBy: w.api.owner.userId, attempts: 0 })
  t.same((await w.api.runtime.identity.policies.snapshotOf(w.orgId)).rolesOf(people.stayer!.userId), ['member'], 'nothing changed')
}

async function refusals (t: Test, w: ToolsApp, people: Record<string, Person>): Promise<void> {
  const invalid = await callTool(w, 'members.list', { limit: 'many', extra: true })
  problem(t, invalid, 400, 'tool.invalid_input')
  t.ok(Array.isArray(invalid.json().issues) && invalid.json().issues.length > 0, 'the issues are named')
  t.match((await readCall(w, invalid.json().callId, invalid.json().position)).json(),
    { status: 'failed', errorCode: 'tool.invalid_input', attempts: 0 }, 'recorded as failed, the body never ran')
  problem(t, await w.api.call('POST', `/v1/orgs/${w.orgId}/tools/org.get/calls`, { body: { input: [1] } }), 400, 'http.validation')
  problem(t, await w.api.call('POST', `/v1/orgs/${w.orgId}/tools/org.get/calls`, { body: { input: {}, approved: true } }), 400,
    'http.validation')
  problem(t, await callTool(w, 'no.such.tool', {}), 404, 'tool.not_found')
  const forbidden = await callTool(w, 'members.remove', { userId: people.stayer!.userId }, people.member!.token)
  problem(t, forbidden, 403, 'tool.forbidden')
  t.match(forbidden.json(), { action: 'member:remove', callId: String }, 'the refusal names the action and the recorded call')
  t.match((await readCall(w, forbidden.json().callId, forbidden.json().position, people.member!.token)).json(),
    { status: 'denied', denialReason: 'forbidden' })
  problem(t, await onCall(w, 'call_doesnotexist', 'approve'), 404, 'tool.call_not_found')
}

async function otherOrganization (t: Test, w: ToolsApp): Promise<void> {
  const b = await w.api.newOwner('owner@b.example', 'Org B')
  const mine = await callTool(w, 'org.get', {})
  const recorded = async (): Promise<number> =>
    (await w.api.runtime.sql.query<{ n: number }>("SELECT count(*)::int AS n FROM events WHERE type LIKE 'ai.tool.call.%'")).rows[0]!.n
  const before = await recorded()
  problem(t, await callTool(w, 'org.get', {}, b.token), 404, 'org.not_found')
  problem(t, await w.api.call('GET', `/v1/orgs/${w.orgId}/tool-calls/${mine.json().callId}`, { token: b.token }), 404, 'org.not_found')
  // B in B's own organization, naming A's call: not found there either.
  const inB = (path: string) => `/v1/orgs/${b.orgId}/tool-calls/${mine.json().callId}${path}`
  await w.settled()
  problem(t, await w.api.call('GET', inB(''), { token: b.token }), 404, 'tool.call_not_found')
  problem(t, await w.api.call('POST', inB('/approve'), { token: b.token }), 404, 'tool.call_not_found')
  problem(t, await w.api.call('POST', inB('/deny'), { token: b.token }), 404, 'tool.call_not_found')
  const listed = await w.api.call('GET', `/v1/orgs/${b.orgId}/tool-calls`, { token: b.token })
  t.same(listed.json(), { items: [], nextCursor: null }, 'B\'s list holds none of A\'s calls')
  t.equal(await recorded(), before, 'no call was recorded')
}

async function impersonating (t: Test, w: ToolsApp, people: Record<string, Person>): Promise<void> {
  const owner = { ...systemCommand('tools-http-test'), actor: { type: 'user' as const, id: w.api.owner.userId } }
  const { token } = await requestImpersonation(w.api.runtime.impersonation, owner, w.orgId,
    { userId: w.api.owner.userId, impersonating: false, via: 'member' }, { targetUserId: people.inviter!.userId,
      reason: 'checking what the AI tools offer them' })
  t.type(token, 'string', 'an ordinary member: the session starts at once')
  await w.settled()
  t.same(names(await tools(w, people.inviter!.token)), ['members.invite', 'members.list', 'users.get'], 'the member, as themselves')
  t.same(names(await tools(w, token!)), ['members.list', 'users.get'], 'impersonated: without members.invite, whose action is blocked')
  const blocked = await callTool(w, 'members.invite', { email: 'someone@tools.example', roles: ['viewer'] }, token!)
  problem(t, blocked, 403, 'impersonation.forbidden_action')
  t.match((await readCall(w, blocked.json().callId, blocked.json().position)).json(),
    { status: 'denied', denialReason: 'impersonation_blocked', callerId: people.inviter!.userId, impersonatorId: w.api.owner.userId })
  const read = await callTool(w, 'members.list', { limit: 1 }, token!)
  t.equal(read.statusCode, 200, `an allowed tool runs: ${read.body.slice(0, 200)}`)
}

async function readers (t: Test, w: ToolsApp, people: Record<string, Person>): Promise<void> {
  await w.settled()
  const own = await w.api.call('GET', `/v1/orgs/${w.orgId}/tool-calls?limit=200`, { token: people.member!.token })
  t.equal(own.statusCode, 200)
  const items = (own.json() as Page).items
  t.ok(items.length >= 1 && items.every((call) => call.callerId === people.member!.userId), `a member: their own calls (${items.length})`)
  const theirs = await w.api.call('GET', `/v1/orgs/${w.orgId}/tool-calls?callerId=${w.api.owner.userId}`, { token: people.member!.token })
  problem(t, theirs, 403, 'auth.forbidden')
  t.equal(theirs.json().action, 'audit:read')
  const mine = await w.api.call('GET', `/v1/orgs/${w.orgId}/tool-calls?callerId=${people.member!.userId}`, { token: people.member!.token })
  t.same(mine.json(), own.json(), 'naming themselves is the same list')
  const ownersCall = (await w.api.call('GET', `/v1/orgs/${w.orgId}/tool-calls?limit=1&callerId=${w.api.owner.userId}`)).json() as Page
  problem(t, await readCall(w, ownersCall.items[0]!.callId, null, people.member!.token), 404, 'tool.call_not_found')
  const everyone = (await w.api.call('GET', `/v1/orgs/${w.orgId}/tool-calls?limit=200`)).json() as Page
  const callers = new Set(everyone.items.map((call) => call.callerId))
  t.ok(callers.has(people.member!.userId) && callers.has(w.api.owner.userId) && callers.has(people.remover!.userId),
    'the owner (audit:read) reads every member\'s calls')
  const byTool = (await w.api.call('GET', `/v1/orgs/${w.orgId}/tool-calls?tool=members.remove&limit=200`)).json() as Page
  t.ok(byTool.items.length >= 2 && byTool.items.every((call) => call.tool === 'members.remove'), 'filtered by tool')
}

/** Every page of the caller's calls, in order, at `limit` a page: no page longer than the limit, none short but the last. */
async function walk (t: Test, w: ToolsApp, token: string, limit: number): Promise<string[]> {
  const seen: string[] = []
  let cursor: string | null = null
  let pagesRead = 0
  do {
    const url: string = `/v1/orgs/${w.orgId}/tool-calls?limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`
    const response = await w.api.call('GET', url, { token })
    if (response.statusCode !== 200) throw new Error(`${url}: ${response.body}`)
    const page = response.json() as Page
    if (page.items.length > limit || (page.nextCursor !== null && page.items.length !== limit)) t.fail(`page of ${page.items.length}`)
    seen.push(...page.items.map((call) => call.callId))
    cursor = page.nextCursor
    pagesRead++
  } while (cursor !== null)
  t.ok(pagesRead >= 1)
  return seen
}

async function pages (t: Test, w: ToolsApp): Promise<void> {
  const pager = await w.member('pager', ['member'])
  await w.settled()
  const made = new Set<string>()
  const call = async (tool: string): Promise<void> => {
    const outcome = await w.api.runtime.tools.call({ orgId: w.orgId, tool, input: {}, metadata: { ...systemCommand('tools-http-test'),
      actor: { type: 'user', id: pager.userId } }, caller: { userId: pager.userId, platformAdmin: false, platformSupport: false } })
    made.add(outcome.callId)
  }
  // A few at a time: their order is the read model's to decide (request time, then id), which the walk checks.
  const grow = async (to: number): Promise<void> => {
    while (made.size < to) {
      const batch = Array.from({ length: Math.min(10, to - made.size) }, (_, i) => ((made.size + i) % 10 === 3 ? 'roles.list' : 'org.get'))
      await Promise.all(batch.map(call))
    }
    await w.settled()
  }
  let newestFirst: string[] = []
  for (const [count, limit] of [[0, 50], [1, 50], [49, 50], [50, 50], [51, 50], [300, 50], [300, 200], [300, 7]] as const) {
    await grow(count)
    const seen = await walk(t, w, pager.token, limit)
    t.same([...seen].sort(), [...made].sort(), `${count} calls, pages of ${limit}: each call once`)
    if (limit === 50) newestFirst = seen
    else t.same(seen, newestFirst, `pages of ${limit} list them in the same order`)
  }
  const everything = (await w.api.call('GET', `/v1/orgs/${w.orgId}/tool-calls?limit=200&callerId=${pager.userId}`)).json() as Page
  const order = (x: Call, y: Call): number => y.requestedAt.localeCompare(x.requestedAt) || (y.callId < x.callId ? -1 : 1)
  t.same(everything.items.map((c) => c.callId), [...everything.items].sort(order).map((c) => c.callId), 'newest first, then by id')
  t.same(everything.items.map((c) => c.callId), newestFirst.slice(0, 200), 'the owner reads the pager\'s calls as they do')
  const listed = await w.api.call('GET', `/v1/orgs/${w.orgId}/tool-calls?limit=200&tool=roles.list`, { token: pager.token })
  t.equal((listed.json() as Page).items.length, 30, 'the tool filter: 30 of the 300 calls are roles.list')
  const foreign = Buffer.from(JSON.stringify(['members.1', { userId: 'usr_x' }])).toString('base64url')
  for (const bad of ['garbage', 'dG9vbC1jYWxscy4x', foreign]) {
    problem(t, await w.api.call('GET', `/v1/orgs/${w.orgId}/tool-calls?cursor=${bad}`, { token: pager.token }), 400, 'http.invalid_cursor')
  }
  for (const limit of ['0', '201', '-1', 'x']) {
    problem(t, await w.api.call('GET', `/v1/orgs/${w.orgId}/tool-calls?limit=${limit}`, { token: pager.token }), 400, 'http.validation')
  }
}
