/**
 * The peer of webhook-ingest: a bare Fastify app, no logger, no plugins, one
 * route, `POST /v1/webhooks/stripe`, that takes the same JSON body as
 * Ledgerline's (Fastify's own parser, the same 1 MiB limit) and answers
 * `{"received":true}`: the HTTP work of receiving a webhook without checking
 * its signature, storing it or scheduling its processing. Listens on
 * 127.0.0.1 and a free port, and prints `listening <url>`; SIGTERM closes it.
 */
import Fastify from 'fastify'

const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 })
app.post('/v1/webhooks/stripe', async (request) => {
  if (typeof (request.body as { id?: unknown } | null)?.id !== 'string') throw new Error('not an event')
  return { received: true }
})
const address = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`listening ${address}\n`)

process.once('SIGTERM', () => {
  app.close().then(() => process.exit(0), () => process.exit(1))
})
