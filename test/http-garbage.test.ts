/**
 * Garbage in, problem+json out (1 of 4). fast-check feeds every route the app
 * has (read from its own OpenAPI document, checked against the router so that
 * nothing hides) junk path parameters and query strings, wrong types, huge
 * strings, deep nesting, invalid JSON, unknown fields, wrong content types and
 * bad tokens. Every answer must be a 4xx problem+json whose `status` is the
 * HTTP status (a 2xx only where the token was valid, or the route is public,
 * and the input happened to be valid), never a 5xx, and the server must still
 * answer afterwards.
 *
 * The walk is split in three files so that they run in parallel: this one
 * (generated requests through app.inject), http-garbage-tcp (raw bytes through
 * a listening server, and the single requests that pin the bugs the walk
 * found) and http-garbage-params (every parameter and cursor of every GET
 * route, one hostile value at a time). Their parts are in test/helpers/garbage.ts.
 */
import fc from 'fast-check'
import t from 'tap'
import { forEachDatabase } from './helpers/databases.ts'
import { routerRoutes } from './helpers/routes.ts'
import {
  excluded, fromInject, garbageFor, injectOptions, judge, key, MUTATING, type Route, runsOn, type Sent, world
} from './helpers/garbage.ts'

const unknownRoute: Route = {
  method: 'GET', url: '/v1/:junk', operation: { parameters: [{ in: 'path', name: 'junk', schema: { type: 'string' } }] }, public: false
}

t.test('the garbage walk, on an application of each driver', async (t) => {
  await forEachDatabase(t, async (t, { driver, sql }) => {
    const w = await world(t, sql)
    const runs = runsOn(driver)

    await t.test('every route the router serves is in the OpenAPI document, so the garbage walk misses none', async (t) => {
      const served = routerRoutes(w.app).filter((route) => !excluded(route.url)).map(key).sort()
      const walked = w.routes.map(key).sort()
      t.ok(served.length >= 20, `the router listing parsed (${served.length} routes)`)
      t.same(served, walked, 'the router and the OpenAPI document (with HEAD twins) list the same routes')
    })

    await t.test('generated garbage to every route gets only 4xx problem+json, never a 5xx, and the server still answers afterwards',
      async (t) => {
        let sentCount = 0
        for (const route of [...w.routes, unknownRoute]) {
          const failure = await fc.assert(fc.asyncProperty(garbageFor(w, route), async (garbage) => {
            const options = injectOptions(w, garbage)
            const response = await w.app.inject(options)
            sentCount++
            const target = w.routes.find((candidate) => candidate.method === garbage.method && candidate.url === route.url)
            const sent: Sent = {
              method: garbage.method,
              url: String(options.url),
              validToken: garbage.tokenKind === 'admin' || garbage.tokenKind === 'other',
              idempotencyKey: garbage.idempotencyKey,
              body: garbage.body,
              route: target
            }
            const reason = judge(sent, fromInject(response), options.headers as Record<string, string>)
            if (response.statusCode < 300 && MUTATING.has(garbage.method)) await w.keepValid()
            if (reason !== undefined) throw new Error(reason)
          }), { numRuns: route === unknownRoute ? runs * 2 : runs, includeErrorInReport: true })
            .then(() => undefined, (error: Error) => error.message)
          t.equal(failure, undefined, `${key(route)}: ${runs} garbage requests answered within the contract`)
        }
        t.comment(`${sentCount} requests sent through app.inject`)

        await w.keepValid()
        t.equal((await w.app.inject('/healthz')).statusCode, 200, '/healthz still answers')
        const session = await w.app.inject({ url: '/v1/session', headers: { authorization: `Bearer ${w.admin.token}` } })
        t.equal(session.statusCode, 200, `GET /v1/session still works: ${session.body.slice(0, 200)}`)
        t.equal(session.json().user.userId, w.admin.userId)
      })
  })
})
