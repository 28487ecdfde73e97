/**
 * Who may read /metrics. The scrape lists readiness, lag and counts that an
 * outsider has no business reading, so it is guarded in one or both ways:
 *
 * - `METRICS_TOKEN`: `Authorization: Bearer <token>` is required, compared in
 *   constant time (Prometheus: `authorization: { credentials_file: … }`).
 *   Works wherever the API port is reachable; nothing else to set up.
 * - `METRICS_PORT` (and `METRICS_HOST`, default 127.0.0.1): /metrics leaves
 *   the API's port and is served by a listener of its own, which a network
 *   policy or firewall keeps private. The token, when set, is required there too.
 *
 * Production refuses to start with neither: the API port is the public one.
 * Development and tests keep /metrics open on the API port, as before.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { ConfigError, type Config } from '../../config.ts'

/** Where /metrics is served, and whether it asks for the token. */
export interface MetricsExposure {
  readonly listener: 'api' | 'separate'
  readonly tokenRequired: boolean
}

export function metricsExposure (config: Pick<Config, 'metrics'>): MetricsExposure {
  return { listener: config.metrics.port === undefined ? 'api' : 'separate', tokenRequired: config.metrics.token !== undefined }
}

/** Why /metrics would be open to anyone who reaches the API, or undefined when it is not. */
export function metricsOpenProblem (config: Pick<Config, 'metrics'>): string | undefined {
  const exposure = metricsExposure(config)
  if (exposure.tokenRequired || exposure.listener === 'separate') return undefined
  return '/metrics is open on the API port: set METRICS_TOKEN (scrapers send it as a bearer token) ' +
    'or METRICS_PORT (a listener of its own, on METRICS_HOST)'
}

/** Production refuses to serve /metrics open (src/http/app.ts builds nothing then). */
export function assertMetricsProtected (config: Pick<Config, 'metrics' | 'env'>): void {
  const problem = metricsOpenProblem(config)
  if (config.env === 'production' && problem !== undefined) throw new ConfigError(`refusing to start in production: ${problem}`)
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

/**
 * Whether an Authorization header carries the token. Both sides are hashed
 * first, so the comparison takes the same time whatever the length or the
 * first differing byte.
 */
export function bearerMatches (expected: string, header: string | undefined): boolean {
  const given = header !== undefined && /^bearer /i.test(header) ? header.slice(7).trim() : ''
  return timingSafeEqual(digest(given), digest(expected)) && given !== ''
}
