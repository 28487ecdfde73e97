/**
 * The MCP server over a real listening socket: the test application
 * listening on a port of its own, members with API tokens, the SDK's own
 * `Client` over `StreamableHTTPClientTransport` as a member, and plain
 * `fetch` for what a client would never send.
 */
import { request as httpRequest } from 'node:http'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ElicitRequestSchema, type ElicitResult } from '@modelcontextprotocol/sdk/types.js'
import type { Test } from 'tap'
import { addMember, createToken, registerUser } from '../../src/application/identity/commands.ts'
import { systemCommand } from '../../src/domain/envelope.ts'
import type { BuiltInRole } from '../../src/domain/identity/events.ts'
import { parsePosition } from '../../src/eventstore/position.ts'
import { openTestApp, type TestApp } from './app.ts'
import type { SqlClient } from '../../src/sql/client.ts'

export interface Member {
  readonly userId: string
  readonly token: string
}

export interface McpWorld {
  readonly api: TestApp
  /** http://127.0.0.1:<port> */
  readonly base: string
  readonly orgId: string
  /** A new member of the owner's organization with `roles` and an API token, the read models caught up. */
  member(name: string, roles: BuiltInRole[]): Promise<Member>
  /** The SDK client connected to the organization's MCP endpoint with `token`; `elicit` answers elicitation when given. */
  connect(token: string, options?: { orgId?: string, elicit?: () => ElicitResult | Promise<ElicitResult> }): Promise<Client>
  /** A raw request to `path` (default: the organization's MCP endpoint). */
  fetch(init: RequestInit & { path?: string }): Promise<Response>
  /** A request through node:http, which sends any Host header (fetch replaces it with the URL's). */
  raw(options: { method?: string, path?: string, headers: Record<string, string>, body?: string }): Promise<RawResponse>
  /** Waits until the read models have applied `position`. */
  caughtUp(position: string | null): Promise<void>
}

export interface RawResponse {
  readonly statusCode: number
  readonly headers: Record<string, unknown>
  json(): { code?: string }
}

/** The headers a Streamable HTTP client sends with a POST. */
export const MCP_POST_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }

export const mcpPath = (orgId: string): string => `/v1/orgs/${orgId}/mcp`

export async function openMcpWorld (t: Test, sql: SqlClient, env: Record<string, string> = {}): Promise<McpWorld> {
  const api = await openTestApp(t, sql, env)
  const address = await api.app.listen({ port: 0, host: '127.0.0.1' })
  const { orgId } = api.owner
  // A command id of its own each time: the store would take a second command with the same id for a replay of the first.
  const asOwner = () => ({ ...systemCommand('test'), actor: { type: 'user' as const, id: api.owner.userId }, orgId })
  const caughtUp = async (position: string | null): Promise<void> => {
    if (position !== null) await api.runtime.runner.waitFor(parsePosition(position)!, 20_000)
  }
  const clients: Client[] = []
  t.teardown(async () => { await Promise.all(clients.map((client) => client.close())) })
  return {
    api,
    base: address,
    orgId,
    async member (name, roles) {
      const services = api.runtime.identity
      const { userId } = await registerUser(services, systemCommand('test'), { email: `${name}@mcp.example`, displayName: name })
      const added = await addMember(services, asOwner(), orgId, { userId, roles })
      const { token, position } = await createToken(services, systemCommand('test'), userId, { name: 'mcp', kind: 'api' })
      await caughtUp(position ?? added.position)
      return { userId, token }
    },
    async connect (token, options = {}) {
      const client = new Client({ name: 'ledgerline-test', version: '1.0.0' },
        options.elicit === undefined ? {} : { capabilities: { elicitation: { form: {} } } })
      if (options.elicit !== undefined) {
        const elicit = options.elicit
        client.setRequestHandler(ElicitRequestSchema, async () => elicit())
      }
      const url = new URL(mcpPath(options.orgId ?? orgId), address)
      await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${token}` } } }))
      clients.push(client)
      return client
    },
    fetch: ({ path, ...init }) => fetch(new URL(path ?? mcpPath(orgId), address), init),
    raw: (options) => rawRequest(new URL(options.path ?? mcpPath(orgId), address), options),
    caughtUp
  }
}

function rawRequest (url: URL, options: { method?: string, headers: Record<string, string>, body?: string }): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sent = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { body += chunk })
      response.on('end', () => resolve({ statusCode: response.statusCode ?? 0, headers: response.headers, json: () => JSON.parse(body) }))
    })
    sent.on('error', reject)
    sent.end(options.body)
  })
}
