/**
 * One HTTP request handed to the SDK's web-standard Streamable HTTP
 * transport, and what its answer needs from Fastify. The transport speaks
 * `Request` and `Response`; Fastify sends a `Response` as it is, streamed,
 * through its own hooks (trace, metrics, errors), so nothing here writes to
 * the socket.
 */
import { randomUUID } from 'node:crypto'
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import { isInitializeRequest, type InitializeRequest } from '@modelcontextprotocol/sdk/types.js'
import type { FastifyRequest } from 'fastify'
import { commandMetadata, principalOf } from '../plugins/auth.ts'
import { mcpPath } from './metadata.ts'
import { CONTEXT, type McpRequestContext } from './server.ts'
import { toolCallerOf } from '../tenancy.ts'

/** Headers the transport never needs: the credentials stay out of the handlers' `requestInfo`. */
const DROPPED = new Set(['authorization', 'cookie', 'content-length', 'transfer-encoding', 'connection'])

/** The body as sent (a string: the route parses JSON itself, so a bad one gets the transport's JSON-RPC parse error). */
export interface Body {
  readonly raw: string | undefined
  /** The parsed JSON, or undefined when there is none or it is not JSON. */
  readonly parsed: unknown
}

export function bodyOf (raw: unknown): Body {
  if (typeof raw !== 'string' || raw === '') return { raw: undefined, parsed: undefined }
  try {
    return { raw, parsed: JSON.parse(raw) as unknown }
  } catch {
    return { raw, parsed: undefined }
  }
}

/** The initialize request a body holds, alone or as a batch's only message. */
export function initializeIn (body: Body): InitializeRequest | undefined {
  const message = Array.isArray(body.parsed) && body.parsed.length === 1 ? body.parsed[0] as unknown : body.parsed
  return isInitializeRequest(message) ? message : undefined
}

/** A transport for one session (`sessionId` given) or for one request alone; JSON answers unless the server may ask mid-call. */
export function transportFor (options: {
  readonly streams: boolean
  readonly onSession?: (id: string) => void
  readonly onError: (error: Error) => void
}): WebStandardStreamableHTTPServerTransport {
  const transport = new WebStandardStreamableHTTPServerTransport({
    ...(options.onSession === undefined ? {} : { sessionIdGenerator: randomUUID, onsessioninitialized: options.onSession }),
    enableJsonResponse: !options.streams
  })
  transport.onerror = options.onError
  return transport
}

/** What this request tells the handlers: its caller, its metadata, its logger (src/http/mcp/server.ts). */
export function authInfoOf (request: FastifyRequest, orgId: string): AuthInfo {
  const principal = principalOf(request)
  const context: McpRequestContext = {
    caller: toolCallerOf(request),
    metadata: () => ({ ...commandMetadata(request, orgId), commandId: randomUUID() }),
    log: request.log
  }
  return { token: principal.token.id, clientId: principal.userId, scopes: [], extra: { [CONTEXT]: context } }
}

/**
 * The request as the transport reads it: method, headers (less credentials), and the body when it did not parse. Its URL is the
 * endpoint's, whatever the query: nothing reads it but the handlers' `requestInfo`, and no path a client sends can make it throw.
 */
export function webRequestOf (request: FastifyRequest, orgId: string, body: Body): Request {
  const headers = new Headers()
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || DROPPED.has(name)) continue
    headers.set(name, Array.isArray(value) ? value.join(', ') : value)
  }
  const unparsed = body.parsed === undefined && body.raw !== undefined && request.method === 'POST'
  return new Request(`http://localhost${mcpPath(orgId)}`, { method: request.method, headers, ...(unparsed ? { body: body.raw } : {}) })
}

/** Hands the request to `transport` (connected to `server`) and answers what it answers. */
export async function exchange (
  transport: WebStandardStreamableHTTPServerTransport, request: FastifyRequest, orgId: string, body: Body
): Promise<Response> {
  return transport.handleRequest(webRequestOf(request, orgId, body), {
    ...(body.parsed === undefined ? {} : { parsedBody: body.parsed }),
    authInfo: authInfoOf(request, orgId)
  })
}
