/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728) for each organization's
 * MCP endpoint, which the MCP authorization spec has clients read first:
 * the resource's URL, that the token goes in the Authorization header, and
 * no authorization server, since Ledgerline issues its own tokens (API
 * tokens and session tokens, `ll_…`), which a client is configured with.
 * The 401 of the endpoint points at the document (`WWW-Authenticate: Bearer
 * resource_metadata="…"`).
 */
import type { FastifyRequest } from 'fastify'
import { type OriginPolicy, ownOrigin } from './origin.ts'

export const WELL_KNOWN = '/.well-known/oauth-protected-resource'

export const mcpPath = (orgId: string): string => `/v1/orgs/${orgId}/mcp`

/** The origin the resource is named with: PUBLIC_URL's, else the request's own (its Host checked). */
function originOf (policy: OriginPolicy, request: FastifyRequest): string {
  return policy.publicOrigin ?? ownOrigin(request)
}

export function metadataUrl (policy: OriginPolicy, request: FastifyRequest, orgId: string): string {
  return `${originOf(policy, request)}${WELL_KNOWN}${mcpPath(orgId)}`
}

/** The document: the same for any organization id, so it tells nobody which exist. */
export function protectedResource (policy: OriginPolicy, request: FastifyRequest, orgId: string) {
  return {
    resource: `${originOf(policy, request)}${mcpPath(orgId)}`,
    bearer_methods_supported: ['header'],
    resource_name: 'Ledgerline MCP server',
    scopes_supported: []
  }
}
