/**
 * HTTP requests by route and status, into the runtime's metrics (src/metrics.ts),
 * whose registry `/metrics` serves. The registry is the runtime's, not the
 * app's, so that non-HTTP code records into the same one.
 */
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Registry } from 'prom-client'
import type { Runtime } from '../../runtime.ts'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry
  }
}

export const metricsPlugin = fp(async (app: FastifyInstance, { runtime }: { runtime: Runtime }) => {
  const { registry, httpRequests, httpDuration } = runtime.metrics
  app.decorate('metrics', registry)
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched'
    httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) })
    httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000)
    done()
  })
}, { name: 'metrics' })
