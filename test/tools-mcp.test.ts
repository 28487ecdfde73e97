/**
 * The MCP server, through the SDK's own Client over Streamable HTTP on a
 * real listening socket, on PGlite and PostgreSQL: what an owner and a bare
 * member are offered, a read's structuredContent against its outputSchema,
 * refusals as tool errors, approval over HTTP and by elicitation (accepted
 * and declined), a timeout, sessions bound to their token, Host and Origin
 * refused, 401 pointing at the protected-resource metadata, another
 * organization 404, and garbage answered with JSON-RPC errors.
 */
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import t, { type Test } from 'tap'
import { z } from 'zod'
import { defineTool, type AnyTool } from '../src/application/tools/tool.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { problem } from './helpers/http.ts'
import { MCP_POST_HEADERS, mcpPath, openMcpWorld, type McpWorld } from './helpers/mcp.ts'

const MEMBER_TOOLS = ['access.who_can', 'members.list', 'org.get', 'roles.list', 'users.get']
const META = 'dev.ledgerline/tool-call'

/** A read that never answers: its body waits for the timeout's abort. */
const slowTool = defineTool({
  name: 'test.slow', title: 'Slow', description: 'Answers after its timeout: for the timeout test.',
  input: z.object({}).strict(), output: z.object({ ok: z.boolean() }).strict(),
  permission: { action: 'audit:read', resource: (_input, { orgId }) => ({ type: 'organization', id: orgId }) },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  timeoutMs: 50, retries: 0, approval: 'never', examples: [{ input: {}, output: { ok: true } }],
  run: async (_input, { signal }) => new Promise((_resolve, reject) => { signal.addEventListener('abort', () => reject(signal.reason)) })
}) as AnyTool

t.test('the MCP server over Streamable HTTP', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const world = await openMcpWorld(t, sql)
    world.api.runtime.tools.deps.registry.register(slowTool)
    await t.test('an owner and a bare member are offered exactly what their roles allow', (t) => lists(t, world))
    await t.test('a read answers structuredContent that matches its outputSchema', (t) => read(t, world))
    await t.test('refusals are tool errors with their code; an unknown tool is a protocol error', (t) => refusals(t, world))
    await t.test('a destructive call waits, names the approval route, and runs once approved over HTTP', (t) => approvalOverHttp(t, world))
    await t.test('a client that elicits is asked: accept runs the call, decline denies it', (t) => approvalByElicitation(t, world))
    await t.test('a slow tool times out as a tool error', (t) => timeout(t, world))
    await t.test('a session belongs to its token; a request without one is served alone', (t) => sessions(t, world))
    await t.test('a Host or Origin the server does not answer to is refused', (t) => origins(t, world))
    await t.test('no token or a bad one: 401 pointing at the protected-resource metadata', (t) => unauthenticated(t, world))
    await t.test('another organization\'s endpoint is 404, not a tool list', (t) => otherOrg(t, world))
    await t.test('garbage gets a JSON-RPC error or a problem, and the server stays up', (t) => garbage(t, world))
  })
})

function text (result: CallToolResult): string {
  const [first] = result.content
  return first?.type === 'text' ? first.text : ''
}

async function lists (t: Test, world: McpWorld): Promise<void> {
  const registered = world.api.runtime.tools.deps.registry.names
  const owner = await world.connect(world.api.owner.token)
  const ownerTools = (await owner.listTools()).tools
  t.same(ownerTools.map((tool) => tool.name).sort(), [...registered].sort(), 'an owner: every registered tool')
  const member = await world.member('bare', ['member'])
  const memberTools = (await (await world.connect(member.token)).listTools()).tools
  t.same(memberTools.map((tool) => tool.name).sort(), MEMBER_TOOLS, 'a bare member: the non-sensitive reads')
  const caller = { userId: member.userId, platformAdmin: false, platformSupport: false }
  const offered = await world.api.runtime.tools.available(world.orgId, caller)
  t.same(memberTools.map((tool) => tool.name), offered.map((tool) => tool.name), 'exactly what the pipeline offers them')
  const remove = ownerTools.find((tool) => tool.name === 'members.remove')!
  const described = offered.find((tool) => tool.name === 'org.get')!
  t.match(memberTools.find((tool) => tool.name === 'org.get'), {
    title: described.title, description: described.description, inputSchema: described.inputSchema,
    outputSchema: described.outputSchema, annotations: described.annotations,
    _meta: { [META]: { permission: described.permission, approval: 'never', timeoutMs: described.timeoutMs } }
  })
  t.match(remove.annotations, { destructiveHint: true, readOnlyHint: false })
  t.equal((remove._meta?.[META] as { approval: string }).approval, 'always')
}

