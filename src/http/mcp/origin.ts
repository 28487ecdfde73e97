/**
 * The MCP server's DNS-rebinding protection (the Streamable HTTP transport
 * spec: servers MUST validate Origin). A page that rebinds its own domain to
 * this server's address sends its own name as Host and its own origin as
 * Origin; both are refused unless this server answers to them.
 *
 * - Host: its name (any port, as the SDK's `hostHeaderValidation`) must be a
 *   loopback name, the name HOST binds to (unless a wildcard), or PUBLIC_URL's.
 * - Origin: absent (clients that are not browsers send none), the request's
 *   own origin (same-origin, its Host already checked), PUBLIC_URL's, or one of
 *   MCP_ALLOWED_ORIGINS.
 *
 * The checks are ours rather than the transport's `allowedHosts` options,
 * which the SDK deprecates for middleware and which compare the Host header
 * with its port, so a server on port 0 could not list it beforehand.
 */
import type { FastifyRequest } from 'fastify'
import type { Config } from '../../config.ts'
import { McpHostNotAllowed, McpOriginNotAllowed } from './errors.ts'

const LOOPBACK = ['localhost', '127.0.0.1', '[::1]']
const WILDCARDS = new Set(['0.0.0.0', '::', '[::]'])

export interface OriginPolicy {
  /** Host names (no port) the server answers to. */
  readonly hostnames: ReadonlySet<string>
  /** Origins allowed besides the request's own. */
  readonly origins: ReadonlySet<string>
  /** PUBLIC_URL's origin, which names the MCP resource when set. */
  readonly publicOrigin: string | undefined
}

/** A host name as the URL parser writes it (lower case, IPv6 in brackets), or undefined for something that is not one. */
export function hostnameOf (host: string): string | undefined {
  try {
    return new URL(`http://${host}`).hostname
  } catch {
    return undefined
  }
}

export function originPolicy (config: Pick<Config, 'host' | 'publicUrl' | 'mcpAllowedOrigins'>): OriginPolicy {
  const hostnames = new Set(LOOPBACK)
  const bound = hostnameOf(config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host)
  if (bound !== undefined && !WILDCARDS.has(bound)) hostnames.add(bound)
  const publicOrigin = config.publicUrl
  if (publicOrigin !== undefined) hostnames.add(new URL(publicOrigin).hostname)
  const origins = new Set([...config.mcpAllowedOrigins, ...publicOrigin === undefined ? [] : [publicOrigin]])
  return { hostnames, origins, publicOrigin }
}

/** The request's origin as a browser would write it: its protocol and Host. */
export function ownOrigin (request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`
}

/** Whether the Host names this server (the name checked, not the port). */
export function hostAllowed (policy: OriginPolicy, request: FastifyRequest): boolean {
  const hostname = hostnameOf(request.host)
  return hostname !== undefined && policy.hostnames.has(hostname)
}

/** Refuses a request whose Host or Origin this server does not answer to (403 `mcp.host_not_allowed`, `mcp.origin_not_allowed`). */
export function checkOrigin (policy: OriginPolicy, request: FastifyRequest): void {
  if (!hostAllowed(policy, request)) throw new McpHostNotAllowed(undefined, { host: request.host.slice(0, 200) })
  const origin = request.headers.origin
  if (origin === undefined || origin === ownOrigin(request) || policy.origins.has(origin)) return
  throw new McpOriginNotAllowed(undefined, { origin: origin.slice(0, 200) })
}
