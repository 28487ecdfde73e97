/**
 * Resume, stop and disconnect, on PGlite and PostgreSQL, with two runtimes
 * over the same database: a stream resumed on the other node with
 * Last-Event-ID gets exactly the parts after it, then follows live; a stop
 * asked on the other node aborts the generation on this one; a client that
 * goes away aborts the upstream request; and an aborted response is always
 * charged, with our estimate when the upstream sent no usage.
 */
import t, { type Test } from 'tap'
import { conversationStreamId } from '../src/domain/assistant/events.ts'
import type { RecordedEvent } from '../src/eventstore/types.ts'
import {
  conversationsUrl, parseEvents, readEvents, secondNode, startAssistantApp, typesOf, type AssistantApp, type SseEvent
} from './helpers/assistant.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { until } from './helpers/jobs-harness.ts'

const words = (n: number): string[] => Array.from({ length: n }, (_, i) => `w${i} `)

/** Reads a stream until `count` events arrived; answers them and the reader (to cancel or read on). */
async function readSome (response: Response, count: number) {
  const reader = response.body!.getReader()
  const decoder = new TextDecoder()
  let text = ''
  while (parseEvents(text).length < count) {
    const { value, done } = await reader.read()
    if (done) break
    text += decoder.decode(value, { stream: true })
  }
  const complete = text.slice(0, text.lastIndexOf('\n\n') + 2)
  return { events: parseEvents(complete), rest: text.slice(complete.length), reader, decoder }
}

async function usageOf (w: AssistantApp, conversationId: string): Promise<RecordedEvent[]> {
  let stored: RecordedEvent[] = []
  await until('the usage record', async () => {
    stored = await w.runtime.store.readStream(conversationStreamId(conversationId))
    return stored.some((e) => e.type === 'ai.usage.recorded')
  })
  return stored
}

t.test('streams resume on any node, stop from any node, and every abort is charged', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await startAssistantApp(t, sql)
    const other = await secondNode(t, sql, w.env)
    await t.test('a resume with Last-Event-ID on the other node gets the parts after it, then live', (t) => resume(t, w, other.url))
    await t.test('a stop on the other node aborts the generation here, and it is charged', (t) => stop(t, w, other.url))
    await t.test('a client that disconnects aborts the upstream request; the estimate is charged', (t) => disconnect(t, w))
  })
})

async function resume (t: Test, w: AssistantApp, otherUrl: string): Promise<void> {
  w.fake.enqueue({ text: words(40), chunkDelayMs: 15 })
  const conversationId = await w.conversation()
  const url = `${conversationsUrl(w.orgId)}/${conversationId}/stream`
  const nothing = await fetch(`${otherUrl}${url}`, { headers: { authorization: `Bearer ${w.member.token}` } })
  t.equal(nothing.status, 204, 'nothing streams yet')
  const headNothing = await fetch(`${otherUrl}${url}`, { method: 'HEAD', headers: { authorization: `Bearer ${w.member.token}` } })
  t.equal(headNothing.status, 204, 'HEAD answers as GET would: 204')
  const first = await w.send(conversationId, 'forty words')
  const { events: seen, rest, reader, decoder } = await readSome(first, 8)
  const last = seen.at(-1)!.id!
  const head = await fetch(`${otherUrl}${url}`, { method: 'HEAD', headers: { authorization: `Bearer ${w.member.token}` } })
  t.same([head.status, await head.text()], [200, ''], 'HEAD while a response streams: 200, no body, nothing followed')
  const resumed = await fetch(`${otherUrl}${url}`, { headers: { authorization: `Bearer ${w.member.token}`, 'last-event-id': last } })
  t.equal(resumed.status, 200)
  t.equal(resumed.headers.get('x-vercel-ai-ui-message-stream'), 'v1')
  const replayed = await readEvents(resumed)
  let text = rest
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    text += decoder.decode(value, { stream: true })
  }
  const after = parseEvents(text)
  t.strictSame(replayed, after, `the other node replays exactly what followed ${last}`)
  t.strictSame(typesOf(replayed).slice(-2), ['finish', '[DONE]'])

  const again = await fetch(`${otherUrl}${url}`, { headers: { authorization: `Bearer ${w.member.token}`, 'last-event-id': seen[2]!.id! } })
  const tail = await readEvents(again)
  t.strictSame(tail, [...seen.slice(3), ...after], 'an ended response replays from the store to its end')
  const stranger = await fetch(`${otherUrl}${url}`, { headers: { authorization: `Bearer ${w.owner.token}`, 'last-event-id': last } })
  t.equal(stranger.status, 404, 'another member is told it does not exist')
}

