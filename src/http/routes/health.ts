/**
 * /healthz: the process answers. /readyz: the databases answer and every
 * projection is within the lag threshold. /metrics: Prometheus text, with
 * the same readiness checks as gauges.
 */
import type { FastifyInstance } from 'fastify'
import type { ProjectionLag } from '../../projections/runner.ts'
import type { Runtime } from '../../runtime.ts'

export interface Check { name: string, ok: boolean, detail?: string }

export async function healthRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  // A scrape shares the lag measurement of the projection gauges instead of taking a second one.
  runtime.metrics.observeReadiness(() => readiness(runtime, runtime.metrics.projectionLag))

  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async (_request, reply) => {
    const checks = await readiness(runtime)
    const ready = checks.every((check) => check.ok)
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks })
  })

  app.get('/metrics', async (_request, reply) => {
    return reply.type(app.metrics.contentType).send(await app.metrics.metrics())
  })
}

/** The checks /readyz answers with and `ledgerline_ready` reports; `measureLag` measures the projections'. */
export async function readiness (
  runtime: Pick<Runtime, 'sql' | 'store' | 'runner' | 'config'>, measureLag: () => Promise<readonly ProjectionLag[]> = () => runtime.runner.lag()
): Promise<Check[]> {
  const checks: Check[] = []
  const attempt = async (name: string, fn: () => Promise<string | undefined>): Promise<void> => {
    try {
      const problem = await fn()
      checks.push(problem === undefined ? { name, ok: true } : { name, ok: false, detail: problem })
    } catch (error) {
      checks.push({ name, ok: false, detail: (error as Error).message })
    }
  }
  await attempt('database', async () => { await runtime.sql.query('SELECT 1'); return undefined })
  await attempt('event_store', async () => { await runtime.store.headPosition(); return undefined })
  await attempt('projections', async () => {
    const lagging = (await measureLag()).filter((lag) => lag.seconds > runtime.config.readyMaxLagSeconds)
    return lagging.length === 0 ? undefined : lagging.map((lag) => `${lag.name} is ${Math.round(lag.seconds)} s behind`).join('; ')
  })
  return checks
}
