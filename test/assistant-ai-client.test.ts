/**
 * The assistant read by the real `ai` 6 client, the engine under React's `useChat`: `AbstractChat` (with a plain
 * in-memory state where React keeps its own) and `DefaultChatTransport`, pointed at Ledgerline's conversation routes
 * and nothing else changed but the request body's mapping. The model (the fake OpenAI upstream, through the real
 * `openai` SDK in the server) calls a tool and then answers: the client shows the tool part with its input and
 * output, the text, and the finish. A second client resuming the same conversation (`resumeStream`, the transport's
 * default URL `…/conversations/<id>/stream`) while the first reads sees the same answer, and a stop ends both. A
 * destructive tool shows as waiting for approval (the protocol's `tool-approval-request`, which the client's schema
 * accepts), and once the caller approves the call, `sendMessage()` with nothing continues the conversation.
 * Runs on PGlite and PostgreSQL over a listening server: the client reads real SSE.
 */
import type { AddressInfo } from 'node:net'
import {
  AbstractChat, DefaultChatTransport, getToolName, isToolOrDynamicToolUIPart, type ChatState, type ChatStatus, type UIMessage
} from 'ai'
import t, { type Test } from 'tap'
import { addMember, registerUser } from '../src/application/identity/commands.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { settled } from './helpers/assertions.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { openTestApp, type TestApp } from './helpers/app.ts'
import { startFakeOpenAI, type FakeOpenAI } from './helpers/fake-openai.ts'

/** useChat's state, without React: the messages and status as plain fields. */
class PlainState implements ChatState<UIMessage> {
  status: ChatStatus = 'ready'
  error: Error | undefined = undefined
  messages: UIMessage[] = []
  pushMessage = (message: UIMessage): void => { this.messages = [...this.messages, message] }
  popMessage = (): void => { this.messages = this.messages.slice(0, -1) }
  replaceMessage = (index: number, message: UIMessage): void => {
    this.messages = [...this.messages.slice(0, index), message, ...this.messages.slice(index + 1)]
  }

  snapshot = <T>(thing: T): T => structuredClone(thing)
}

class Chat extends AbstractChat<UIMessage> {
  constructor (init: ConstructorParameters<typeof AbstractChat<UIMessage>>[0]) {
    super(init)
  }
}

interface World { api: TestApp, fake: FakeOpenAI, base: string, conversations: string, headers: Record<string, string> }

