/**
 * Garbage in, problem+json out (3 of 4; see test/http-garbage.test.ts): every
 * query parameter and path parameter of every GET route but the cursors
 * (test/http-garbage-cursors.test.ts), one hostile value at a time, and
 * random query strings on the main list routes.
 */
import fc from 'fast-check'
import t, { type Test } from 'tap'
import { forEachDatabase } from './helpers/databases.ts'
import { fromInject, judge, pct, runsOn, world, type World } from './helpers/garbage.ts'
import { hostileValues } from './helpers/garbage-params.ts'

t.test('the parameter walks, on one application of each driver', async (t) => {
  await forEachDatabase(t, async (t, { driver, sql }) => {
    // One world for both walks: they only read (and record the searches), so neither can spoil the other's input.
    const w = await world(t, sql)
    await t.test('every query parameter and path parameter of every GET route, one hostile value at a time, ' +
      'gets 2xx or 4xx problem+json, never a 5xx', (t) => hostileValues(t, w, 'others'))
    await t.test('random strings in every query parameter of the main list routes get 2xx or 4xx problem+json (fast-check)',
      (t) => randomQueries(t, w, runsOn(driver) * 2))
  })
})

async function randomQueries (t: Test, w: World, runs: number): Promise<void> {
  const lists = ['/v1/orgs/:orgId/audit-events', '/v1/orgs/:orgId/audit-events/export', '/v1/orgs/:orgId/audit-digests',
    '/v1/orgs/:orgId/members', '/v1/orgs/:orgId/impersonations', '/v1/orgs/:orgId/tool-calls', '/v1/me/security-log',
    '/v1/orgs/:orgId/webhooks/sources', '/v1/orgs/:orgId/webhooks/endpoints', '/v1/admin/ai/budgets']
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ maxLength: 300 }),
    fc.date({ noInvalidDate: false }).map((date) => Number.isNaN(date.getTime()) ? 'Invalid Date' : date.toISOString()),
    fc.bigInt().map(String)
  )
  for (const url of lists) {
    const route = w.routes.find((candidate) => candidate.method === 'GET' && candidate.url === url)
    t.ok(route !== undefined, `${url} is in the OpenAPI document`)
    const names = (route?.operation.parameters ?? []).filter((parameter) => parameter.in === 'query').map((parameter) => parameter.name)
    if (route === undefined || names.length === 0) continue
    const failure = await fc.assert(fc.asyncProperty(fc.dictionary(fc.constantFrom(...names), text, {
      maxKeys: names.length
    }), async (query) => {
      const search = Object.entries(query).map(([name, value]) => `${name}=${pct(value)}`).join('&')
      const path = url.replace(':orgId', w.orgIds[0]!)
      const headers = { authorization: `Bearer ${w.admin.token}` }
      const response = await w.app.inject({ method: 'GET', url: `${path}?${search}`, headers })
      const reason = judge({ method: 'GET', url: `${path}?${search}`, validToken: true, route }, fromInject(response), headers)
      if (reason !== undefined) throw new Error(reason)
    }), { numRuns: runs }).then(() => undefined, (error: Error) => error.message)
    t.equal(failure, undefined, `${url}: ${runs} random query strings`)
  }
  t.equal((await w.app.inject('/healthz')).statusCode, 200, '/healthz still answers')
}
