/**
 * An application over a test database: runtime (projections running), the
 * Fastify app, a bootstrapped owner with an organization, and a small client
 * for `app.inject` with bearer tokens.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { pino, type Logger } from 'pino'
import type { Test } from 'tap'
import { bootstrap, type Bootstrapped } from '../../src/application/identity/commands.ts'
import { loadConfig, type Config } from '../../src/config.ts'
import { systemCommand } from '../../src/domain/envelope.ts'
import { buildApp } from '../../src/http/app.ts'
import { START } from '../../src/eventstore/types.ts'
import { openRuntime, type Runtime } from '../../src/runtime.ts'
import type { SqlClient } from '../../src/sql/client.ts'

export interface TestApp {
  readonly runtime: Runtime
  readonly app: FastifyInstance
  readonly owner: Bootstrapped & { email: string }
  call(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, options?: CallOptions): Promise<LightMyRequestResponse>
  /** Bootstraps another user with an organization of their own. */
  newOwner(email: string, orgName?: string): Promise<Bootstrapped & { email: string }>
}

export interface CallOptions {
  readonly token?: string | null
  readonly body?: unknown
  readonly headers?: Record<string, string>
}

/**
 * The runtime's logger: TEST_LOG_LEVEL's level to standard output when it is set; else its errors are kept (the last 100),
 * so that an answer 500 prints what the server logged under its trace id (a 500 in CI is otherwise a trace id and no more).
 */
function testLogger (): { logger: Logger, errorsOf: (traceId: string) => string[] } {
  if (process.env.TEST_LOG_LEVEL !== undefined) return { logger: pino({ level: process.env.TEST_LOG_LEVEL }), errorsOf: () => [] }
  const kept: string[] = []
  const logger = pino({ level: 'error' }, { write: (line: string) => { if (kept.push(line) > 100) kept.shift() } })
  return { logger, errorsOf: (traceId) => kept.filter((line) => line.includes(traceId)) }
}

function reportServerError (response: LightMyRequestResponse, errorsOf: (traceId: string) => string[]): void {
  if (response.statusCode !== 500) return
  const traceId = (response.json() as { traceId?: unknown }).traceId
  if (typeof traceId !== 'string') return
  process.stderr.write(`500 on ${response.raw.req.method ?? ''} ${response.raw.req.url ?? ''}; the server logged:\n` +
    `${errorsOf(traceId).join('') || '(nothing under its trace id)\n'}`)
}

/**
 * The configuration of a test's runtime: NODE_ENV=test and `env`. A read after a write waits for the read models
 * (X-Consistent-With) up to CONSISTENCY_TIMEOUT_MS, then answers 504; on a loaded CI machine they can lag past the
 * production default of 5 s, so tests wait up to 20 s, and a test of the timeout sets its own.
 */
export function testConfig (env: Record<string, string> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', CONSISTENCY_TIMEOUT_MS: '20000', ...env })
}

export async function openTestApp (t: Test, sql: SqlClient, env: Record<string, string> = {}): Promise<TestApp> {
  const { logger, errorsOf } = testLogger()
  const runtime = await openRuntime(testConfig(env), logger, { sql, runProjections: true })
  t.teardown(() => runtime.close())
  // The read models' first build on a fresh database (its tables do not exist before): a request meanwhile answers 503.
  await runtime.runner.waitFor(START, 30_000)
  const app = await buildApp(runtime)
  t.teardown(() => app.close())
  const newOwner = async (email: string, orgName = `${email} org`): Promise<Bootstrapped & { email: string }> => {
    const created = await bootstrap(runtime.identity, systemCommand('test'), { email, orgName })
    return { ...created, email }
  }
  const owner = await newOwner('owner@a.example', 'Org A')
  return {
    runtime,
    app,
    owner,
    newOwner,
    call (method, url, options = {}) {
      const token = options.token === undefined ? owner.token : options.token
      return app.inject({
        method,
        url,
        headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...options.headers },
        ...(options.body === undefined ? {} : { payload: options.body as object })
      }).then((response) => {
        reportServerError(response, errorsOf)
        return response
      })
    }
  }
}
