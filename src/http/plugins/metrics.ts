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
    const alert = kind === 'denials' ? 'LedgerlineAuthzDenialBurst' : 'LedgerlineMassRoleChanges'
    runtime.logger.warn({ alert, orgId, count, windowSeconds: windowMs / 1000 },
      `organization ${orgId} is over the threshold of ${what}: ${count} in ${windowMs / 60_000} minutes`)
  })
  const labels = new RouteLabels()
  // A callback hook, and the label objects made once per route, method and status rather than per request.
  app.addHook('onResponse', function countResponse (request, reply, done) {
    const route = labels.of(request.method, request.routeOptions.url)
    httpRequests.inc(route.withStatus(reply.statusCode))
    httpDuration.observe(route.labels, reply.elapsedTime / 1000)
    done()
  })
}, { name: 'metrics' })

/** The labels of one route and method, and of each status it answered. */
class Route {
  readonly labels: { readonly method: string, readonly route: string }
  readonly #byStatus = new Map<number, { readonly method: string, readonly route: string, readonly status: string }>()

  constructor (method: string, route: string) {
    this.labels = { method, route }
  }

  withStatus (status: number): { readonly method: string, readonly route: string, readonly status: string } {
    let labels = this.#byStatus.get(status)
    if (labels === undefined) {
      labels = { ...this.labels, status: String(status) }
      this.#byStatus.set(status, labels)
    }
    return labels
  }
}

/** Label sets by route (its pattern, or `unmatched`) and method: as many as the routes, methods and statuses, not requests. */
class RouteLabels {
  readonly #routes = new Map<string, Map<string, Route>>()

  of (method: string, url: string | undefined): Route {
    const route = url ?? 'unmatched'
    let methods = this.#routes.get(route)
    if (methods === undefined) {
      methods = new Map()
      this.#routes.set(route, methods)
    }
    let labels = methods.get(method)
    if (labels === undefined) {
      labels = new Route(method, route)
      methods.set(method, labels)
    }
    return labels
  }
}
