/**
 * Prometheus metrics: HTTP by route and status, and the projections' lag and
 * throughput, read when scraped. One registry per app, so tests can run
 * several apps in one process.
 */
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { ProjectionLag } from '../../projections/runner.ts'
import type { Runtime } from '../../runtime.ts'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry
  }
}

export const metricsPlugin = fp(async (app: FastifyInstance, { runtime }: { runtime: Runtime }) => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const requests = new Counter({
    name: 'ledgerline_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'], registers: [registry]
  })
  const duration = new Histogram({
    name: 'ledgerline_http_request_duration_seconds', help: 'HTTP request duration', labelNames: ['method', 'route'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry]
  })
  const status = () => runtime.runner.status()
  new Gauge({
    name: 'ledgerline_projection_events_applied_total', help: 'Events applied by the projection (this generation)', labelNames: ['projection'], registers: [registry],
    collect () { for (const s of status()) this.set({ projection: s.name }, s.eventsApplied) }
  })
  new Gauge({
    name: 'ledgerline_projection_throughput_events_per_second', help: 'Events applied per second, smoothed over a minute', labelNames: ['projection'], registers: [registry],
    collect () { for (const s of status()) this.set({ projection: s.name }, s.eventsPerSecond) }
  })
  new Gauge({
    name: 'ledgerline_projection_leader', help: '1 when this instance runs the projection', labelNames: ['projection'], registers: [registry],
    collect () { for (const s of status()) this.set({ projection: s.name }, s.leader ? 1 : 0) }
  })
  new Gauge({
    name: 'ledgerline_projection_last_batch_timestamp_seconds', help: 'When the projection last applied a batch on this instance', labelNames: ['projection'], registers: [registry],
    collect () { for (const s of status()) if (s.lastBatchAt !== undefined) this.set({ projection: s.name }, s.lastBatchAt.getTime() / 1000) }
  })
  // Both lag gauges come from one measurement per scrape (prom-client collects gauges concurrently).
  let lagOnce: Promise<ProjectionLag[]> | undefined
  const lag = (): Promise<ProjectionLag[]> => {
    lagOnce ??= runtime.runner.lag().catch(() => []).finally(() => { setTimeout(() => { lagOnce = undefined }, 100).unref() })
    return lagOnce
  }
  new Gauge({
    name: 'ledgerline_projection_lag_events', help: 'Events in the log after the checkpoint (counted up to 1000)', labelNames: ['projection'], registers: [registry],
    async collect () { for (const l of await lag()) this.set({ projection: l.name }, l.events) }
  })
  new Gauge({
    name: 'ledgerline_projection_lag_seconds', help: 'Age of the oldest event after the checkpoint', labelNames: ['projection'], registers: [registry],
    async collect () { for (const l of await lag()) this.set({ projection: l.name }, l.seconds) }
  })

  app.decorate('metrics', registry)
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched'
    requests.inc({ method: request.method, route, status: String(reply.statusCode) })
    duration.observe({ method: request.method, route }, reply.elapsedTime / 1000)
    done()
  })
}, { name: 'metrics' })
