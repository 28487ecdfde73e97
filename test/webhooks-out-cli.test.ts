/**
 * `ledgerline webhooks endpoints | attempts | recover | resend`, in process
 * on the test's runtime (PGlite and PostgreSQL): the same answers as the
 * routes, JSON for scripts, and bad flags refused with exit status 2 before
 * anything is opened.
 */
import t from 'tap'
import { forEachDatabase } from './helpers/databases.ts'
import { ledgerline } from './helpers/ledgerline.ts'
import { openReceiver, openWebhookWorld } from './helpers/webhook-receiver.ts'

await forEachDatabase(t, async (t, { sql }) => {
  const world = await openWebhookWorld(t, sql)
  const receiver = await openReceiver(t)
  const { endpointId } = await world.endpoint(receiver.url, ['ai.test.happened'])

  await t.test('endpoints lists the organization\'s endpoints with their health, as text and as JSON', async (t) => {
    const text = await ledgerline(world.runtime, ['webhooks', 'endpoints', '--org', world.orgId])
    t.equal(text.code, 0, text.stderr)
    const line = text.stdout.split('\n').find((entry) => entry.startsWith(endpointId)) ?? ''
    t.match(line, /^ep_\w+\s+active\s+http:\/\/127\.0\.0\.1:\d+\/hook\s+\[ai\.test\.happened\]\s+healthy/)
    const json = await ledgerline(world.runtime, ['webhooks', 'endpoints', '--org', world.orgId, '--json'])
    t.match(JSON.parse(json.stdout), { items: [{ endpointId, state: 'active', eventTypes: ['ai.test.happened'] }] })
    const none = await ledgerline(world.runtime, ['webhooks', 'endpoints', '--org', 'org_nobody'])
    t.equal(none.stdout.trim(), 'no endpoints')
  })

  await t.test('attempts shows what the deliveries got; resend sends one again with the same webhook-id', async (t) => {
    await world.happen(2)
    await receiver.waitFor(2)
    // Recorded once the answer came back, then projected.
    for (let tries = 0; tries < 400; tries++) {
      const { rows } = await sql.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM outbound_attempts WHERE endpoint_id = $1', [endpointId])
      if (rows[0]!.n === 2) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const json = await ledgerline(world.runtime, ['webhooks', 'attempts', '--endpoint', endpointId, '--json'])
    t.equal(json.code, 0, json.stderr)
    const { items } = JSON.parse(json.stdout) as { items: Array<{ messageId: string, outcome: string, status: number }> }
    t.equal(items.length, 2)
    t.ok(items.every((a) => a.outcome === 'delivered' && a.status === 200))
    const one = await ledgerline(world.runtime, ['webhooks', 'attempts', '--endpoint', endpointId, '--limit', '1'])
    t.equal(one.stdout.trim().split('\n').length, 1, '--limit 1: one line')
    t.match(one.stdout, /\(message delivered\)$/m, 'the line ends with where the message stands')
    t.ok(items.every((a) => (a as { messageStatus?: string }).messageStatus === 'delivered'), 'and the JSON says it too')
    const resent = await ledgerline(world.runtime, ['webhooks', 'resend', '--message', items[0]!.messageId, '--json'])
    t.equal(resent.code, 0, resent.stderr)
    t.match(JSON.parse(resent.stdout), { messageId: items[0]!.messageId, jobId: String })
    const [, , again] = await receiver.waitFor(3)
    t.equal(again!.id, items[0]!.messageId)
  })

  await t.test('recover enables the endpoint and schedules its backlog since the given time', async (t) => {
    const recovered = await ledgerline(world.runtime, ['webhooks', 'recover', '--endpoint', endpointId, '--since', '2026-01-01', '--json'])
    t.equal(recovered.code, 0, recovered.stderr)
    t.match(JSON.parse(recovered.stdout), { jobId: String })
  })

  await t.test('bad flags exit 2; an unknown endpoint or message is not found', async (t) => {
    for (const args of [['endpoints', '--org', 'a b'], ['attempts', '--endpoint', endpointId, '--limit', '0'],
      ['recover', '--endpoint', endpointId, '--since', 'yesterday'], ['resend', '--message', 'nope']]) {
      const run = await ledgerline(world.runtime, ['webhooks', ...args])
      t.equal(run.code, 2, `${args.join(' ')}: ${run.stderr.trim()}`)
    }
    const missing = await ledgerline(world.runtime, ['webhooks', 'attempts', '--endpoint', 'ep_missing'])
    t.not(missing.code, 0)
    t.match(missing.stderr, /webhook\.endpoint_not_found|not found/)
    const gone = await ledgerline(world.runtime, ['webhooks', 'resend', '--message', `msg_${'0'.repeat(32)}`])
    t.match(gone.stderr, /webhook\.message_not_found|not found/)
  })
})
