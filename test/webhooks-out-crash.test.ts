/**
 * Kill -9 during a delivery: the server runs as a process of its own on the
 * test's PostgreSQL database and sends a message to a receiver that holds
 * the request open; the test kills the server with SIGKILL while it waits.
 * Once its lease has run out, a node in this process takes the job over and
 * delivers the message again, with the same `webhook-id`: at least once,
 * and the receiver can tell it is the same message.
 *
 * PostgreSQL only: PGlite cannot be shared between processes.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { drivers, openTestDatabase } from './helpers/databases.ts'
import { serverEnvironment, startServer } from './helpers/server-process.ts'
import { openReceiver, openWebhookWorld } from './helpers/webhook-receiver.ts'

t.test('a server killed mid-delivery: the message is delivered again by another node with the same webhook-id', async (t) => {
  if (!drivers().includes('postgres')) {
    t.comment('skipped: DATABASE_URL is not set, and PGlite cannot be shared with a child process')
    return
  }
  const { sql, url, dispose } = await openTestDatabase('postgres')
  t.teardown(dispose)
  // This node runs no jobs until the server is dead: the server's runner claims the delivery.
  const world = await openWebhookWorld(t, sql, { runJobs: false, env: { JOB_LEASE_SECONDS: '2' } })
  const receiver = await openReceiver(t)
  let release: (() => void) | undefined
  receiver.answer(() => new Promise((resolve) => { release = () => resolve({ status: 200 }) }), { status: 200 })
  await world.endpoint(receiver.url, ['ai.test.happened'])
  const server = await startServer(serverEnvironment(mkdtempSync(join(tmpdir(), 'll-crash-')), 'test', {
    DATABASE_URL: url!, WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', JOB_LEASE_SECONDS: '2', JOB_POLL_INTERVAL_MS: '100'
  }))
  t.teardown(() => { if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL') })
  await world.happen(1)
  const [held] = await receiver.waitFor(1, 60_000)
  server.child.kill('SIGKILL')
  await server.exited
  release?.()
  await world.runtime.jobs.start()
  const [, again] = await receiver.waitFor(2, 60_000)
  t.equal(again!.id, held!.id, 'the same webhook-id')
  t.equal(again!.body, held!.body, 'the same body')
  t.match(held!.id, /^msg_[0-9a-f]{32}$/)
  const deadline = Date.now() + 30_000
  for (;;) {
    const attempts = (await world.runtime.store.readStream(`whmsg-${held!.id}`)).filter((e) => e.type === 'webhook.attempt.recorded')
    if (attempts.some((e) => (e.data as { outcome: string }).outcome === 'delivered')) break
    if (Date.now() > deadline) throw new Error('the delivery was not recorded')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.pass('delivered and recorded after the crash')
})
