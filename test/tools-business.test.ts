/**
 * The business tools with their real bodies, through the runtime's pipeline:
 * the lists a caller is offered, reads and writes against a real
 * organization, approval (by the caller alone, as they called, within its
 * window), denial, and the tool calls read model's pages and reads.
 */
import t, { type Test } from 'tap'
import { z } from 'zod'
import { addMember, registerUser } from '../src/application/identity/commands.ts'
import { listToolCalls, showToolCall } from '../src/application/tools/calls.ts'
import type { ToolPipeline } from '../src/application/tools/pipeline.ts'
import { defineTool, type AnyTool } from '../src/application/tools/tool.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { formatPosition } from '../src/eventstore/position.ts'
import { lastWritten, settled } from './helpers/assertions.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { eventTypes, openToolWorld, type ToolWorld } from './helpers/tools.ts'

const READS = [
  'org.get', 'members.list', 'users.get', 'roles.list', 'access.who_can', 'authz.explain', 'audit.search', 'impersonation.list',
  'billing.subscription.get', 'billing.invoices.list'
]
// billing.plan.change needs billing:update, which the impersonation list blocks.
const BLOCKED_TOOLS = ['members.invite', 'members.remove', 'roles.assign', 'billing.plan.change']

t.test('the business tools, as the runtime runs them', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openToolWorld(t, sql)
    const tools = world.runtime.tools
    const viewer = await registerUser(world.runtime.identity, systemCommand('test'), { email: 'viewer@tools.example', displayName: 'V' })
    await addMember(world.runtime.identity, { ...systemCommand('test'), actor: { type: 'user', id: world.owner.userId } }, world.orgId,
      { userId: viewer.userId, roles: ['viewer'] })
    // The reads below go through the read models (org.get, members.list): they must show the set-up first.
    await settled(world.runtime)
    await t.test('a caller is offered the tools their roles allow, none blocked while impersonating',
      (t) => offers(t, world, viewer.userId))
    await t.test('reads answer what the routes answer', (t) => reads(t, world, tools))
    await t.test('a rename is written and read back', (t) => rename(t, world, tools))
    await t.test('a destructive call waits for its caller\'s approval, and runs once approved',
      (t) => approval(t, world, tools, viewer.userId))
    await t.test('a pending call is denied by its caller, and expires after 15 minutes', (t) => denial(t, world))
    await t.test('what cannot be called is refused before anything is recorded', (t) => unknown(t, world, tools))
    await t.test('the read model lists calls newest first, a page at a time, and shows one', (t) => readModel(t, world))
  })
})

async function call (world: ToolWorld, tools: ToolPipeline, tool: string, input: unknown, userId = world.owner.userId) {
  return tools.call({ orgId: world.orgId, tool, input, caller: world.caller(userId), metadata: world.metadata(userId) })
}

function outputOf (outcome: Awaited<ReturnType<ToolPipeline['call']>>): Record<string, unknown> {
  if (outcome.status !== 'succeeded') throw new Error(`expected a success, got ${JSON.stringify(outcome)}`)
  return outcome.output
}

