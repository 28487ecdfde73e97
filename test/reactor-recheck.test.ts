/**
 * Reactors are checkpointed consumers of the log, on every database driver:
 *
 * - the impersonation re-check resumes from its checkpoint: a role change made
 *   while the node was down ends the session when the node starts again
 *   (events, and 401 for the token), with no request needed;
 * - a reactor's checkpoint advances; a failing batch is retried from the
 *   checkpoint and counted, and its outcome events are written once;
 * - its lag and failures show in /metrics and /readyz;
 * - of two instances, one leads and handles each event once; the other takes
 *   over from the checkpoint when the leader stops.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import { z } from 'zod'
import { addMember, bootstrap, changeOrganization } from '../src/application/identity/commands.ts'
import type { Reactor, ReactorContext } from '../src/application/reactors/reactor.ts'
import { ReactorRunner } from '../src/application/reactors/runner.ts'
import { loadConfig } from '../src/config.ts'
import { metadataFor, systemCommand } from '../src/domain/envelope.ts'
import { EventRegistry, defineEvent } from '../src/domain/registry.ts'
import { createPostgresEventStore } from '../src/eventstore/postgres.ts'
import type { EventStore, NewEvent, RecordedEvent } from '../src/eventstore/types.ts'
import { buildApp } from '../src/http/app.ts'
import { openRuntime, type Runtime } from '../src/runtime.ts'
import { openSqlClient, type SqlClient } from '../src/sql/client.ts'
import { lastWritten, settled, untilVisible } from './helpers/assertions.ts'
import { forEachDatabase } from './helpers/databases.ts'

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })

interface Node {
  readonly runtime: Runtime
  readonly app: FastifyInstance
  call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, token: string, body?: object): Promise<LightMyRequestResponse>
  close(): Promise<void>
}

/** A node as the server runs it: projections and reactors running, the HTTP app; on the test's database. */
async function startNode (t: Test, sql: SqlClient, env: Record<string, string> = {}, extraReactors: Reactor[] = []): Promise<Node> {
  const runtime = await openRuntime(loadConfig({ NODE_ENV: 'test', ...env }), logger, { sql, runProjections: true, extraReactors })
  const app = await buildApp(runtime)
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await app.close()
    await runtime.close()
  }
  t.teardown(close)
  return {
    runtime,
    app,
    close,
    call: (method, url, token, body) => app.inject({
      method, url, headers: { authorization: `Bearer ${token}` }, ...(body === undefined ? {} : { payload: body })
    })
  }
}

