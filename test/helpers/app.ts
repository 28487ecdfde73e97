/**
 * An application over a test database: runtime (projections running), the
 * Fastify app, a bootstrapped owner with an organization, and a small client
 * for `app.inject` with bearer tokens.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { pino } from 'pino'
import type { Test } from 'tap'
import { bootstrap, type Bootstrapped } from '../../src/application/identity/commands.ts'
import { loadConfig } from '../../src/config.ts'
import { systemCommand } from '../../src/domain/envelope.ts'
import { buildApp } from '../../src/http/app.ts'
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

export async function openTestApp (t: Test, sql: SqlClient, env: Record<string, string> = {}): Promise<TestApp> {
  const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test', ...env }), pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    { sql, runProjections: true })
  t.teardown(() => runtime.close())
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
      })
    }
  }
}
