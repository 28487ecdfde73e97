/**
 * The fake OpenAI upstream, read by the real `openai` SDK: streamed text, tool calls whose arguments arrive in
 * pieces and are put back together by the SDK's stream helper, the usage chunk only when asked for, a plain JSON
 * completion, a 429 with its retry-after, a 500 when nothing is queued, a socket cut mid-stream, and a stall the
 * client aborts, which the fake records as aborted.
 */
import OpenAI, { InternalServerError, RateLimitError } from 'openai'
import type { ChatCompletionChunk } from 'openai/resources/chat/completions'
import t, { type Test } from 'tap'
import { startFakeOpenAI, type FakeOpenAI } from './helpers/fake-openai.ts'

const MESSAGES = [{ role: 'user' as const, content: 'hello' }]

async function open (t: Test): Promise<{ fake: FakeOpenAI, client: OpenAI }> {
  const fake = await startFakeOpenAI()
  t.teardown(() => fake.close())
  return { fake, client: new OpenAI({ baseURL: fake.baseURL, apiKey: 'test-key', maxRetries: 0 }) }
}

async function collect (stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return chunks
}

t.test('streamed text arrives as one delta per scripted piece, with the usage chunk when include_usage asks', async (t) => {
  const { fake, client } = await open(t)
  fake.enqueue({ text: ['Hel', 'lo', ' there'], usage: { prompt_tokens: 12, completion_tokens: 3, cached_tokens: 4 } })
  const chunks = await collect(await client.chat.completions.create({
    model: 'gpt-test', messages: MESSAGES, stream: true, stream_options: { include_usage: true }
  }))
  t.same(chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.delta.content ?? '')), ['Hel', 'lo', ' there', ''])
  t.equal(chunks[0]?.choices[0]?.delta.role, 'assistant')
  t.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'stop')
  t.same(chunks.at(-1)?.choices, [])
  t.match(chunks.at(-1)?.usage, { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15, prompt_tokens_details: { cached_tokens: 4 } })
  t.equal(fake.requests.length, 1)
  t.match(fake.requests[0], { path: '/v1/chat/completions', body: { model: 'gpt-test', stream: true }, aborted: false })
  t.equal(fake.requests[0]?.headers.authorization, 'Bearer test-key')
  t.equal(fake.requests[0]?.sentAt.length, chunks.length, 'one send time per chunk')
})

t.test('without include_usage the stream carries no usage chunk, as OpenAI does', async (t) => {
  const { fake, client } = await open(t)
  fake.enqueue({ text: ['ok'], usage: { prompt_tokens: 5, completion_tokens: 1 } })
  const chunks = await collect(await client.chat.completions.create({ model: 'gpt-test', messages: MESSAGES, stream: true }))
  t.equal(chunks.length, 2)
  t.ok(chunks.every((chunk) => chunk.usage === undefined || chunk.usage === null))
})

t.test('tool calls split across chunks are put back together by the SDK stream, with their ids and names', async (t) => {
  const { fake, client } = await open(t)
  const first = JSON.stringify({ orgId: 'org-1', detail: 'full' })
  const second = JSON.stringify({ limit: 20 })
  fake.enqueue({
    toolCalls: [
      { id: 'call_a', name: 'org.get', arguments: first, pieces: 5 },
      { id: 'call_b', name: 'members.list', arguments: second, pieces: 3 }
    ],
    usage: { prompt_tokens: 40, completion_tokens: 18 }
  })
  const stream = client.chat.completions.stream({
    model: 'gpt-test', messages: MESSAGES, stream_options: { include_usage: true },
    tools: [{ type: 'function', function: { name: 'org.get', parameters: { type: 'object' } } }]
  })
  const argumentDeltas: string[] = []
  stream.on('tool_calls.function.arguments.delta', (event) => argumentDeltas.push(event.arguments_delta))
  const completion = await stream.finalChatCompletion()
  const choice = completion.choices[0]
  t.equal(choice?.finish_reason, 'tool_calls')
  const calls = choice?.message.tool_calls?.map((call) => call.type === 'function'
    ? [call.id, call.function.name, call.function.arguments]
    : [])
  t.same(calls, [
    ['call_a', 'org.get', first], ['call_b', 'members.list', second]
  ])
  t.equal(argumentDeltas.filter((delta) => delta !== '').length, 8, 'five pieces for the first call, three for the second')
  t.match(completion.usage, { prompt_tokens: 40, completion_tokens: 18 })
  t.match(fake.requests[0]?.body, { tools: [{ type: 'function', function: { name: 'org.get' } }] })
})

