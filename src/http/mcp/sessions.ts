/**
 * MCP sessions, in this node's memory. A session exists for what a single
 * request cannot carry: the client's capabilities (declared once, at
 * `initialize`) and the answer to a question the server asks mid-call
 * (elicitation), which the client POSTs separately and which must reach the
 * server object awaiting it. Everything else works without one
 * (src/http/routes/mcp.ts serves requests without `Mcp-Session-Id` on any node).
 *
 * A session belongs to the token and organization that opened it; for anyone
 * else its id is not found, like an unknown, expired or closed one, or one
 * of another node. It ends on DELETE, after IDLE_MS without a request, or
 * when MAX_SESSIONS are open and it is the least recently used.
 */
import type { Server } from '@modelcontextprotocol/sdk/server/index.js'
import type { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'

/** A session without a request for this long is closed. */
export const IDLE_MS = 30 * 60_000
/** Sessions open at once on a node; the least recently used is closed for a new one. */
export const MAX_SESSIONS = 1000

export interface McpSession {
  readonly id: string
  readonly orgId: string
  /** The token that opened it: only that token may use it. */
  readonly tokenId: string
  readonly server: Server
  readonly transport: WebStandardStreamableHTTPServerTransport
  lastSeen: number
}

export class McpSessions {
  /** In the order of their last use: the first is the least recently used. */
  readonly #sessions = new Map<string, McpSession>()

  constructor (private readonly limits: { readonly max: number, readonly idleMs: number } = { max: MAX_SESSIONS, idleMs: IDLE_MS },
    private readonly now: () => number = Date.now) {}

  get size (): number {
    return this.#sessions.size
  }

  /** Keeps a session that has just been initialized, closing idle ones and, when full, the least recently used. */
  add (session: McpSession): void {
    this.#sweep()
    for (const [id, oldest] of this.#sessions) {
      if (this.#sessions.size < this.limits.max) break
      this.#close(id, oldest)
    }
    this.#sessions.set(session.id, session)
  }

  /** The session `id` if it is this token's in this organization and still open; its use counts as activity. */
  get (id: string, orgId: string, tokenId: string): McpSession | undefined {
    const session = this.#sessions.get(id)
    if (session === undefined || session.orgId !== orgId || session.tokenId !== tokenId) return undefined
    if (this.now() - session.lastSeen >= this.limits.idleMs) {
      this.#close(id, session)
      return undefined
    }
    session.lastSeen = this.now()
    this.#sessions.delete(id)
    this.#sessions.set(id, session)
    return session
  }

  /** Forgets a session that ended (its transport closed). */
  remove (id: string): void {
    this.#sessions.delete(id)
  }

  async closeAll (): Promise<void> {
    const open = [...this.#sessions.values()]
    this.#sessions.clear()
    await Promise.all(open.map((session) => session.server.close()))
  }

  #sweep (): void {
    const now = this.now()
    for (const [id, session] of this.#sessions) {
      if (now - session.lastSeen < this.limits.idleMs) break
      this.#close(id, session)
    }
  }

  #close (id: string, session: McpSession): void {
    this.#sessions.delete(id)
    void session.server.close().catch(() => {})
  }
}