async function until<T> (what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = await probe()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function checkpointOf (sql: SqlClient, reactor: string): Promise<{ position: string, handled: number } | undefined> {
  const { rows } = await sql.query<{ major: string, minor: string, applied: string }>(
    'SELECT position_major::text AS major, position_minor::text AS minor, events_applied::text AS applied FROM projections WHERE name = $1',
    [`reactor:${reactor}`])
  return rows[0] === undefined ? undefined : { position: `${rows[0].major}.${rows[0].minor}`, handled: Number(rows[0].applied) }
}

t.test('a role change made while the node was down ends the impersonation session when the node starts again', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    let node = await startNode(t, sql)
    const owner = await bootstrap(node.runtime.identity, systemCommand('test'), { email: 'owner@a.example', orgName: 'Org A' })
    const { orgId } = owner
    const registered = async (email: string): Promise<{ userId: string, token: string }> => {
      const payload = { email, password: 'correct horse battery', displayName: email }
      const response = await node.app.inject({ method: 'POST', url: '/v1/auth/register', payload })
      t.equal(response.statusCode, 201, response.body)
      return response.json()
    }
    const ada = await registered('ada@a.example')
    const mia = await registered('mia@a.example')
    await addMember(node.runtime.identity, systemCommand('test'), orgId, { userId: ada.userId, roles: ['admin'] })
    await addMember(node.runtime.identity, systemCommand('test'), orgId, { userId: mia.userId, roles: ['member'] })
    await settled(node.runtime)

    const request = { targetUserId: mia.userId, reason: 'customer asked for help (SUP-7)' }
    const started = await node.call('POST', `/v1/orgs/${orgId}/impersonations`, ada.token, request)
    t.equal(started.statusCode, 201, started.body)
    const { sessionId, token } = started.json() as { sessionId: string, token: string }
    t.equal((await node.call('GET', '/v1/session', token)).statusCode, 200, 'the impersonation token works')
    const before = await until('the re-check\'s checkpoint', () => checkpointOf(sql, 'impersonation_recheck'))
    t.ok(before, 'the re-check reactor has a checkpoint')
    await node.close()

    // The node is down. Another handle on the same data (a CLI would do the same) makes Ada a viewer, not an admin:
    // nothing runs in the background there, so no re-check ends the session now.
    const other = await openRuntime(loadConfig({ NODE_ENV: 'test' }), logger, { sql })
    const change = (command: Parameters<typeof changeOrganization>[3]) =>
      changeOrganization(other.identity, systemCommand('test'), orgId, command)
    await change({ type: 'AssignRole', data: { userId: ada.userId, role: 'viewer' } })
    const { position } = await change({ type: 'UnassignRole', data: { userId: ada.userId, role: 'admin' } })
    t.ok(position !== null, 'the role change is written')
    const unassigned = (await other.store.readStream(`org-${orgId}`)).at(-1)!
    t.equal(unassigned.type, 'org.member.role_unassigned')
    await other.close()
    const sessions = 'SELECT status FROM impersonation_sessions WHERE session_id = $1'
    const { rows: [still] } = await sql.query<{ status: string }>(sessions, [sessionId])
    t.equal(still?.status, 'active', 'while the node is down the session stays open')

    node = await startNode(t, sql)
    // Asked with the owner's token only: the token of the session is not used, so admission does not end it; the reactor does.
    const view = await until('the session to end', async () => {
      const response = await node.call('GET', `/v1/orgs/${orgId}/impersonations/${sessionId}`, owner.token)
      const body = response.json() as { status: string, endedBy: string | null, endReason: string | null }
      return body.status === 'active' ? undefined : body
    })
    t.match(view, { status: 'revoked', endedBy: 'system', endReason: 'impersonator_lost_permission' })
    const session = await node.runtime.store.readStream(`impersonation-${sessionId}`)
    const revoked = session.filter((e) => e.type === 'impersonation.session.revoked')
    t.equal(revoked.length, 1, 'one revocation')
    t.match(revoked[0]!.metadata, { actor: { type: 'system', id: 'impersonation-recheck' }, causationId: unassigned.id },
      'caused by the role change made while down')
    const ended = await node.call('GET', '/v1/session', token)
    t.equal(ended.statusCode, 401, ended.body)
    t.match(ended.json(), { code: 'impersonation.ended', reason: 'revoked', cause: 'impersonator_lost_permission' })
    const after = await until('the checkpoint past the change', async () => {
      const found = await checkpointOf(sql, 'impersonation_recheck')
      return found !== undefined && found.handled >= before.handled + 2 ? found : undefined
    })
    t.equal(after.handled, before.handled + 2, 'the checkpoint moved past both role events, each handled once')
  })
})

const registry = new EventRegistry([
  defineEvent({ type: 'test.note.written', schema: z.object({ text: z.string() }) }),
  defineEvent({ type: 'test.note.acknowledged', schema: z.object({ note: z.string() }) })
])

/** Appends `count` notes on a stream of their own, and waits until readers of the log see them. */
async function writeNotes (store: EventStore, count: number, from = 0): Promise<void> {
  const command = systemCommand('test')
  const events: NewEvent[] = Array.from({ length: count }, (_, index) => {
    const metadata = metadataFor(command, index)
    return { id: metadata.eventId, type: 'test.note.written', data: { text: `note ${from + index}` }, metadata }
  })
  const { position } = await store.append(`notes-${command.commandId}`, events)
  await untilVisible(store, position)
}

