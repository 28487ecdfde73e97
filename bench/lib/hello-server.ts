/**
 * The peer of bench/http.ts: a bare Fastify app with one route, GET /hello →
 * `{"hello":"world"}`, no logger, no plugins. It runs in its own process,
 * started like the Ledgerline server (`node --import tsx`), so both are
 * measured under the same conditions. Listens on HOST (127.0.0.1) and PORT;
 * SIGTERM or SIGINT closes it.
 */
import Fastify from 'fastify'

const app = Fastify({ logger: false })
app.get('/hello', async () => ({ hello: 'world' }))
await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 3000) })

const stop = (): void => {
  app.close().then(() => process.exit(0), () => process.exit(1))
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
