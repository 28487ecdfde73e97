/**
 * W3C trace context: a valid incoming `traceparent` is honoured, otherwise a
 * trace id is created. The trace id is the request id, so Fastify puts it on
 * every log line of the request; the response echoes it.
 *
 * The plugin's hook is the one onRequest step of every route: the trace
 * context, then, for a route of a scope that authenticates (`authenticateIn`),
 * its authentication. One callback, no promise, nothing looked up per request
 * but the route's scope.
 */
import { randomFillSync } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** Set on a scope whose routes authenticate (`authenticateIn`); run by the onRequest step after the trace context. */
    authenticateRequest?: (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => void
  }
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/
const ZEROS = /^0+$/

/**
 * Random bytes drawn 4 KiB at a time (one system call per 256 trace ids),
 * then read out as hex: no UUID made and taken apart per request.
 */
const pool = Buffer.alloc(4096)
let drawn = pool.length

function randomHex (bytes: number): string {
  for (;;) {
    if (drawn + bytes > pool.length) {
      randomFillSync(pool)
      drawn = 0
    }
    const hex = pool.toString('hex', drawn, drawn + bytes)
    drawn += bytes
    // W3C: an id of all zeros is invalid (one chance in 2^64 or more).
    if (!ZEROS.test(hex)) return hex
  }
}

export function traceIdOf (request: IncomingMessage): string {
  const header = request.headers.traceparent
  if (header === undefined) return randomHex(16)
  const match = typeof header === 'string' ? TRACEPARENT.exec(header.trim()) : null
  if (match !== null && !ZEROS.test(match[1]!) && !ZEROS.test(match[2]!)) return match[1]!
  return randomHex(16)
}

/** The response's traceparent: the trace id (the request id) and a span id of this server's. */
export function traceResponse (request: FastifyRequest, reply: FastifyReply): void {
  reply.header('traceparent', '00-' + request.id + '-' + randomHex(8) + '-01')
}

/** Every route of `scope` (and of the scopes it registers) authenticates, in the onRequest step, right after the trace context. */
export function authenticateIn (scope: FastifyInstance, authenticate: NonNullable<FastifyInstance['authenticateRequest']>): void {
  scope.decorate('authenticateRequest', authenticate)
}

/** A callback hook, not an async one: it runs on every request and waits for nothing unless a token is not cached. */
const onRequestStep: onRequestHookHandler = function onRequestStep (request, reply, done) {
  traceResponse(request, reply)
  // The scope the route was registered in; the not-found handler's is the root, which does not authenticate.
  const authenticate = request.server.authenticateRequest
  if (authenticate === undefined) done()
  else authenticate(request, reply, done)
}

export const tracePlugin = fp(async (app: FastifyInstance) => {
  app.addHook('onRequest', onRequestStep)
}, { name: 'trace' })
