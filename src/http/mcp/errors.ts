/**
 * What the MCP endpoint refuses before the protocol begins, as problem+json
 * with a stable code like any route. What the protocol itself refuses (a body
 * that is not JSON-RPC, an unknown method) is a JSON-RPC error, the SDK's.
 */
import { domainError } from '../../domain/errors.ts'

export class McpHostNotAllowed extends domainError('mcp.host_not_allowed', 403,
  'this server does not answer to that Host (DNS-rebinding protection); set PUBLIC_URL to the address clients use') {}
export class McpOriginNotAllowed extends domainError('mcp.origin_not_allowed', 403,
  'requests from that Origin are not allowed (DNS-rebinding protection); list it in MCP_ALLOWED_ORIGINS') {}
/** Unknown, expired, closed, or another caller's: one answer, so a session id cannot be probed. The client initializes again. */
export class McpSessionNotFound extends domainError('mcp.session_not_found', 404,
  'no such MCP session here: it expired, was closed, belongs to another token, or lives on another node; initialize a new one') {}
export class McpMethodNotAllowed extends domainError('mcp.method_not_allowed', 405,
  'this MCP server offers no stream at GET: every message from the server answers the POST it belongs to') {}
