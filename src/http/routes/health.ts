/**
 * /healthz: the process answers. /readyz: the databases answer and every
 * projection and every reactor is within the lag threshold. /metrics: Prometheus text, with
 * the same readiness checks as gauges, guarded as src/ops/lib/metrics-access.ts
 * says (a bearer token, and/or a listener of its own: then not served here).
 * /metrics/organizations: which organizations the per-organization alert
 * gauges are about, on this instance (the metrics carry no organization id).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ORG_WINDOWS } from '../../metrics.ts'
import { bearerMatches } from '../../ops/lib/metrics-access.ts'
import type { CheckpointLag } from '../../projections/worker.ts'
import type { Runtime } from '../../runtime.ts'
import { sendProblem, titleFor } from '../plugins/errors.ts'

export interface Check { name: string, ok: boolean, detail?: string }

export async function healthRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  // A scrape shares the lag measurement of the projection gauges instead of taking a second one.
  const measured: LagMeasures = { projections: runtime.metrics.projectionLag, reactors: runtime.metrics.reactorLag }
  runtime.metrics.observeReadiness(() => readiness(runtime, measured))

  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async (_request, reply) => {
    const checks = await readiness(runtime)
    const ready = checks.every((check) => check.ok)
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks })
  })

  if (runtime.config.metrics.port === undefined) await metricsRoutes(app, { runtime })
}

/** The most organizations `/metrics/organizations` lists per window. */
const TOP_ORGS = 20

/** /metrics and /metrics/organizations: on the API's listener, or on the metrics listener (src/http/metrics-listener.ts). */
export async function metricsRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const { token } = runtime.config.metrics
  // Unauthenticated or a wrong token: 401 and nothing else, the same for both.
  const guard = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void => {
    if (token === undefined || bearerMatches(token, request.headers.authorization)) return done()
    void sendProblem(request, reply.header('www-authenticate', 'Bearer realm="metrics"'), {
      status: 401,
      title: titleFor(401),
      code: 'auth.metrics_token_required',
      detail: 'the metrics need the bearer token the server was given as METRICS_TOKEN'
    })
  }
  const { registry } = runtime.metrics

  app.get('/metrics', { onRequest: guard }, async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics())
  })

  app.get('/metrics/organizations', { onRequest: guard }, async () => {
    const window = (kind: keyof typeof ORG_WINDOWS) => ({ ...ORG_WINDOWS[kind], organizations: runtime.metrics.topOrgs(kind, TOP_ORGS) })
    return { denials: window('denials'), roleChanges: window('roleChanges') }
  })
}

/** How the readiness checks measure the lag of projections and of reactors (default: ask their runners). */
export interface LagMeasures {
  readonly projections: () => Promise<readonly CheckpointLag[]>
  readonly reactors: () => Promise<readonly CheckpointLag[]>
}

/** The checks /readyz answers with and `ledgerline_ready` reports. */
export async function readiness (
  runtime: Pick<Runtime, 'sql' | 'store' | 'runner' | 'reactors' | 'config'>,
  measure: LagMeasures = { projections: () => runtime.runner.lag(), reactors: () => runtime.reactors.lag() }
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
  type Lags = () => Promise<readonly CheckpointLag[]>
  const behind = async (lags: Lags, errorOf: (name: string) => string | undefined): Promise<string | undefined> => {
    const lagging = (await lags()).filter((lag) => lag.seconds > runtime.config.readyMaxLagSeconds)
    if (lagging.length === 0) return undefined
    return lagging.map((lag) => `${lag.name} is ${Math.round(lag.seconds)} s behind${failing(errorOf(lag.name))}`).join('; ')
  }
  await attempt('database', async () => { await runtime.sql.query('SELECT 1'); return undefined })
  await attempt('event_store', async () => { await runtime.store.headPosition(); return undefined })
  await attempt('projections', () => behind(measure.projections, () => undefined))
  await attempt('reactors', () => behind(measure.reactors, (name) => runtime.reactors.status().find((s) => s.name === name)?.lastError))
  return checks
}

/** A reactor's last error, when it lags because its batches fail. */
function failing (error: string | undefined): string {
  return error === undefined ? '' : ` (failing: ${error})`
}