async function open (t: Test, sql: Parameters<typeof openTestApp>[1]): Promise<World> {
  const fake = await startFakeOpenAI()
  t.teardown(() => fake.close())
  const api = await openTestApp(t, sql, { OPENAI_BASE_URL: fake.baseURL, OPENAI_API_KEY: 'test-key', AI_MODEL: 'gpt-test' })
  await api.app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`
  return {
    api, fake, base,
    conversations: `${base}/v1/orgs/${api.owner.orgId}/assistant/conversations`,
    headers: { authorization: `Bearer ${api.owner.token}` }
  }
}

async function newConversation (w: World): Promise<string> {
  const created = await w.api.call('POST', `/v1/orgs/${w.api.owner.orgId}/assistant/conversations`)
  if (created.statusCode !== 201) throw new Error(`creating a conversation answered ${created.statusCode}: ${created.body}`)
  return created.json<{ conversationId: string }>().conversationId
}

/** A chat as useChat builds one: its id the conversation's, the messages route for sending, the default route for resuming. */
function chatOn (w: World, conversationId: string, seen: { headers: Headers[], finishes: Array<{ isAbort: boolean, isError: boolean }> }) {
  return new Chat({
    id: conversationId,
    state: new PlainState(),
    transport: new DefaultChatTransport({
      api: w.conversations,
      headers: w.headers,
      prepareSendMessagesRequest: ({ api, id, messages, trigger, messageId }) =>
        ({ api: `${api}/${id}/messages`, body: { id, messages, trigger, messageId } }),
      fetch: async (input, init) => {
        const response = await fetch(input, init)
        seen.headers.push(response.headers)
        return response
      }
    }),
    onFinish: ({ isAbort, isError }) => { seen.finishes.push({ isAbort, isError }) }
  })
}

async function until (check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const textOf = (message: UIMessage | undefined): string =>
  (message?.parts ?? []).map((part) => (part.type === 'text' ? part.text : '')).join('')

t.test('the ai client streams a conversation whose model calls a tool and then answers', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await open(t, sql)
    const conversationId = await newConversation(w)
    w.fake.enqueue(
      {
        toolCalls: [{ id: 'call_org', name: 'org__get', arguments: '{}', pieces: 2 }],
        usage: { prompt_tokens: 120, completion_tokens: 9 }
      },
      { text: ['Your organization ', 'is ', 'Org A.'], usage: { prompt_tokens: 180, completion_tokens: 6 } }
    )
    const seen = { headers: [] as Headers[], finishes: [] as Array<{ isAbort: boolean, isError: boolean }> }
    const chat = chatOn(w, conversationId, seen)
    await chat.sendMessage({ text: 'Which organization is this?' })

    t.equal(chat.status, 'ready', chat.error?.message ?? 'the chat ends ready, without an error')
    t.equal(seen.headers[0]?.get('x-vercel-ai-ui-message-stream'), 'v1')
    t.match(seen.headers[0]?.get('content-type'), /^text\/event-stream/)
    t.same(chat.messages.map((message) => message.role), ['user', 'assistant'])
    const answer = chat.messages[1]
    const tools = (answer?.parts ?? []).filter(isToolOrDynamicToolUIPart)
    t.equal(tools.length, 1, 'one tool part')
    const tool = tools[0]!
    t.equal(getToolName(tool), 'org.get')
    t.equal(tool.toolCallId, 'call_org')
    t.equal(tool.state, 'output-available')
    t.same(tool.input, {})
    t.match(tool.state === 'output-available' ? tool.output : undefined, { orgId: w.api.owner.orgId, name: 'Org A' })
    t.equal(textOf(answer), 'Your organization is Org A.')
    const order = (answer?.parts ?? []).map((part) => part.type === 'text' ? 'text' : isToolOrDynamicToolUIPart(part) ? 'tool' : part.type)
    t.ok(order.indexOf('tool') < order.indexOf('text'), `the tool part comes before the text (${order.join(', ')})`)
    t.same(seen.finishes, [{ isAbort: false, isError: false }], 'onFinish once, neither aborted nor failed')

    t.equal(w.fake.requests.length, 2, 'two model requests: the tool call, then the answer')
    const second = w.fake.requests[1]?.body as { messages: Array<{ role: string, tool_call_id?: string, content?: unknown }> }
    const toolResult = second.messages.find((message) => message.role === 'tool')
    t.equal(toolResult?.tool_call_id, 'call_org', 'the tool\'s result went back to the model under its call id')
    t.match(String(toolResult?.content), /Org A/)
  })
})

t.test('a second ai client resuming the conversation reads the same answer live, and a stop ends both', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await open(t, sql)
    const conversationId = await newConversation(w)
    w.fake.enqueue({ text: ['One, ', 'two, ', 'three, ', 'never'], stallAfterChunks: 3 })
    const first = { headers: [] as Headers[], finishes: [] as Array<{ isAbort: boolean, isError: boolean }> }
    const second = { headers: [] as Headers[], finishes: [] as Array<{ isAbort: boolean, isError: boolean }> }
    const asking = chatOn(w, conversationId, first)
    const sending = asking.sendMessage({ text: 'Count.' })
    await until(() => textOf(asking.lastMessage) === 'One, two, three, ', 'the first client has the three chunks')

    const resuming = chatOn(w, conversationId, second)
    const resumed = resuming.resumeStream()
    await until(() => textOf(resuming.lastMessage) === 'One, two, three, ', 'the resuming client has the three chunks')
    const stop = await w.api.call('POST', `/v1/orgs/${w.api.owner.orgId}/assistant/conversations/${conversationId}/stop`)
    t.equal(stop.statusCode, 202)
    await Promise.all([sending, resumed])

    t.equal(second.headers[0]?.get('x-vercel-ai-ui-message-stream'), 'v1', 'the resumed stream speaks the same protocol')
    t.equal(resuming.lastMessage?.role, 'assistant')
    t.equal(resuming.lastMessage?.id, asking.lastMessage?.id, 'the same message, by the id its start part gave')
    t.equal(textOf(resuming.lastMessage), textOf(asking.lastMessage))
    t.equal(asking.status, 'ready', asking.error?.message ?? 'the asking client ends ready')
    t.equal(resuming.status, 'ready', resuming.error?.message ?? 'the resuming client ends ready')
    await w.fake.until((requests) => requests[0]?.aborted === true)
    t.equal(w.fake.requests[0]?.aborted, true, 'the stop aborted the upstream request')
  })
})

t.test('the ai client shows a destructive tool waiting for approval, and continues once the caller approves it', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await open(t, sql)
    const { orgId } = w.api.owner
    const asOwner = { ...systemCommand('ai-client-test'), actor: { type: 'user' as const, id: w.api.owner.userId }, orgId }
    const bob = await registerUser(w.api.runtime.identity, systemCommand('ai-client-test'), { email: 'bob@a.example', displayName: 'Bob' })
    await addMember(w.api.runtime.identity, asOwner, orgId, { userId: bob.userId, roles: ['member'] })
    const conversationId = await newConversation(w)
    w.fake.enqueue({ toolCalls: [{ id: 'call_remove', name: 'members__remove', arguments: JSON.stringify({ userId: bob.userId }) }] })
    const seen = { headers: [] as Headers[], finishes: [] as Array<{ isAbort: boolean, isError: boolean }> }
    const chat = chatOn(w, conversationId, seen)
    await chat.sendMessage({ text: 'Remove Bob.' })

    t.equal(chat.status, 'ready', chat.error?.message ?? 'the chat ends ready')
    const waiting = (chat.lastMessage?.parts ?? []).filter(isToolOrDynamicToolUIPart)
    t.equal(waiting.length, 1)
    const tool = waiting[0]!
    t.equal(getToolName(tool), 'members.remove')
    t.equal(tool.state, 'approval-requested')
    t.same(tool.input, { userId: bob.userId })
    const approvalId = tool.state === 'approval-requested' ? tool.approval.id : ''
    t.ok(approvalId !== '', 'the part carries the approval\'s id')
    t.equal(w.fake.requests.length, 1, 'nothing more asked of the model while the call waits')

    const approved = await w.api.call('POST', `/v1/orgs/${orgId}/tool-calls/${approvalId}/approve`)
    t.equal(approved.statusCode, 200, approved.body)
    w.fake.enqueue({ text: ['Bob ', 'is removed.'] })
    await chat.sendMessage()

    t.equal(chat.status, 'ready', chat.error?.message ?? 'the continuation ends ready')
    const tools = chat.messages.flatMap((message) => message.parts.filter(isToolOrDynamicToolUIPart))
    t.equal(tools.at(-1)?.toolCallId, 'call_remove')
    t.equal(tools.at(-1)?.state, 'output-available', 'the call shows its outcome')
    t.equal(textOf(chat.lastMessage), 'Bob is removed.')
    t.equal(w.fake.requests.length, 2)
    await settled(w.api.runtime)
    const members = await w.api.call('GET', `/v1/orgs/${orgId}/members`)
    t.notMatch(members.body, bob.userId, 'Bob is no longer a member')
  })
})
