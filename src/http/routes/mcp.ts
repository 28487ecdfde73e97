/**
 * The MCP server: Streamable HTTP at /v1/orgs/:orgId/mcp, authenticated by
 * Ledgerline bearer tokens, serving the tool registry through the same
 * pipeline as every other caller (src/http/mcp/server.ts); and its
 * protected-resource metadata (src/http/mcp/metadata.ts).
 *
 * Like the HTTP tool routes, the endpoint declares `ai:use` (using AI tools
 * at all), which the preHandler checks: a non-member is 404, a member
 * without it 403; each tool's own permission is the pipeline's to check.
 *
 * Sessions or none (src/http/mcp/sessions.ts):
 * - `initialize` opens a session on this node (`Mcp-Session-Id`), which the
 *   request with that header must come back to: it holds the client's
 *   capabilities and lets the server ask the caller to approve a call
 *   (elicitation), answers streamed as SSE for such clients;
 * - a POST without `Mcp-Session-Id` is served alone, by a server made for
 *   it, on any node, with JSON answers and no elicitation: clients behind a
 *   balancer without affinity can call tools this way, and approve over HTTP;
 * - DELETE ends a session; GET is 405: the server sends nothing outside an
 *   answer (no list changes, no logging), so it keeps no stream open for it.
 *
 * Host and Origin are checked on every request (src/http/mcp/origin.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Runtime } from '../../runtime.ts'
import { McpHostNotAllowed, McpMethodNotAllowed, McpSessionNotFound } from '../mcp/errors.ts'
import { bodyOf, exchange, initializeIn, transportFor, type Body } from '../mcp/exchange.ts'
import { metadataUrl, protectedResource, WELL_KNOWN } from '../mcp/metadata.ts'
import { checkOrigin, hostAllowed, originPolicy, type OriginPolicy } from '../mcp/origin.ts'
import { mcpServer } from '../mcp/server.ts'
import { McpSessions } from '../mcp/sessions.ts'
import { principalOf } from '../plugins/auth.ts'
import { BEARER, Id, problems } from '../schemas.ts'

const OrgParams = z.object({ orgId: Id })
const AI_USE = 'ai:use'
const SESSION_HEADER = 'mcp-session-id'

const JsonRpcAnswer = z.unknown().describe('a JSON-RPC response, or an SSE stream of JSON-RPC messages (text/event-stream)')

/** Adds the metadata's address to a 401, as the MCP authorization spec asks, where the Host is one this server answers to. */
function pointToMetadata (policy: OriginPolicy) {
  return async function resourceMetadataHeader (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const orgId = (request.params as { orgId?: unknown } | undefined)?.orgId
    if (reply.statusCode !== 401 || typeof orgId !== 'string' || !Id.safeParse(orgId).success || !hostAllowed(policy, request)) {
      return payload
    }
    reply.header('www-authenticate', `Bearer realm="ledgerline", resource_metadata="${metadataUrl(policy, request, orgId)}"`)
    return payload
  }
}

/** The authenticated MCP endpoint (inside the authenticated scope). */
export async function mcpRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const policy = originPolicy(runtime.config)
  const sessions = new McpSessions()
  const log = runtime.logger.child({ component: 'mcp' })
  app.addHook('onClose', () => sessions.closeAll())
  // The body stays a string: the transport answers one that is not JSON with a JSON-RPC parse error.
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => { done(null, body) })
  app.addHook('onRequest', async (request) => { checkOrigin(policy, request) })
  app.addHook('onSend', pointToMetadata(policy))
  const api = app.withTypeProvider<ZodTypeProvider>()

  /** This request's session, its own server for a request alone, or a new session for `initialize`. */
  const transportOf = async (request: FastifyRequest, reply: FastifyReply, orgId: string, body: Body) => {
    const onError = (error: Error): void => { log.debug({ err: error, orgId }, 'MCP transport refused a message') }
    const sessionId = request.headers[SESSION_HEADER]
    if (typeof sessionId === 'string') {
      const session = sessions.get(sessionId, orgId, principalOf(request).token.id)
      if (session === undefined) throw new McpSessionNotFound()
      return session.transport
    }
    if (request.method === 'DELETE') {
      reply.header('allow', 'POST')
      throw new McpMethodNotAllowed('DELETE ends a session: send its Mcp-Session-Id')
    }
    const server = mcpServer(runtime.tools, orgId)
    const initialize = initializeIn(body)
    if (initialize === undefined) {
      const transport = transportFor({ streams: false, onError })
      await server.connect(transport)
      // A server made for one request ends with its answer.
      reply.raw.once('close', () => { void server.close() })
      return transport
    }
    const tokenId = principalOf(request).token.id
    const transport = transportFor({
      streams: initialize.params.capabilities.elicitation !== undefined,
      onError,
      onSession: (id) => { sessions.add({ id, orgId, tokenId, server, transport, lastSeen: Date.now() }) }
    })
    transport.onclose = () => { if (transport.sessionId !== undefined) sessions.remove(transport.sessionId) }
    await server.connect(transport)
    return transport
  }

  const handle = async (request: FastifyRequest<{ Params: { orgId: string } }>, reply: FastifyReply) => {
    const { orgId } = request.params
    const body = bodyOf(request.body)
    const transport = await transportOf(request, reply, orgId, body)
    return reply.send(await exchange(transport, request, orgId, body))
  }

  const schema = (summary: string, description: string) => ({
    tags: ['mcp'], summary, description, security: BEARER, 'x-permission': AI_USE, params: OrgParams,
    response: { 200: JsonRpcAnswer, 202: z.null().describe('notifications and responses accepted'), ...problems }
  })
  api.post('/v1/orgs/:orgId/mcp', {
    schema: schema('MCP (Streamable HTTP): JSON-RPC messages to the organization\'s MCP server',
      'initialize opens a session on this node (Mcp-Session-Id); a POST without one is served alone. tools/list lists the tools ' +
      'the caller may use; tools/call runs one through the tool pipeline. Protocol errors are JSON-RPC errors.')
  }, handle)
  api.get('/v1/orgs/:orgId/mcp', {
    schema: schema('MCP (Streamable HTTP): no stream of server messages here (405)',
      'The server sends nothing outside an answer (no list changes, no logging), so it offers no SSE stream at GET; ' +
      'the transport spec has such a server answer 405.')
  }, async (_request, reply) => {
    reply.header('allow', 'POST, DELETE')
    throw new McpMethodNotAllowed()
  })
  api.delete('/v1/orgs/:orgId/mcp', {
    schema: schema('MCP (Streamable HTTP): ends the session', 'Takes Mcp-Session-Id (405 without one).')
  }, handle)
}

/** What MCP clients read before authenticating: the protected-resource metadata (public). */
export async function mcpPublicRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const policy = originPolicy(runtime.config)
  app.withTypeProvider<ZodTypeProvider>().get(`${WELL_KNOWN}/v1/orgs/:orgId/mcp`, {
    schema: {
      tags: ['mcp'], summary: 'OAuth protected-resource metadata (RFC 9728) of an organization\'s MCP endpoint',
      description: 'The same document for any organization id. No authorization server: the token is a Ledgerline API or session token.',
      params: OrgParams,
      response: {
        200: z.object({
          resource: z.string(), bearer_methods_supported: z.array(z.string()), resource_name: z.string(),
          scopes_supported: z.array(z.string())
        }),
        ...problems
      }
    }
  }, async (request) => {
    if (!hostAllowed(policy, request)) throw new McpHostNotAllowed(undefined, { host: request.host.slice(0, 200) })
    return protectedResource(policy, request, request.params.orgId)
  })
}
