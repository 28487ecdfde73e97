/**
 * The assistant's stream end to end, on PGlite and PostgreSQL: a message
 * answered over SSE in the UI message stream protocol v1 (parts in order,
 * ids of stored places, [DONE]), text coalesced into few chunk events, the
 * provider's usage recorded, and 503 ai.not_configured without a model while
 * conversations still work.
 */
import t from 'tap'
import { conversationStreamId } from '../src/domain/assistant/events.ts'
import { conversationsUrl, readEvents, startAssistantApp, textOf, typesOf } from './helpers/assistant.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { until } from './helpers/jobs-harness.ts'

t.test('a message streams its answer in the UI message stream protocol', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await startAssistantApp(t, sql)
    const words = Array.from({ length: 60 }, (_, i) => `word${i} `)
    w.fake.enqueue({ text: words, usage: { prompt_tokens: 21, completion_tokens: 60, cached_tokens: 5 }, chunkDelayMs: 2 })
    const conversationId = await w.conversation()
    const response = await w.send(conversationId, 'Say sixty words')
    t.equal(response.status, 200)
    t.equal(response.headers.get('x-vercel-ai-ui-message-stream'), 'v1')
    t.match(response.headers.get('content-type'), /^text\/event-stream/)
    const events = await readEvents(response)
    const types = typesOf(events)
    t.strictSame([...types.slice(0, 4), ...types.slice(-4)],
      ['start', 'start-step', 'text-start', 'text-delta', 'text-end', 'finish-step', 'finish', '[DONE]'])
    t.equal(textOf(events), words.join(''), 'the text as the model sent it')
    t.ok(events.slice(0, -1).every((event) => /^rsp_[A-Za-z0-9]+\.\d+\.\d+$/.test(event.id ?? '')), 'every part has a stored place as id')
    t.equal(new Set(events.map((event) => event.id)).size, events.length, 'ids are unique')

    // The usage record follows the response's end, which the client may read first.
    const stored = await until('the usage record', async () => {
      const events = await w.runtime.store.readStream(conversationStreamId(conversationId))
      return events.some((event) => event.type === 'ai.usage.recorded') ? events : undefined
    })
    const chunks = stored.filter((event) => event.type === 'ai.response.chunk')
    t.ok(chunks.length >= 1 && chunks.length < 40, `text coalesced into ${chunks.length} chunk events for ${events.length} parts`)
    const usage = stored.find((event) => event.type === 'ai.usage.recorded')
    t.match(usage?.data, {
      inputTokens: 21, outputTokens: 60, cachedInputTokens: 5, source: 'provider', model: 'gpt-test', currency: 'USD'
    })
    t.equal(stored.filter((event) => event.type === 'ai.usage.recorded').length, 1, 'one usage record')
    const request = w.fake.requests[0]!.body!
    t.match(request, { model: 'gpt-test', stream: true, stream_options: { include_usage: true } })
    t.match(request.messages, [{ role: 'user', content: 'Say sixty words' }])
  })
})

t.test('without a model the assistant answers 503 ai.not_configured, and conversations still work', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await startAssistantApp(t, sql, { env: { OPENAI_API_KEY: '' } })
    const conversationId = await w.conversation()
    const response = await w.send(conversationId, 'hello')
    t.equal(response.status, 503)
    t.equal((await response.json() as { code: string }).code, 'ai.not_configured')
    const read = await w.api.call('GET', `${conversationsUrl(w.orgId)}/${conversationId}`, { token: w.member.token })
    t.equal(read.statusCode, 200)
    t.strictSame(read.json().items, [], 'nothing was written')
    t.equal(w.fake.requests.length, 0)
  })
})
