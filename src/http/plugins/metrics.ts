/**
 * HTTP requests by route and status, into the runtime's metrics (src/metrics.ts),
 * whose registry `/metrics` serves. The registry is the runtime's, not the
 * app's, so that non-HTTP code records into the same one.
 *
 * The metrics name no organization; when one goes over a per-organization
 * alert threshold, the warn log line does (the runbooks search for it).
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
  runtime.metrics.onOrgBurst(({ kind, orgId, count, windowMs }) => {
    const what = kind === 'denials' ? 'authorization denials' : 'role changes'
    runtime.logger.warn({ alert: kind === 'denials' ? 'LedgerlineAuthzDenialBurst' : 'LedgerlineMassRoleChanges', orgId, count, windowSeconds: windowMs / 1000 },
      `organization ${orgId} is over the threshold of ${what}: ${count} in ${windowMs / 60_000} minutes`)
  })
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched'
    httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) })
    httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000)
    done()
  })
}, { name: 'metrics' })