t.test('a request without stream gets one JSON completion with the text, tool calls and usage', async (t) => {
  const { fake, client } = await open(t)
  fake.enqueue({ text: ['a', 'b'], toolCalls: [{ id: 'call_1', name: 'org.get', arguments: '{}' }], finishReason: 'length' })
  const completion = await client.chat.completions.create({ model: 'gpt-test', messages: MESSAGES })
  t.equal(completion.choices[0]?.message.content, 'ab')
  t.equal(completion.choices[0]?.finish_reason, 'length')
  t.equal(completion.choices[0]?.message.tool_calls?.[0]?.id, 'call_1')
  t.equal(completion.usage, undefined)
})

t.test('turns answer requests in order, and a request with none queued gets a 500 that says so', async (t) => {
  const { fake, client } = await open(t)
  fake.enqueue({ text: ['one'] }, { text: ['two'] })
  const texts: string[] = []
  for (let index = 0; index < 2; index++) {
    const completion = await client.chat.completions.create({ model: 'gpt-test', messages: MESSAGES })
    texts.push(completion.choices[0]?.message.content ?? '')
  }
  t.same(texts, ['one', 'two'])
  const error = await client.chat.completions.create({ model: 'gpt-test', messages: MESSAGES }).catch((caught: unknown) => caught)
  t.ok(error instanceof InternalServerError)
  t.match((error as InternalServerError).message, /no turn queued/)
})

t.test('a scripted 429 reaches the SDK as a rate-limit error with its retry-after', async (t) => {
  const { fake, client } = await open(t)
  fake.enqueue({ status: 429, retryAfterSeconds: 7 }, { text: ['after'] })
  const error = await client.chat.completions.create({ model: 'gpt-test', messages: MESSAGES, stream: true })
    .catch((caught: unknown) => caught)
  t.ok(error instanceof RateLimitError)
  t.equal((error as RateLimitError).status, 429)
  t.equal((error as RateLimitError).headers?.get('retry-after'), '7')
  t.equal((error as RateLimitError).code, 'rate_limit_exceeded')
  const next = await client.chat.completions.create({ model: 'gpt-test', messages: MESSAGES })
  t.equal(next.choices[0]?.message.content, 'after', 'the 429 used its turn; the next request gets the next one')
})

t.test('a socket cut mid-stream fails the SDK stream after the chunks sent, and is not counted as the client aborting', async (t) => {
  const { fake, client } = await open(t)
  fake.enqueue({ text: ['a', 'b', 'c', 'd'], errorAfterChunks: 2 })
  const seen: string[] = []
  const stream = await client.chat.completions.create({ model: 'gpt-test', messages: MESSAGES, stream: true })
  const error = await (async () => {
    for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '')
  })().catch((caught: unknown) => caught)
  t.ok(error instanceof Error, 'the stream fails')
  t.same(seen, ['a', 'b'])
  await fake.until((requests) => requests.length === 1)
  t.equal(fake.requests[0]?.aborted, false)
})

t.test('a stalled stream keeps its socket open until the client aborts, and the fake records the abort', async (t) => {
  const { fake, client } = await open(t)
  fake.enqueue({ text: ['first', 'never'], stallAfterChunks: 1 })
  const controller = new AbortController()
  const stream = await client.chat.completions.create(
    { model: 'gpt-test', messages: MESSAGES, stream: true }, { signal: controller.signal }
  )
  const seen: string[] = []
  // The SDK ends the iteration quietly when its caller aborts (no error), so a reader must look at its own signal.
  for await (const chunk of stream) {
    seen.push(chunk.choices[0]?.delta.content ?? '')
    controller.abort()
  }
  t.same(seen, ['first'])
  t.equal(controller.signal.aborted, true)
  await fake.until((requests) => requests[0]?.aborted === true)
  t.equal(fake.requests[0]?.aborted, true)
})

t.test('a request without a key, a model or messages is refused as OpenAI refuses it', async (t) => {
  const fake = await startFakeOpenAI()
  t.teardown(() => fake.close())
  const bare = await fetch(`${fake.baseURL}/chat/completions`, { method: 'POST', body: '{}' })
  t.equal(bare.status, 401)
  const noModel = await fetch(`${fake.baseURL}/chat/completions`, {
    method: 'POST', headers: { authorization: 'Bearer k' }, body: JSON.stringify({ messages: [] })
  })
  t.equal(noModel.status, 400)
  t.match(await noModel.json(), { error: { type: 'invalid_request_error' } })
  const elsewhere = await fetch(`${fake.baseURL}/embeddings`, { method: 'POST', headers: { authorization: 'Bearer k' }, body: '{}' })
  t.equal(elsewhere.status, 404)
  t.equal(fake.requests.length, 3)
})
