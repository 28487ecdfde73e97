/**
 * The metrics listener: with METRICS_PORT set, /metrics (and
 * /metrics/organizations) leave the API's port for this one, on METRICS_HOST,
 * which a network policy keeps private (src/ops/lib/metrics-access.ts). Nothing
 * else is served here.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Runtime } from '../runtime.ts'
import { serverTimeouts } from './app.ts'
import { errorsPlugin } from './plugins/errors.ts'
import { metricsRoutes } from './routes/health.ts'

export async function buildMetricsApp (runtime: Runtime): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: runtime.logger.child({ component: 'metrics-listener' }) as FastifyBaseLogger,
    disableRequestLogging: true,
    ...serverTimeouts(runtime.config.httpTimeouts)
  })
  await app.register(errorsPlugin)
  await app.register(metricsRoutes, { runtime })
  return app
}

/** Listens when METRICS_PORT is set; the address, or undefined when /metrics stays on the API's port. */
export async function startMetricsListener (runtime: Runtime): Promise<{ app: FastifyInstance, address: string } | undefined> {
  const { port, host } = runtime.config.metrics
  if (port === undefined) return undefined
  const app = await buildMetricsApp(runtime)
  const address = await app.listen({ host, port })
  return { app, address }
}
