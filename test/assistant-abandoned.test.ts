/**
 * A response whose node died: its events say it still streams, no loop runs it,
 * and without care its conversation would refuse every message for good. Here
 * the dead node is played by appending its events through the decider (as a
 * node would, under another node's name) and never ending them. Once the
 * conversation has been silent AI_ABANDONED_AFTER_MS, the next message, stop or
 * resume records the response aborted (`abandoned`) and charges its estimate;
 * a response that ended without its usage record is charged the same way.
 * Before that, a message is still 409 ai.response_in_progress.
 */
import t, { type Test } from 'tap'
import { newMessageId, newResponseId } from '../src/application/assistant/conversations.ts'
import { conversationDecider, type ConversationCommand } from '../src/domain/assistant/conversation.ts'
import { conversationStreamId, type ConversationEvent } from '../src/domain/assistant/events.ts'
import { handleCommand } from '../src/domain/decider.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { conversationsUrl, readEvents, startAssistantApp, typesOf, type AssistantApp } from './helpers/assistant.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { problem } from './helpers/http.ts'

const ABANDONED_AFTER_MS = 1500

t.test('a response whose node died is settled by whoever comes next, and charged', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await startAssistantApp(t, sql, {
      env: { AI_ABANDONED_AFTER_MS: String(ABANDONED_AFTER_MS), AI_UPSTREAM_IDLE_TIMEOUT_MS: '1000' }
    })
    await t.test('a message: 409 while it may be alive, then it is aborted, charged, and the message is answered', (t) => message(t, w))
    await t.test('a stop after the silence ends it at once', (t) => stop(t, w))
    await t.test('a resume that follows it ends with its abort once the silence is long enough', (t) => resume(t, w))
    await t.test('a response that ended without its usage record is charged', (t) => uncharged(t, w))
  })
})

/** What a node that died mid-answer left: the message, the response's start and one chunk of text, under its name. */
async function deadResponse (w: AssistantApp, conversationId: string, options: { complete?: boolean } = {}): Promise<string> {
  const responseId = newResponseId()
  const run = (command: ConversationCommand) => handleCommand(w.runtime.store, conversationDecider, conversationStreamId(conversationId),
    command, { ...systemCommand('dead-node'), actor: { type: 'user', id: w.member.userId }, orgId: w.orgId })
  await run({ type: 'Ask', data: { message: { messageId: newMessageId(), text: 'tell me a long story' }, responseId, model: 'gpt-test',
    node: 'a-node-that-died:1' } })
  await run({ type: 'AppendParts', data: { responseId, seq: 1, parts: [{ type: 'start-step' }, { type: 'text-start', id: 't1' },
    { type: 'text-delta', id: 't1', delta: 'Once upon a time there was a node that never finished its sentence' }] } })
  if (options.complete === true) {
    await run({ type: 'CompleteResponse', data: { responseId, finishReason: 'stop', steps: 1, pendingCallIds: [] } })
  }
  return responseId
}

async function eventsOf (w: AssistantApp, conversationId: string): Promise<ConversationEvent[]> {
  return (await w.runtime.store.readStream(conversationStreamId(conversationId))) as unknown as ConversationEvent[]
}