/** Records which notes it saw, and acknowledges each with an outcome event; fails the first `failures` batches after writing. */
class Acknowledger implements Reactor {
  readonly eventTypes = ['test.note.written']
  readonly seen: string[] = []
  constructor (readonly name: string, private readonly store: EventStore, private failures = 0) {}

  async handle (batch: readonly RecordedEvent[], context: ReactorContext): Promise<void> {
    for (const event of batch) {
      const metadata = metadataFor(context.outcome(event, 'ack'), 0)
      const ack = { id: metadata.eventId, type: 'test.note.acknowledged', data: { note: event.id }, metadata }
      await this.store.append(`ack-${event.id}`, [ack])
      this.seen.push(event.id)
    }
    if (this.failures > 0) {
      this.failures--
      throw new Error('the side effect failed after its outcome was written')
    }
  }
}

t.test('a reactor checkpoints, retries a failing batch and counts it; its outcomes are written once', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const store = createPostgresEventStore(sql, registry)
    const reactor = new Acknowledger('acknowledger', store, 2)
    const runner = new ReactorRunner({ sql, store, reactors: [reactor], logger, standbyRetryMs: 50 })
    t.teardown(() => runner.stop())
    await writeNotes(store, 5)
    runner.start()
    await runner.waitFor(await lastWritten(sql), 20_000)
    const [status] = runner.status()
    t.equal(status!.errors, 2, 'two failures counted')
    t.equal(status!.leader, true)
    t.equal(status!.eventsHandled, 5, 'five events handled once the batch went through')
    t.equal(status!.lastError, undefined, 'a batch that went through clears the last error')
    t.equal(reactor.seen.length, 15, 'the failing batch was handed over again, from the checkpoint, until it went through')
    const acks = (await store.readAll({ major: 0n, minor: 0n }, { types: ['test.note.acknowledged'] })).events
    t.equal(acks.length, 5, 'each outcome written once, whatever the deliveries')
    t.equal(new Set(acks.map((e) => e.metadata.causationId)).size, 5, 'one outcome per note, caused by it')

    const first = await checkpointOf(sql, 'acknowledger')
    t.equal(first?.handled, 5)
    await writeNotes(store, 3, 5)
    await runner.waitFor(await lastWritten(sql), 10_000)
    const second = await checkpointOf(sql, 'acknowledger')
    t.equal(second?.handled, 8, 'the checkpoint advances with the log')
    t.not(second?.position, first?.position)

    await runner.stop()
    const restarted = new Acknowledger('acknowledger', store)
    const again = new ReactorRunner({ sql, store, reactors: [restarted], logger })
    t.teardown(() => again.stop())
    await writeNotes(store, 2, 8)
    again.start()
    await again.waitFor(await lastWritten(sql), 10_000)
    t.equal(restarted.seen.length, 2, 'a restart resumes from the checkpoint: only the new events')
    // Its own outcomes come after its last note; the next read of the log moves the checkpoint past them.
    const lag = await until('no lag', async () => {
      const [found] = await again.lag()
      return found!.events === 0 ? found : undefined
    })
    t.same(lag, { name: 'acknowledger', events: 0, capped: false, seconds: 0 }, 'caught up: no lag')
  })
})

/** A reactor whose every batch fails. */
const broken: Reactor = {
  name: 'broken',
  eventTypes: 'all',
  async handle () { throw new Error('the webhook endpoint answered 500') }
}

