/**
 * W3C trace context: a valid incoming `traceparent` is honoured, otherwise a
 * trace id is created. The trace id is the request id, so Fastify puts it on
 * every log line of the request; the response echoes it.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { newTraceId } from '../../domain/envelope.ts'

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

export function traceIdOf (request: IncomingMessage): string {
  const header = request.headers.traceparent
  const match = typeof header === 'string' ? TRACEPARENT.exec(header.trim()) : null
  if (match !== null && !/^0+$/.test(match[1]!) && !/^0+$/.test(match[2]!)) return match[1]!
  return newTraceId()
}

/** 16 random hex digits; randomUUID draws from a pre-filled entropy pool, so this costs no system call. */
function spanId (): string {
  const uuid = randomUUID()
  return uuid.slice(0, 8) + uuid.slice(9, 13) + uuid.slice(14, 18)
}

export const tracePlugin = fp(async (app: FastifyInstance) => {
  // A callback hook, not an async one: it runs on every request and has nothing to wait for.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('traceparent', `00-${request.id}-${spanId()}-01`)
    done()
  })
}, { name: 'trace' })
