/**
 * The fan-out reactor, on PGlite and PostgreSQL, with no job runner (the
 * messages and their scheduled deliveries are what is checked): filters by
 * exact type and prefix at 0, 1 and many endpoints, a few hundred events to
 * 8 endpoints, an endpoint getting only what came after it, the payload
 * without secrets, and a replay of the reactor from the start of the log
 * writing nothing new.
 */
import t from 'tap'
import { deliveryJobId } from '../src/application/webhooks/outbound/fan-out.ts'
import { reactorCheckpoint } from '../src/application/reactors/reactor.ts'
import { messageIdOf } from '../src/domain/webhooks/outbound-message.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { openWebhookWorld } from './helpers/webhook-receiver.ts'

const URL = 'http://127.0.0.1:9/hook'
/** A few hundred would take minutes on PGlite, where each message and its job are appended one after another. */
const EVENTS = 150

await forEachDatabase(t, async (t, { sql }) => {
  const world = await openWebhookWorld(t, sql, { runJobs: false })

  /** Messages per endpoint, from the log itself. */
  async function messagesOf (endpointIds: readonly string[]): Promise<Map<string, number>> {
    const { rows } = await sql.query<{ endpoint: string, n: string }>(
      `SELECT data->>'endpointId' AS endpoint, count(*)::text AS n FROM events WHERE type = 'webhook.message.created'
        AND data->>'endpointId' = ANY($1) GROUP BY 1`, [endpointIds])
    return new Map(endpointIds.map((id) => [id, Number(rows.find((r) => r.endpoint === id)?.n ?? 0)]))
  }

  await t.test('no endpoint: events are read and nothing is written', async (t) => {
    const org = await world.newOwner('none@a.example')
    const position = await world.happen(5, 0, org.orgId)
    await world.fannedOut(position)
    const { rows } = await sql.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM events WHERE type LIKE 'webhook.message.%' AND metadata->>'orgId' = $1", [org.orgId])
    t.equal(rows[0]!.n, '0')
  })

  await t.test('one endpoint gets the events its filters match, only those after it was created, with a public payload', async (t) => {
    const org = await world.newOwner('one@a.example')
    await world.happen(2, 0, org.orgId)
    const { endpointId } = await world.endpoint(URL, ['ai.test.happened'], org)
    const position = await world.happen(3, 10, org.orgId)
    await world.fannedOut(position)
    t.equal((await messagesOf([endpointId])).get(endpointId), 3, 'the two before it are not sent')
    interface Created {
      payload: { type: string, timestamp: string, data: Record<string, unknown> }, messageId: string, sourceEventId: string
    }
    const messages = (await sql.query<{ data: Created }>(
      "SELECT data FROM events WHERE type = 'webhook.message.created' AND data->>'endpointId' = $1", [endpointId])).rows
    for (const { data } of messages) {
      t.equal(data.messageId, messageIdOf(endpointId, data.sourceEventId), 'the id derives from the endpoint and the event')
      t.equal(data.payload.type, 'ai.test.happened')
      t.match(data.payload.data, { orgId: org.orgId, actor: { type: 'system', id: 'test' }, fields: { n: Number } })
      t.notMatch(JSON.stringify(data.payload), 'never-sent', 'a hash never leaves')
      const job = await world.runtime.store.readStream(`job-${deliveryJobId(data.messageId)}`)
      t.equal(job[0]?.type, 'job.scheduled', 'its delivery is scheduled')
    }
  })

  await t.test('prefix, exact and * filters over many endpoints: each gets exactly what it matches', async (t) => {
    const org = await world.newOwner('many@a.example')
    const filters = [['*'], ['ai.*'], ['ai.test.*'], ['ai.test.happened'], ['rbac.*'], ['rbac.role.created', 'ai.test.happened'],
      ['impersonation.*'], ['audit.*']]
    const ids: string[] = []
    for (const eventTypes of filters) ids.push((await world.endpoint(URL, eventTypes, org)).endpointId)
    const position = await world.happen(4, 0, org.orgId)
    await world.fannedOut(position)
    const counts = await messagesOf(ids)
    t.same(ids.map((id) => counts.get(id)), [4, 4, 4, 4, 0, 4, 0, 0])
  })

  await t.test('150 events to 8 endpoints: 1,200 messages, each with its job; a replay of the reactor writes nothing new', async (t) => {
    const org = await world.newOwner('bulk@a.example')
    const ids: string[] = []
    for (let i = 0; i < 8; i++) {
      ids.push((await world.endpoint(`${URL}/${i}`, i % 2 === 0 ? ['*'] : ['ai.test.happened'], org)).endpointId)
    }
    const position = await world.happen(EVENTS, 0, org.orgId)
    await world.fannedOut(position, 180_000)
    const counts = await messagesOf(ids)
    t.same([...counts.values()], Array(8).fill(EVENTS))
    const jobs = await sql.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM events
        WHERE type = 'job.scheduled' AND data->>'jobType' = 'webhook.deliver' AND metadata->>'orgId' = $1`,
      [org.orgId])
    t.equal(jobs.rows[0]!.n, String(EVENTS * 8))
    const headRow = (await sql.query<{ last: string }>('SELECT max(global_position)::text AS last FROM events')).rows[0]!.last
    const control = world.runtime.reactors
    await stopReactor(world)
    await sql.query('DELETE FROM projections WHERE name = $1', [reactorCheckpoint('webhook_fan_out')])
    await startReactor(world)
    await control.waitFor(position, 180_000, ['webhook_fan_out'])
    const { rows: after } = await sql.query<{ type: string, n: number }>(
      'SELECT type, count(*)::int AS n FROM events WHERE global_position > $1 GROUP BY type', [String(headRow)])
    t.same(after, [], 'the replay appended nothing')
  })
})

async function stopReactor (world: { runtime: { reactors: { control(name: string): { stop(): Promise<void> } } } }): Promise<void> {
  await world.runtime.reactors.control('webhook_fan_out').stop()
}

async function startReactor (world: { runtime: { reactors: { control(name: string): { start(): Promise<void> } } } }): Promise<void> {
  await world.runtime.reactors.control('webhook_fan_out').start()
}