async function read (t: Test, world: McpWorld): Promise<void> {
  const client = await world.connect(world.api.owner.token)
  const tools = (await client.listTools()).tools
  const result = await client.callTool({ name: 'org.get', arguments: {} }) as CallToolResult
  t.notOk(result.isError)
  t.match(result.structuredContent, { orgId: world.orgId, name: 'Org A' })
  const schema = tools.find((tool) => tool.name === 'org.get')!.outputSchema!
  const check = new AjvJsonSchemaValidator().getValidator(schema)(result.structuredContent)
  t.ok(check.valid, `structuredContent matches outputSchema: ${check.errorMessage ?? ''}`)
  t.same(JSON.parse(text(result)), result.structuredContent, 'the text is the same JSON')
  const page = await client.callTool({ name: 'members.list', arguments: { limit: 1 } }) as CallToolResult
  t.equal((page.structuredContent as { items: unknown[] }).items.length, 1, 'a page of 1')
}

async function refusals (t: Test, world: McpWorld): Promise<void> {
  const member = await world.member('refused', ['member'])
  const client = await world.connect(member.token)
  const denied = await client.callTool({ name: 'audit.search', arguments: {} }) as CallToolResult
  t.equal(denied.isError, true)
  t.match(text(denied), /^tool\.forbidden: /)
  t.equal(denied.structuredContent, undefined, 'no structuredContent on an error')
  const callId = (denied._meta?.[META] as { callId: string }).callId
  await world.caughtUp((denied._meta?.[META] as { position: string }).position)
  const recorded = await world.api.runtime.store.readStream(`toolcall-${callId}`)
  t.same(recorded.map((event) => event.type), ['ai.tool.call.requested', 'ai.tool.call.denied'], 'the denial is recorded')
  const invalid = await client.callTool({ name: 'members.list', arguments: { limit: 0 } }) as CallToolResult
  t.equal(invalid.isError, true)
  t.match(text(invalid), /^tool\.invalid_input: /)
  await t.rejects(client.callTool({ name: 'no.such.tool', arguments: {} }), { code: -32602, message: /tool\.not_found/ })
}

function metaOf (result: CallToolResult): Record<string, string> {
  return result._meta?.[META] as Record<string, string>
}

async function approvalOverHttp (t: Test, world: McpWorld): Promise<void> {
  const leaving = await world.member('leaving', ['viewer'])
  const client = await world.connect(world.api.owner.token)
  const pending = await client.callTool({ name: 'members.remove', arguments: { userId: leaving.userId } }) as CallToolResult
  t.equal(pending.isError, true, 'not the tool\'s output: an error result')
  const { callId, approve, expiresAt } = metaOf(pending)
  t.equal(approve, `POST /v1/orgs/${world.orgId}/tool-calls/${callId}/approve`)
  t.match(text(pending), new RegExp(`^approval_required: .*${callId}.*/tool-calls/${callId}/approve.*${expiresAt}`))
  t.equal(pending.structuredContent, undefined)
  const approved = await world.api.call('POST', `/v1/orgs/${world.orgId}/tool-calls/${callId}/approve`)
  t.equal(approved.statusCode, 200, approved.body)
  t.match(approved.json(), { callId, status: 'succeeded' })
  await world.caughtUp(approved.json().position)
  problem(t, await world.api.call('GET', `/v1/orgs/${world.orgId}`, { token: leaving.token }), 404, 'org.not_found')
}

async function approvalByElicitation (t: Test, world: McpWorld): Promise<void> {
  const answers: string[] = []
  let answer: 'accept' | 'decline' = 'accept'
  const elicit = () => { answers.push(answer); return { action: answer, content: {} } }
  const client = await world.connect(world.api.owner.token, { elicit })
  const promoted = await world.member('promoted', ['viewer'])
  const accepted = await client.callTool({ name: 'roles.assign', arguments: { userId: promoted.userId, role: 'admin' } }) as CallToolResult
  t.notOk(accepted.isError, text(accepted))
  t.match(accepted.structuredContent, { position: String })
  t.same(answers, ['accept'], 'asked once')
  await world.caughtUp(metaOf(accepted).position ?? null)
  const profile = await client.callTool({ name: 'users.get', arguments: { userId: promoted.userId } }) as CallToolResult
  t.same((profile.structuredContent as { roles: string[] }).roles.sort(), ['admin', 'viewer'], 'the role was given')
  answer = 'decline'
  const kept = await world.member('kept', ['viewer'])
  const declined = await client.callTool({ name: 'members.remove', arguments: { userId: kept.userId } }) as CallToolResult
  t.equal(declined.isError, true)
  t.match(text(declined), /^approval_denied: /)
  const { callId } = metaOf(declined)
  await world.caughtUp(metaOf(declined).position ?? null)
  const events = await world.api.runtime.store.readStream(`toolcall-${callId}`)
  t.same(events.map((event) => event.type), ['ai.tool.call.requested', 'ai.tool.call.approval_requested', 'ai.tool.call.denied'])
  t.match(events.at(-1)?.data, { reason: 'approval_denied' })
  t.equal((await world.api.call('GET', `/v1/orgs/${world.orgId}`, { token: kept.token })).statusCode, 200, 'still a member')
}

