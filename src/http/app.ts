/**
 * The HTTP composition: plugins (errors, trace, metrics) and one route plugin
 * per capability. Built from a Runtime, so tests build it on PGlite or
 * PostgreSQL exactly as the server does.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Runtime } from '../runtime.ts'
import { errorsPlugin } from './plugins/errors.ts'
import { metricsPlugin } from './plugins/metrics.ts'
import { traceIdOf, tracePlugin } from './plugins/trace.ts'
import { healthRoutes } from './routes/health.ts'

/** Request bodies above this are refused with 413. */
export const BODY_LIMIT = 1024 * 1024

export async function buildApp (runtime: Runtime): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: runtime.logger as FastifyBaseLogger,
    genReqId: traceIdOf,
    logController: new LogController({ requestIdLogLabel: 'traceId' }),
    requestIdHeader: false,
    bodyLimit: BODY_LIMIT,
    return503OnClosing: true,
    forceCloseConnections: 'idle'
  })
  await app.register(errorsPlugin)
  await app.register(tracePlugin)
  await app.register(metricsPlugin, { runtime })
  await app.register(healthRoutes, { runtime })
  return app
}
