/**
 * A webhook receiver for tests: a local HTTP server (127.0.0.1, a port the
 * system picks) that keeps every request it gets and answers as the test
 * says, request by request (500 then 200, 410, a Retry-After, a hang).
 * Deliveries reach it because tests set WEBHOOK_ALLOW_PRIVATE_TARGETS.
 */
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pino } from 'pino'
import type { Test } from 'tap'
import { z } from 'zod'
import { bootstrap, type Bootstrapped } from '../../src/application/identity/commands.ts'
import { metadataFor, systemCommand } from '../../src/domain/envelope.ts'
import { defineEvent } from '../../src/domain/registry.ts'
import { parsePosition } from '../../src/eventstore/position.ts'
import type { LogPosition } from '../../src/eventstore/types.ts'
import { buildApp } from '../../src/http/app.ts'
import { openRuntime } from '../../src/runtime.ts'
import type { SqlClient } from '../../src/sql/client.ts'
import { testConfig, type TestApp } from './app.ts'

export interface Received {
  readonly headers: IncomingHttpHeaders
  readonly body: string
  readonly path: string
  /** The message id (`webhook-id`). */
  readonly id: string
}

export interface Answer { readonly status: number, readonly headers?: Record<string, string>, readonly body?: string }

export interface Receiver {
  readonly url: string
  readonly received: Received[]
  /** What the next requests get; the last answer given stays (default 200). */
  answer(...answers: Array<Answer | ((request: Received) => Answer | Promise<Answer>)>): void
  /** Resolves once `count` requests have arrived (all requests, whatever they were answered). */
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>
}

export async function openReceiver (t: Test, path = '/hook'): Promise<Receiver> {
  let queue: Array<Answer | ((request: Received) => Answer | Promise<Answer>)> = []
  let last: Answer | ((request: Received) => Answer | Promise<Answer>) = { status: 200 }
  const received: Received[] = []
  const waiters = new Set<() => void>()
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const entry: Received = {
        headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), path: request.url ?? '',
        id: String(request.headers['webhook-id'] ?? '')
      }
      received.push(entry)
      for (const wake of waiters) wake()
      const next = queue.shift() ?? last
      if (queue.length === 0) last = next
      void Promise.resolve(typeof next === 'function' ? next(entry) : next).then((answer) => {
        response.writeHead(answer.status, answer.headers ?? {}).end(answer.body ?? '')
      }, () => response.destroy())
    })
  })
  // Idle connections stay open for the whole test: the sender keeps connections alive, and one the receiver closes while a
  // request is on its way fails that attempt (a real receiver's behaviour, retried by the schedule, but noise in a count).
  server.keepAliveTimeout = 600_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}${path}`,
    received,
    answer (...answers) {
      queue = [...answers]
      last = answers.at(-1) ?? { status: 200 }
    },
    async waitFor (count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`the receiver got ${received.length} requests, not ${count}, in ${timeoutMs} ms`)
        await new Promise<void>((resolve) => {
          const wake = (): void => { waiters.delete(wake); clearTimeout(timer); resolve() }
          const timer = setTimeout(wake, 100)
          waiters.add(wake)
        })
      }
      return received
    }
  }
}

/** An organization event of a type tests define, subscribable as `ai.*` is: hundreds of them cost one append each, no workflow. */
export const testEventHappened = defineEvent({
  type: 'ai.test.happened',
  schema: z.object({ n: z.number().int(), note: z.string().optional(), tokenHash: z.string().optional() }).strict()
})

/** Who creates an endpoint: an organization's owner. */
export interface Owner { readonly orgId: string, readonly token: string }

export interface WebhookWorld extends TestApp {
  readonly orgId: string
  /** Appends `count` `ai.test.happened` events in the owner's organization, numbered from `from`; resolves with the last position. */
  happen(count: number, from?: number, orgId?: string): Promise<LogPosition>
  /** Waits until the fan-out has read the log to `position`. */
  fannedOut(position: LogPosition, timeoutMs?: number): Promise<void>
  /** Creates an endpoint through HTTP as `as` (default: the owner), deleted when `t` ends if given; answers it, with the secret. */
  endpoint(url: string, eventTypes?: string[], as?: Owner, t?: Test): Promise<{ endpointId: string, secret: string }>
}

export interface WorldOptions {
  readonly now?: () => Date
  readonly runJobs?: boolean
  readonly env?: Record<string, string>
}

/** A runtime over `sql` with private targets allowed (receivers are local), the test event type, its app and an owner. */
export async function openWebhookWorld (t: Test, sql: SqlClient, options: WorldOptions = {}): Promise<WebhookWorld> {
  const config = testConfig({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', JOB_POLL_INTERVAL_MS: '200', ...options.env })
  const runtime = await openRuntime(config, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), {
    sql, runProjections: true, extraEvents: [testEventHappened],
    ...(options.runJobs === undefined ? {} : { runJobs: options.runJobs }), ...(options.now === undefined ? {} : { now: options.now })
  })
  t.teardown(() => runtime.close())
  const app = await buildApp(runtime)
  t.teardown(() => app.close())
  const newOwner = async (email: string, orgName = `${email} org`): Promise<Bootstrapped & { email: string }> =>
    ({ ...await bootstrap(runtime.identity, systemCommand('test'), { email, orgName }), email })
  const owner = await newOwner('owner@a.example', 'Org A')
  const call: TestApp['call'] = (method, url, callOptions = {}) => {
    const token = callOptions.token === undefined ? owner.token : callOptions.token
    return app.inject({
      method, url, headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...callOptions.headers },
      ...(callOptions.body === undefined ? {} : { payload: callOptions.body as object })
    })
  }
  const orgId = owner.orgId
  return {
    runtime, app, owner, newOwner, call, orgId,
    async happen (count, from = 0, org = orgId) {
      let position: LogPosition | undefined
      for (let n = from; n < from + count; n++) {
        const metadata = metadataFor({ ...systemCommand('test', options.now?.() ?? new Date()), orgId: org }, 0)
        const result = await runtime.store.append(`whtest-${randomUUID()}`, [{
          id: metadata.eventId, type: testEventHappened.type, data: { n, tokenHash: 'never-sent' }, metadata
        }], { expectedVersion: 'no_stream' })
        position = result.position
      }
      return position ?? await runtime.store.headPosition()
    },
    async fannedOut (position, timeoutMs = 30_000) {
      await runtime.reactors.waitFor(position, timeoutMs, ['webhook_fan_out'])
    },
    async endpoint (url, eventTypes = ['ai.*'], as = owner, scope) {
      const org = as.orgId
      const created = await call('POST', `/v1/orgs/${org}/webhooks/endpoints`, { body: { url, eventTypes }, token: as.token })
      if (created.statusCode !== 201) throw new Error(`endpoint not created: ${created.body}`)
      const body = created.json<{ endpointId: string, secret: string, position: string }>()
      // Later tests' events would go to it too, and fail once its receiver is closed.
      scope?.teardown(async () => { await call('DELETE', `/v1/orgs/${org}/webhooks/endpoints/${body.endpointId}`, { token: as.token }) })
      // Its row first: the fan-out reads endpoints from it.
      await runtime.runner.waitFor(parsePosition(body.position)!, 10_000)
      return body
    }
  }
}