async function stop (t: Test, w: AssistantApp, otherUrl: string): Promise<void> {
  w.fake.enqueue({ text: words(30), chunkDelayMs: 5, stallAfterChunks: 6 })
  const before = w.fake.requests.length
  const conversationId = await w.conversation()
  const response = await w.send(conversationId, 'talk, then stall')
  const { events: seen, rest, reader, decoder } = await readSome(response, 5)
  const stopped = await fetch(`${otherUrl}${conversationsUrl(w.orgId)}/${conversationId}/stop`, {
    method: 'POST', headers: { authorization: `Bearer ${w.member.token}` }
  })
  t.equal(stopped.status, 202)
  let text = rest
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    text += decoder.decode(value, { stream: true })
  }
  const events: SseEvent[] = [...seen, ...parseEvents(text)]
  t.strictSame(typesOf(events).slice(-2), ['abort', '[DONE]'], 'the client is told, and the stream ends')
  await w.fake.until((requests) => requests[before]?.aborted === true)
  t.ok(w.fake.requests[before]!.aborted, 'the upstream request was aborted')
  const stored = await usageOf(w, conversationId)
  t.match(stored.find((e) => e.type === 'ai.response.aborted')?.data, { reason: 'stopped' })
  const usage = stored.find((e) => e.type === 'ai.usage.recorded')!.data as Record<string, number | string>
  t.match(usage, { source: 'estimate', userId: w.member.userId })
  const estimated = `estimated: ${usage.inputTokens} in, ${usage.outputTokens} out`
  t.ok((usage.inputTokens as number) > 0 && (usage.outputTokens as number) > 0, estimated)
  const again = await fetch(`${otherUrl}${conversationsUrl(w.orgId)}/${conversationId}/stop`, {
    method: 'POST', headers: { authorization: `Bearer ${w.member.token}` }
  })
  t.equal(again.status, 409, 'nothing left to stop')
}

async function disconnect (t: Test, w: AssistantApp): Promise<void> {
  w.fake.enqueue({ text: words(300), chunkDelayMs: 10, usage: null })
  const before = w.fake.requests.length
  const conversationId = await w.conversation()
  const client = new AbortController()
  const response = await w.send(conversationId, 'a long answer, please', w.member, { signal: client.signal })
  const { reader } = await readSome(response, 10)
  client.abort()
  await reader.cancel().catch(() => {})
  await w.fake.until((requests) => requests[before]?.aborted === true)
  t.ok(w.fake.requests[before]!.aborted, 'the upstream request was aborted')
  const stored = await usageOf(w, conversationId)
  t.match(stored.find((e) => e.type === 'ai.response.aborted')?.data, { reason: 'client_disconnected' })
  const usage = stored.find((e) => e.type === 'ai.usage.recorded')!.data as Record<string, number | string>
  t.match(usage, { source: 'estimate', cachedInputTokens: 0, currency: 'USD' })
  const output = usage.outputTokens as number
  t.ok(output > 0 && output < 600, `output estimated from what streamed: ${output}`)
  t.ok(Number.isInteger(usage.costMicros) && (usage.costMicros as number) > 0, `charged ${usage.costMicros} micro-USD`)
}