async function offers (t: Test, world: ToolWorld, viewer: string): Promise<void> {
  const names = async (userId: string, impersonatorId?: string) =>
    (await world.runtime.tools.available(world.orgId, world.caller(userId, impersonatorId))).map((tool) => tool.name).sort()
  t.same(await names(world.owner.userId), world.runtime.tools.deps.registry.names.sort(), 'an owner: every tool')
  t.same(await names(viewer), ['access.who_can', 'members.list', 'org.get', 'roles.list', 'users.get'], 'a viewer: the non-sensitive reads')
  const impersonated = await names(world.owner.userId, viewer)
  t.same(impersonated.filter((name) => BLOCKED_TOOLS.includes(name)), [], 'impersonated: no tool whose action is blocked')
  t.ok(READS.every((name) => impersonated.includes(name)))
  const [listed] = await world.runtime.tools.available(world.orgId, world.caller(world.owner.userId))
  t.match(listed, { inputSchema: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object' }, outputSchema: { type: 'object' },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } })
  await t.rejects(world.runtime.tools.available(world.orgId, world.caller('usr_stranger')), { code: 'org.not_found' }, 'a non-member: 404')
}

async function reads (t: Test, world: ToolWorld, tools: ToolPipeline): Promise<void> {
  t.match(outputOf(await call(world, tools, 'org.get', {})), { orgId: world.orgId, name: 'Tools Org', plan: 'free' })
  const first = outputOf(await call(world, tools, 'members.list', { limit: 1 }))
  t.equal((first.items as unknown[]).length, 1)
  t.type(first.nextCursor, 'string', 'two members: a second page')
  const second = outputOf(await call(world, tools, 'members.list', { limit: 1, cursor: first.nextCursor }))
  t.equal(second.nextCursor, null, 'and no third')
  t.not((second.items as Array<{ userId: string }>)[0]!.userId, (first.items as Array<{ userId: string }>)[0]!.userId)
  const garbled = await call(world, tools, 'members.list', { cursor: 'not-ours' })
  t.match(garbled, { status: 'failed', error: { code: 'http.invalid_cursor' } }, 'a cursor not ours is the read\'s refusal')
  t.match(outputOf(await call(world, tools, 'users.get', { userId: world.owner.userId })),
    { userId: world.owner.userId, email: 'owner@tools.example', status: 'active', roles: ['owner'] })
  t.match(await call(world, tools, 'users.get', { userId: 'usr_stranger' }), { status: 'failed', error: { code: 'org.member_not_found' } },
    'someone who is not a member is not found')
  t.ok((outputOf(await call(world, tools, 'roles.list', {})).items as Array<{ roleId: string }>).some((role) => role.roleId === 'owner'))
  await world.caughtUp(formatPosition(await lastWritten(world.runtime.sql)))
  const holders = outputOf(await call(world, tools, 'access.who_can', { action: 'member:remove' })).holders as Array<{ userId: string }>
  t.ok(holders.some((holder) => holder.userId === world.owner.userId), 'the owner holds member:remove')
  const check = { action: 'org:delete', resource: { type: 'organization', id: world.orgId } }
  t.match(outputOf(await call(world, tools, 'authz.explain', check)), { allowed: true, reason: 'allowed' })
  t.match(await call(world, tools, 'authz.explain', { action: 'org:obliterate', resource: { type: 'organization' } }),
    { status: 'failed', error: { code: 'rbac.unknown_action' } })
  t.type(outputOf(await call(world, tools, 'audit.search', { limit: 5 })).items, Array)
  t.same(outputOf(await call(world, tools, 'impersonation.list', {})), { items: [], nextCursor: null })
}

async function rename (t: Test, world: ToolWorld, tools: ToolPipeline): Promise<void> {
  const renamed = await call(world, tools, 'org.rename', { name: '  Tools Org Renamed ' })
  t.equal(renamed.status, 'succeeded')
  await world.caughtUp(renamed.position)
  t.match(outputOf(await call(world, tools, 'org.get', {})), { name: 'Tools Org Renamed' })
  const events = await world.runtime.store.readStream(`org-${world.orgId}`)
  const event = events.find((e) => e.type === 'org.organization.renamed')!
  t.equal(event.metadata.causationId, renamed.callId, 'the body\'s event names the call that caused it')
  t.equal(event.metadata.actor.id, world.owner.userId, 'as the caller')
}

async function approval (t: Test, world: ToolWorld, tools: ToolPipeline, viewer: string): Promise<void> {
  const pending = await call(world, tools, 'members.remove', { userId: viewer })
  t.match(pending, { status: 'approval_required' })
  t.same(eventTypes(await world.events(pending.callId)), ['requested', 'approval_requested'], 'nothing ran')
  const request = (userId: string, impersonatorId?: string) =>
    ({ orgId: world.orgId, callId: pending.callId, caller: world.caller(userId, impersonatorId), metadata: world.metadata(userId) })
  await t.rejects(tools.approve(request(viewer)), { code: 'tool.approval_not_yours' }, 'another member does not approve it')
  await t.rejects(tools.approve(request(world.owner.userId, viewer)), { code: 'tool.approval_not_yours' },
    'nor an impersonation of its caller')
  const approved = await tools.approve(request(world.owner.userId))
  t.match(approved, { status: 'succeeded', callId: pending.callId })
  const snapshot = await world.runtime.identity.policies.snapshotOf(world.orgId)
  t.same(snapshot.rolesOf(viewer), [], 'the member is gone')
  await t.rejects(tools.approve(request(world.owner.userId)), { code: 'tool.call_not_pending' }, 'it runs once')
  t.same(eventTypes(await world.events(pending.callId)), ['requested', 'approval_requested', 'approved', 'started', 'succeeded'])
}

async function denial (t: Test, world: ToolWorld): Promise<void> {
  const tools = world.runtime.tools
  const member = await registerUser(world.runtime.identity, systemCommand('test'), { email: 'm@tools.example', displayName: 'M' })
  await addMember(world.runtime.identity, { ...systemCommand('test'), actor: { type: 'user', id: world.owner.userId } }, world.orgId,
    { userId: member.userId, roles: ['member'] })
  const pending = await call(world, tools, 'roles.assign', { userId: member.userId, role: 'admin' })
  const owner = world.owner.userId
  const request = { orgId: world.orgId, callId: pending.callId, caller: world.caller(owner), metadata: world.metadata(owner) }
  t.match(await tools.deny(request), { status: 'denied', callId: pending.callId })
  await t.rejects(tools.approve(request), { code: 'tool.call_not_pending' }, 'a denied call is not approved')
  t.same((await world.runtime.identity.policies.snapshotOf(world.orgId)).rolesOf(member.userId), ['member'], 'nothing changed')
  const later = await call(world, tools, 'roles.assign', { userId: member.userId, role: 'admin' })
  const expiresAt = later.status === 'approval_required' ? Date.parse(later.expiresAt) : NaN
  t.equal(expiresAt - Date.now() <= 15 * 60_000 && expiresAt - Date.now() > 14 * 60_000, true, 'it waits 15 minutes')
  const afterwards = world.pipeline(world.runtime.tools.deps.registry.list().map((r) => r.tool), () => new Date(expiresAt))
  await t.rejects(afterwards.approve({ ...request, callId: later.callId }), { code: 'tool.approval_expired' })
  t.match((await world.events(later.callId)).at(-1), { type: 'ai.tool.call.denied', data: { reason: 'approval_expired', by: 'system' } })
}

const withToken = defineTool({
  name: 'test.secret_destructive',
  title: 'A destructive test tool taking a secret',
  description: 'test',
  input: z.object({ token: z.string() }).strict(),
  output: z.object({}).strict(),
  permission: { action: 'org:update', resource: (_input, { orgId }) => ({ type: 'organization', id: orgId }) },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  timeoutMs: 1000,
  retries: 0,
  approval: 'always',
  examples: [{ input: { token: 't' }, output: {} }],
  async run () { return {} }
})

async function unknown (t: Test, world: ToolWorld, tools: ToolPipeline): Promise<void> {
  const head = await world.runtime.store.headPosition()
  await t.rejects(call(world, tools, 'no.such.tool', {}), { code: 'tool.not_found' })
  await t.rejects(call(world, tools, 'org.get', {}, 'usr_stranger'), { code: 'org.not_found' }, 'a non-member: 404')
  const elsewhere = world.caller(world.owner.userId, 'usr_x')
  await t.rejects(tools.call({ orgId: world.orgId, tool: 'org.get', input: {}, metadata: world.metadata(world.owner.userId),
    caller: { ...elsewhere, impersonation: { ...elsewhere.impersonation!, orgId: 'org_other' } } }), { code: 'org.not_found' },
  'an impersonation of another organization: 404')
  // The runtime's own timers may write meanwhile (the expiry of the pending call above): what counts is that no new call was recorded.
  const after = await world.runtime.store.readAll(head, { streamPrefix: 'toolcall-', types: ['ai.tool.call.requested'] })
  t.same(after.events.map((e) => `${e.streamId} ${e.type}`), [], 'nothing was recorded')
  const secret = await world.pipeline([withToken as AnyTool]).call({ orgId: world.orgId, tool: withToken.name,
    input: { token: 'abc' }, caller: world.caller(world.owner.userId), metadata: world.metadata(world.owner.userId) })
  t.match(secret, { status: 'failed', error: { code: 'tool.unapprovable_input' } }, 'a secret cannot wait for approval: it is not kept')
  t.match((await world.events(secret.callId))[0], { data: { input: { token: '[redacted]' }, inputKept: false } })
}

async function readModel (t: Test, world: ToolWorld): Promise<void> {
  const tools = world.runtime.tools
  // A realistic page: the calls above and 50 more, each of which must be listed.
  const made: string[] = []
  for (let i = 0; i < 50; i++) made.push((await call(world, tools, 'org.get', {})).callId)
  const stranger = await call(world, tools, 'org.get', { password: 'hunter2hunter2' })
  made.push(stranger.callId)
  await world.caughtUp(stranger.position)
  const shown = await showToolCall(world.runtime.sql, world.orgId, stranger.callId)
  t.match(shown, { tool: 'org.get', status: 'failed', errorCode: 'tool.invalid_input', input: { password: '[redacted]' }, attempts: 0 })
  await t.rejects(showToolCall(world.runtime.sql, 'org_other', stranger.callId), { code: 'tool.call_not_found' }, 'not in another org')
  const all = await listToolCalls(world.runtime.sql, world.orgId, { limit: 500 })
  const listed = new Set(all.items.map((c) => c.callId))
  t.same(made.filter((callId) => !listed.has(callId)), [],
    `a realistic page: ${all.items.length} calls, this test's ${made.length} among them`)
  t.equal(all.nextCursor, null)
  const ordered = [...all.items].sort((a, b) => (b.requestedAt.localeCompare(a.requestedAt) || (b.callId < a.callId ? -1 : 1)))
  t.same(all.items.map((c) => c.callId), ordered.map((c) => c.callId), 'newest first, ids byte-wise')
  const n = all.items.length
  for (const limit of [1, n - 1, n, n + 1]) {
    const seen: string[] = []
    let cursor: string | undefined
    do {
      const page = await listToolCalls(world.runtime.sql, world.orgId, { limit, ...(cursor === undefined ? {} : { cursor }) })
      t.ok(page.items.length <= limit)
      seen.push(...page.items.map((c) => c.callId))
      cursor = page.nextCursor ?? undefined
    } while (cursor !== undefined)
    t.same(seen, all.items.map((c) => c.callId), `pages of ${limit} give every call once, in order`)
  }
  t.same(await listToolCalls(world.runtime.sql, 'org_without_calls', { limit: 10 }), { items: [], nextCursor: null }, 'none: an empty page')
  const mine = await listToolCalls(world.runtime.sql, world.orgId, { limit: 500, tool: 'members.remove' })
  t.ok(mine.items.length >= 1 && mine.items.every((c) => c.tool === 'members.remove'), 'filtered by tool')
  await t.rejects(listToolCalls(world.runtime.sql, world.orgId, { limit: 5, cursor: 'garbage' }), { code: 'http.invalid_cursor' })
}