function usageOf (events: readonly ConversationEvent[], responseId: string) {
  return events.filter((event): event is Extract<ConversationEvent, { type: 'ai.usage.recorded' }> =>
    event.type === 'ai.usage.recorded' && event.data.responseId === responseId).map((event) => event.data)
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function message (t: Test, w: AssistantApp): Promise<void> {
  const conversationId = await w.conversation()
  const dead = await deadResponse(w, conversationId)
  const early = await w.api.call('POST', `${conversationsUrl(w.orgId)}/${conversationId}/messages`,
    { token: w.member.token, body: { text: 'are you there?' } })
  problem(t, early, 409, 'ai.response_in_progress')
  t.notOk((await eventsOf(w, conversationId)).some((event) => event.type === 'ai.response.aborted'), 'a response that may be alive is left')

  await sleep(ABANDONED_AFTER_MS + 100)
  w.fake.enqueue({ text: ['I am here.'], usage: { prompt_tokens: 30, completion_tokens: 4 } })
  const answered = await w.send(conversationId, 'are you there now?')
  t.equal(answered.status, 200)
  const parts = await readEvents(answered)
  t.strictSame(typesOf(parts).slice(-2), ['finish', '[DONE]'], 'the new message is answered')
  const events = await eventsOf(w, conversationId)
  t.match(events.find((event) => event.type === 'ai.response.aborted')?.data, { responseId: dead, reason: 'abandoned' },
    'the dead response is recorded aborted, abandoned')
  const charged = usageOf(events, dead)
  t.equal(charged.length, 1, 'and charged once')
  t.match(charged[0], { source: 'estimate', userId: w.member.userId, model: 'gpt-test' })
  t.ok(charged[0]!.inputTokens > 0 && charged[0]!.outputTokens > 0,
    `an estimate of what it was sent and streamed (${charged[0]!.inputTokens} in, ${charged[0]!.outputTokens} out)`)
  t.ok(charged[0]!.costMicros > 0, 'priced')
}

async function stop (t: Test, w: AssistantApp): Promise<void> {
  const conversationId = await w.conversation()
  const dead = await deadResponse(w, conversationId)
  await sleep(ABANDONED_AFTER_MS + 100)
  const stopped = await w.api.call('POST', `${conversationsUrl(w.orgId)}/${conversationId}/stop`, { token: w.member.token })
  t.equal(stopped.statusCode, 202, stopped.body)
  t.match(stopped.json(), { responseId: dead, status: 'stopping' })
  const events = await eventsOf(w, conversationId)
  t.match(events.find((event) => event.type === 'ai.response.aborted')?.data, { responseId: dead, reason: 'abandoned' })
  t.equal(usageOf(events, dead).length, 1, 'charged')
  const again = await w.api.call('POST', `${conversationsUrl(w.orgId)}/${conversationId}/stop`, { token: w.member.token })
  problem(t, again, 409, 'ai.no_active_response')
}

async function resume (t: Test, w: AssistantApp): Promise<void> {
  const conversationId = await w.conversation()
  const dead = await deadResponse(w, conversationId)
  const started = Date.now()
  // Resumed at once: the follower reads what was stored, then waits; the silence ends the wait.
  const followed = await fetch(`${w.url}${conversationsUrl(w.orgId)}/${conversationId}/stream`,
    { headers: { authorization: `Bearer ${w.member.token}` } })
  t.equal(followed.status, 200)
  const parts = await readEvents(followed)
  const waited = Date.now() - started
  t.strictSame(typesOf(parts), ['start', 'start-step', 'text-start', 'text-delta', 'abort', '[DONE]'],
    'what it streamed, then its abort')
  t.match(parts.at(-2)!.data, { type: 'abort', reason: 'abandoned' })
  t.ok(waited >= ABANDONED_AFTER_MS - 200, `the follower waited for the silence (${waited} ms)`)
  t.equal(usageOf(await eventsOf(w, conversationId), dead).length, 1, 'charged')
}

async function uncharged (t: Test, w: AssistantApp): Promise<void> {
  const conversationId = await w.conversation()
  const ended = await deadResponse(w, conversationId, { complete: true })
  t.equal(usageOf(await eventsOf(w, conversationId), ended).length, 0, 'ended, and not charged: its node died in between')
  await sleep(ABANDONED_AFTER_MS + 100)
  w.fake.enqueue({ text: ['Next.'], usage: { prompt_tokens: 20, completion_tokens: 2 } })
  const answered = await w.send(conversationId, 'next question')
  t.equal(answered.status, 200)
  await readEvents(answered)
  const events = await eventsOf(w, conversationId)
  const charged = usageOf(events, ended)
  t.equal(charged.length, 1, 'charged once, by the next message')
  t.match(charged[0], { source: 'estimate' })
  t.notOk(events.some((event) => event.type === 'ai.response.aborted'), 'an ended response is not aborted')
}
