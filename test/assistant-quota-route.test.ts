/**
 * The quota on the assistant's message route, on PGlite and PostgreSQL: 20
 * messages sent at once by one member with a limit of 5 a minute — 5 stream an
 * answer, 15 are 429 ai.quota_exceeded with Retry-After, and no refused
 * request reaches the (fake) model upstream.
 */
import t from 'tap'
import { forEachDatabase } from './helpers/databases.ts'
import { readEvents, startAssistantApp, textOf } from './helpers/assistant.ts'

const LIMIT = 5

t.test('the quota is hit under 20 concurrent requests, and no request past it reaches the upstream', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await startAssistantApp(t, sql)
    const set = await w.api.call('PUT', `/v1/orgs/${w.orgId}/ai/quotas`, { body: { requestsPerMinute: LIMIT } })
    t.equal(set.statusCode, 200)
    const conversations = await Promise.all(Array.from({ length: 20 }, async () => w.conversation()))
    for (let n = 0; n < 20; n++) w.fake.enqueue({ text: ['answer ', String(n)], usage: { prompt_tokens: 10, completion_tokens: 2 } })
    // The window is the calendar minute: 20 requests that straddle its end may pass 5 in each (a loaded CI run admitted 10).
    // Start them with at least 30 s of the minute left.
    const left = 60_000 - (Date.now() % 60_000)
    if (left < 30_000) await new Promise((resolve) => setTimeout(resolve, left + 50))
    const responses = await Promise.all(conversations.map(async (id) => w.send(id, 'hello')))
    const passed = responses.filter((response) => response.status === 200)
    const refused = responses.filter((response) => response.status === 429)
    t.equal(passed.length, LIMIT, `${LIMIT} admitted`)
    t.equal(refused.length, 20 - LIMIT, 'the rest refused')
    for (const response of refused) {
      t.match(response.headers.get('content-type'), /^application\/problem\+json/)
      const retryAfter = Number(response.headers.get('retry-after'))
      t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${retryAfter}`)
      const body = await response.json() as { code: string, retryAfterSeconds: number, quota: string, limit: number }
      t.match(body, { code: 'ai.quota_exceeded', quota: 'requests_per_minute', limit: LIMIT, retryAfterSeconds: retryAfter })
    }
    for (const response of passed) t.match(textOf(await readEvents(response)), /^answer \d+$/, 'an admitted message streams its answer')
    t.equal(w.fake.requests.length, LIMIT, 'only the admitted requests reached the upstream')
  })
})
