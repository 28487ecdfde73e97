/**
 * W3C trace context: a valid incoming `traceparent` is honoured, otherwise a
 * trace id is created. The trace id is the request id, so Fastify puts it on
 * every log line of the request; the response echoes it.
 */
import { randomBytes } from 'node:crypto'
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

export const tracePlugin = fp(async (app: FastifyInstance) => {
  app.addHook('onRequest', async (request, reply) => {
    reply.header('traceparent', `00-${request.id}-${randomBytes(8).toString('hex')}-01`)
  })
}, { name: 'trace' })