t.test('a reactor\'s lag and failures show in /metrics and /readyz', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const node = await startNode(t, sql, { READY_MAX_LAG_SECONDS: '1' }, [broken])
    const owner = await bootstrap(node.runtime.identity, systemCommand('test'), { email: 'owner@a.example', orgName: 'Org A' })
    await settled(node.runtime)
    const metrics = await until('the failures to be counted', async () => {
      const text = (await node.app.inject({ method: 'GET', url: '/metrics' })).body
      const errors = /^ledgerline_reactor_errors_total\{reactor="broken"\} (\d+)/m.exec(text)
      return errors !== null && Number(errors[1]) >= 1 ? text : undefined
    })
    t.match(metrics, /^ledgerline_reactor_lag_events\{reactor="broken"\} [1-9]/m, 'its lag in events')
    t.match(metrics, /^ledgerline_reactor_leader\{reactor="broken"\} 1$/m)
    t.match(metrics, /^ledgerline_reactor_running\{reactor="impersonation_recheck"\} 1$/m, 'the application\'s reactors too')
    // The recheck reactor catches up on its own schedule (the failing one's retries do not hold it): wait for it, not a snapshot.
    const caughtUp = await until('the recheck reactor to catch up', async () => {
      const text = (await node.app.inject({ method: 'GET', url: '/metrics' })).body
      return /^ledgerline_reactor_lag_events\{reactor="impersonation_recheck"\} 0$/m.test(text) ? text : undefined
    })
    t.match(caughtUp, /^ledgerline_reactor_lag_events\{reactor="broken"\} [1-9]/m, 'while the failing one stays behind')
    const ready = await until('/readyz to fail on the lagging reactor', async () => {
      const response = await node.app.inject({ method: 'GET', url: '/readyz' })
      return response.statusCode === 503 ? response.json() as { checks: Array<{ name: string, ok: boolean, detail?: string }> } : undefined
    })
    const reactors = ready.checks.find((check) => check.name === 'reactors')
    t.match(reactors, { ok: false, detail: /broken is \d+ s behind \(failing: the webhook endpoint answered 500\)/ })
    t.match(ready.checks.find((check) => check.name === 'projections'), { ok: true }, 'the projections are fine')
    // The gauge is the same check made at scrape time: polled, as the lag it compares is read again each time.
    const gauges = await until('the readiness gauge to show the reactors failing', async () => {
      const text = (await node.app.inject({ method: 'GET', url: '/metrics' })).body
      return /^ledgerline_readiness_check\{check="reactors"\} 0$/m.test(text) ? text : undefined
    })
    t.match(gauges, /^ledgerline_ready 0$/m, 'and the node is not ready')
    t.ok(owner.orgId)
  })
})

t.test('of two instances one leads and handles each event once; the other takes over from the checkpoint', async (t) => {
  await forEachDatabase(t, async (t, { sql, url }) => {
    // On PostgreSQL the second instance has a connection pool of its own, as a second server would.
    const sql2 = url === undefined ? sql : await openSqlClient({ databaseUrl: url, poolSize: 4 })
    if (sql2 !== sql) t.teardown(() => sql2.close())
    const store = createPostgresEventStore(sql, registry)
    const store2 = createPostgresEventStore(sql2, registry)
    const a = new Acknowledger('pair', store)
    const b = new Acknowledger('pair', store2)
    const runnerA = new ReactorRunner({ sql, store, reactors: [a], logger, standbyRetryMs: 50 })
    const runnerB = new ReactorRunner({ sql: sql2, store: store2, reactors: [b], logger, standbyRetryMs: 50 })
    t.teardown(() => runnerA.stop())
    t.teardown(() => runnerB.stop())
    runnerA.start()
    await until('a leader', async () => runnerA.status()[0]!.leader ? true : undefined)
    runnerB.start()
    await writeNotes(store, 20)
    await runnerA.waitFor(await lastWritten(sql), 10_000)
    await new Promise((resolve) => setTimeout(resolve, 300))
    t.same([runnerA.status()[0]!.leader, runnerB.status()[0]!.leader], [true, false], 'one leader, one standing by')
    t.equal(a.seen.length, 20, 'the leader handled every event')
    t.equal(b.seen.length, 0, 'the standby handled none')

    await runnerA.stop()
    await writeNotes(store, 5, 20)
    await runnerB.waitFor(await lastWritten(sql), 10_000)
    t.equal(runnerB.status()[0]!.leader, true, 'the standby took over')
    t.equal(b.seen.length, 5, 'from the checkpoint: only what the first did not handle')
    t.equal(new Set([...a.seen, ...b.seen]).size, 25, 'each event handled once across the two')
    t.equal((await checkpointOf(sql, 'pair'))?.handled, 25)
  })
})
