/**
 * The peer of the HTTP benchmarks: a bare Fastify app, no logger, no plugins,
 * two routes:
 *   GET /hello    → `{"hello":"world"}`
 *   POST /checks  → one `{"allowed":true}` per element of the JSON body's
 *                   `checks`: the HTTP work of an authz check (a body read and
 *                   parsed, an answer serialized) without authentication,
 *                   validation or decisions
 * It runs in its own process, started like the Ledgerline server
 * (`node --import tsx`), so both are measured under the same conditions.
 * Listens on HOST (127.0.0.1) and PORT; SIGTERM or SIGINT closes it.
 */
import Fastify from 'fastify'

const app = Fastify({ logger: false })
app.get('/hello', async () => ({ hello: 'world' }))
app.post('/checks', async (request) => ({ results: (request.body as { checks: unknown[] }).checks.map(() => ({ allowed: true })) }))
await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 3000) })

const stop = (): void => {
  app.close().then(() => process.exit(0), () => process.exit(1))
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
