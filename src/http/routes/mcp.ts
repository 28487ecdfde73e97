/**
 * The MCP server: Streamable HTTP at /v1/orgs/:orgId/mcp, authenticated by
 * Ledgerline bearer tokens, serving the tool registry through the same
 * pipeline as every other caller; and its protected-resource metadata.
 */
import type { FastifyInstance } from 'fastify'
import type { Runtime } from '../../runtime.ts'

/** The authenticated MCP endpoint (inside the authenticated scope). */
export async function mcpRoutes (_app: FastifyInstance, _options: { runtime: Runtime }): Promise<void> {
  // Routes land here (issue: tool registry, MCP).
}

/** What MCP clients read before authenticating: the protected-resource metadata (public). */
export async function mcpPublicRoutes (_app: FastifyInstance, _options: { runtime: Runtime }): Promise<void> {
  // Routes land here (issue: tool registry, MCP).
}