async function timeout (t: Test, world: McpWorld): Promise<void> {
  const client: Client = await world.connect(world.api.owner.token)
  const result = await client.callTool({ name: 'test.slow', arguments: {} }) as CallToolResult
  t.equal(result.isError, true)
  t.match(text(result), /^tool\.timeout: /)
  t.match(metaOf(result), { status: 'timed_out', code: 'tool.timeout' })
}


/** A JSON-RPC POST without a session, as a client that keeps none would send it. */
function rpc (world: McpWorld, token: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return world.fetch({
    method: 'POST', headers: { ...MCP_POST_HEADERS, authorization: `Bearer ${token}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body)
  })
}

async function sessions (t: Test, world: McpWorld): Promise<void> {
  const token = world.api.owner.token
  const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }
  const opened = await rpc(world, token, initialize)
  t.equal(opened.status, 200)
  const sessionId = opened.headers.get('mcp-session-id')
  t.match(sessionId, /^[0-9a-f-]{36}$/, 'initialize opens a session')
  t.match(await opened.json(), { id: 1, result: { serverInfo: { name: 'ledgerline' }, capabilities: { tools: {} } } })
  const list = { jsonrpc: '2.0', id: 2, method: 'tools/list' }
  const listed = await rpc(world, token, list, { 'mcp-session-id': sessionId! })
  t.equal(listed.status, 200)
  t.ok((await listed.json() as { result: { tools: unknown[] } }).result.tools.length > 0)
  const other = await world.member('other-token', ['admin'])
  problem(t, await jsonOf(rpc(world, other.token, list, { 'mcp-session-id': sessionId! })), 404, 'mcp.session_not_found')
  problem(t, await jsonOf(rpc(world, token, list, { 'mcp-session-id': 'not-a-session' })), 404, 'mcp.session_not_found')
  const alone = await rpc(world, token, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'org.get', arguments: {} } })
  t.equal(alone.status, 200)
  t.equal(alone.headers.get('mcp-session-id'), null, 'no session without initialize')
  t.match(await alone.json(), { id: 3, result: { structuredContent: { orgId: world.orgId } } })
  const streamHeaders: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'text/event-stream' }
  for (const headers of [streamHeaders, { ...streamHeaders, 'mcp-session-id': sessionId! }]) {
    const streamless = await world.fetch({ method: 'GET', headers })
    problem(t, await jsonOf(streamless), 405, 'mcp.method_not_allowed')
    t.equal(streamless.headers.get('allow'), 'POST, DELETE', 'no stream at GET, with or without a session')
  }
  const sessionless = await world.fetch({ method: 'DELETE', headers: { authorization: `Bearer ${token}` } })
  problem(t, await jsonOf(sessionless), 405, 'mcp.method_not_allowed')
  const ended = await world.fetch({
    method: 'DELETE', headers: { authorization: `Bearer ${token}`, 'mcp-session-id': sessionId!, 'mcp-protocol-version': '2025-06-18' }
  })
  t.equal(ended.status, 200, 'DELETE ends the session')
  problem(t, await jsonOf(rpc(world, token, list, { 'mcp-session-id': sessionId! })), 404, 'mcp.session_not_found')
}

/** The response with its JSON read, in the shape problem() takes. */
async function jsonOf (response: Promise<Response> | Response) {
  const answered = await response
  const body = await answered.text()
  return { statusCode: answered.status, headers: Object.fromEntries(answered.headers), json: () => JSON.parse(body) as { code?: string } }
}

async function origins (t: Test, world: McpWorld): Promise<void> {
  const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' }
  const token = world.api.owner.token
  const port = new URL(world.base).port
  const rebound = await world.raw({ method: 'POST', headers: { ...MCP_POST_HEADERS, authorization: `Bearer ${token}`,
    host: `attacker.example:${port}` }, body: JSON.stringify(list) })
  problem(t, rebound, 403, 'mcp.host_not_allowed')
  problem(t, await jsonOf(rpc(world, token, list, { origin: 'https://attacker.example' })), 403, 'mcp.origin_not_allowed')
  const sameOrigin = await rpc(world, token, list, { origin: world.base })
  t.equal(sameOrigin.status, 200, 'the server\'s own origin is allowed')
  const local = await world.raw({ method: 'POST', headers: { ...MCP_POST_HEADERS, authorization: `Bearer ${token}`,
    host: `localhost:${port}` }, body: JSON.stringify(list) })
  t.equal(local.statusCode, 200, 'a loopback name on any port is allowed')
  const metadata = await world.raw({ path: `/.well-known/oauth-protected-resource${mcpPath(world.orgId)}`, headers: {
    host: 'attacker.example' } })
  problem(t, metadata, 403, 'mcp.host_not_allowed')
  const unauthenticated = await world.raw({ method: 'POST', headers: { ...MCP_POST_HEADERS, host: 'attacker.example' },
    body: JSON.stringify(list) })
  t.equal(unauthenticated.statusCode, 401)
  t.equal(unauthenticated.headers['www-authenticate'], 'Bearer realm="ledgerline"', 'no metadata address under a foreign Host')
}

async function unauthenticated (t: Test, world: McpWorld): Promise<void> {
  const metadataUrl = `${world.base}/.well-known/oauth-protected-resource${mcpPath(world.orgId)}`
  for (const token of [undefined, 'll_nope_nope']) {
    const response = await world.fetch({ method: 'POST', headers: { ...MCP_POST_HEADERS, ...token === undefined ? {} : {
      authorization: `Bearer ${token}` } }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) })
    problem(t, await jsonOf(response), 401, 'auth.unauthenticated')
    t.equal(response.headers.get('www-authenticate'), `Bearer realm="ledgerline", resource_metadata="${metadataUrl}"`)
  }
  const metadata = await world.fetch({ path: new URL(metadataUrl).pathname })
  t.equal(metadata.status, 200)
  t.same(await metadata.json(), {
    resource: `${world.base}${mcpPath(world.orgId)}`, bearer_methods_supported: ['header'], resource_name: 'Ledgerline MCP server',
    scopes_supported: []
  })
  const unknown = await world.fetch({ path: `/.well-known/oauth-protected-resource${mcpPath('org_nobody')}` })
  t.match(await unknown.json(), { resource: `${world.base}${mcpPath('org_nobody')}` }, 'the same for any organization id')
  await t.rejects(world.connect('ll_nope_nope'), { code: 401 }, 'the SDK client sees the 401')
}

async function otherOrg (t: Test, world: McpWorld): Promise<void> {
  const stranger = await world.api.newOwner('stranger@mcp.example', 'Org B')
  await world.caughtUp(null)
  problem(t, await jsonOf(rpc(world, stranger.token, { jsonrpc: '2.0', id: 1, method: 'tools/list' })), 404, 'org.not_found')
  await t.rejects(world.connect(stranger.token, { orgId: world.orgId }), { code: 404 })
  const own = await world.connect(stranger.token, { orgId: stranger.orgId })
  t.ok((await own.listTools()).tools.length > 0, 'their own organization lists tools')
}

async function garbage (t: Test, world: McpWorld): Promise<void> {
  const token = world.api.owner.token
  const notJson = await rpc(world, token, '{"jsonrpc": "2.0", "id": 1, "method": ')
  t.equal(notJson.status, 400)
  t.match(await notJson.json(), { jsonrpc: '2.0', error: { code: -32700 }, id: null }, 'not JSON: a JSON-RPC parse error')
  const notRpc = await rpc(world, token, { hello: 'world' })
  t.equal(notRpc.status, 400)
  t.match(await notRpc.json(), { jsonrpc: '2.0', error: { code: -32700 } }, 'not JSON-RPC: a JSON-RPC error')
  const unknownMethod = await rpc(world, token, { jsonrpc: '2.0', id: 7, method: 'tools/destroy' })
  t.match(await unknownMethod.json(), { id: 7, error: { code: -32601 } }, 'an unknown method')
  const badParams = await rpc(world, token, { jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 42 } })
  // The SDK answers params its schema refuses with its internal-error code, the schema's complaint as the message.
  t.match(await badParams.json(), { id: 8, error: { code: -32603, message: /name/ } }, 'bad params: a JSON-RPC error')
  const wrongType = await world.fetch({ method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain',
    accept: MCP_POST_HEADERS.accept }, body: 'hello' })
  t.equal(wrongType.status, 415)
  const notAccepting = await rpc(world, token, { jsonrpc: '2.0', id: 9, method: 'tools/list' }, { accept: 'application/json' })
  t.equal(notAccepting.status, 406)
  t.match(await notAccepting.json(), { error: { code: -32000 } })
  const batch = await rpc(world, token, [{ jsonrpc: '2.0', id: 10, method: 'tools/list' }, { jsonrpc: '2.0', method: 'nothing' }])
  t.equal(batch.status, 200)
  const after = await (await world.connect(token)).callTool({ name: 'org.get', arguments: {} }) as CallToolResult
  t.notOk(after.isError, 'the server still answers')
}
