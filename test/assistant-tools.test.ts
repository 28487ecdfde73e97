/**
 * The assistant's tools, on PGlite and PostgreSQL: the model is offered only
 * what the caller may use; its calls run through the tool pipeline as the
 * caller (recorded as theirs); a loop of two steps feeds a tool's output back;
 * a tool the caller may not use is denied and the model told so; a call that
 * needs approval ends the response waiting, and once its caller approved it
 * through the tool-call route, the conversation continues with its outcome.
 */
import t, { type Test } from 'tap'
import { conversationStreamId } from '../src/domain/assistant/events.ts'
import { toolCallStreamId } from '../src/domain/tools/call.ts'
import { conversationsUrl, readEvents, startAssistantApp, textOf, typesOf, type AssistantApp, type SseEvent } from './helpers/assistant.ts'
import { lastWritten, untilVisible } from './helpers/assertions.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { until } from './helpers/jobs-harness.ts'

type Part = Record<string, unknown> & { type: string }
const partsOf = (events: readonly SseEvent[]): Part[] => events.filter((e) => e.data !== '[DONE]').map((e) => e.data as Part)
const offered = (body: Record<string, unknown> | undefined): string[] =>
  ((body?.tools ?? []) as Array<{ function: { name: string } }>).map((tool) => tool.function.name).sort()

async function isMember (w: AssistantApp, userId: string): Promise<boolean> {
  await w.settled()
  const page = (await w.api.call('GET', `/v1/orgs/${w.orgId}/members?limit=200`)).json() as { items: Array<{ userId: string }> }
  return page.items.some((member) => member.userId === userId)
}

t.test('the assistant calls tools as its caller', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await startAssistantApp(t, sql)
    await w.settled()
    await t.test('a tool loop over two steps feeds the tool\'s output to the model', (t) => twoSteps(t, w))
    await t.test('a tool the caller may not use is denied, and the model gets the error', (t) => forbidden(t, w))
    await t.test('a call that needs approval pauses the response; approved, the conversation continues', (t) => approval(t, w))
    await t.test('a denied approval continues with the denial', (t) => denial(t, w))
  })
})

async function twoSteps (t: Test, w: AssistantApp): Promise<void> {
  w.fake.enqueue(
    { toolCalls: [{ id: 'call_org', name: 'org__get', arguments: '{}', pieces: 2 }], usage: { prompt_tokens: 50, completion_tokens: 5 } },
    { text: ['Your organization ', 'is Org A.'], usage: { prompt_tokens: 80, completion_tokens: 6 } })
  const before = w.fake.requests.length
  const conversationId = await w.conversation()
  const events = await readEvents(await w.send(conversationId, 'What is my organization called?'))
  const parts = partsOf(events)
  t.strictSame(typesOf(events), ['start', 'start-step', 'tool-input-start', 'tool-input-delta', 'tool-input-delta', 'tool-input-available',
    'tool-output-available', 'finish-step', 'start-step', 'text-start', 'text-delta', 'text-delta', 'text-end', 'finish-step', 'finish',
    '[DONE]'])
  t.match(parts.find((p) => p.type === 'tool-input-available'), { toolCallId: 'call_org', toolName: 'org.get', input: {} })
  t.match(parts.find((p) => p.type === 'tool-output-available'), { toolCallId: 'call_org', output: { orgId: w.orgId, name: 'Org A' } })
  t.equal(textOf(events), 'Your organization is Org A.')
  const [first, second] = w.fake.requests.slice(before)
  t.ok(offered(first?.body).includes('org__get') && !offered(first?.body).includes('members__remove'),
    `the member is offered their tools only: ${offered(first?.body).join(', ')}`)
  const messages = second?.body?.messages as Array<{ role: string, tool_call_id?: string, content?: string }>
  t.match(messages.at(-1), { role: 'tool', tool_call_id: 'call_org' })
  t.match(JSON.parse(messages.at(-1)!.content!), { name: 'Org A' }, 'the second step sees the output')
  // The usage record follows the response's end, which the client may read first.
  const stored = await until('the usage record', async () => {
    const events = await w.runtime.store.readStream(conversationStreamId(conversationId))
    return events.some((event) => event.type === 'ai.usage.recorded') ? events : undefined
  })
  t.match(stored.find((e) => e.type === 'ai.usage.recorded')?.data, { inputTokens: 130, outputTokens: 11, source: 'provider' },
    'usage is the sum of the steps')
  t.match(stored.find((e) => e.type === 'ai.response.completed')?.data, { finishReason: 'stop', steps: 2 })
}

async function forbidden (t: Test, w: AssistantApp): Promise<void> {
  w.fake.enqueue(
    { toolCalls: [{ id: 'call_rm', name: 'members__remove', arguments: JSON.stringify({ userId: w.viewer.userId }) }] },
    { text: ['I may not do that.'] })
  const before = w.fake.requests.length
  const conversationId = await w.conversation()
  const events = await readEvents(await w.send(conversationId, 'Remove the viewer'))
  const error = partsOf(events).find((p) => p.type === 'tool-output-error')
  t.match(error, { toolCallId: 'call_rm', errorText: /^tool\.forbidden/ }, 'the pipeline\'s denial, as a tool error')
  const second = w.fake.requests[before + 1]!.body!.messages as Array<{ role: string, content: string }>
  t.match(JSON.parse(second.at(-1)!.content), { error: /tool\.forbidden/ }, 'the model is told')
  // The log reads only below the oldest transaction open on the server (another test file's, say): wait until it shows everything.
  await untilVisible(w.runtime.store, await lastWritten(w.runtime.sql))
  const calls = (await w.runtime.store.readAll({ major: 0n, minor: 0n }, { types: ['ai.tool.call.denied'], limit: 10_000 })).events
  t.ok(calls.some((e) => e.metadata.actor.id === w.member.userId && (e.data as { reason: string }).reason === 'forbidden'),
    'the denial is recorded as the member\'s')
  t.ok(await isMember(w, w.viewer.userId), 'the viewer is still a member')
}

async function approval (t: Test, w: AssistantApp): Promise<void> {
  const leaver = await w.person('leaver', ['viewer'])
  w.fake.enqueue({ toolCalls: [{ id: 'call_leave', name: 'members__remove', arguments: JSON.stringify({ userId: leaver.userId }) }] })
  const conversationId = await w.conversation(w.owner)
  const paused = partsOf(await readEvents(await w.send(conversationId, 'Remove the leaver', w.owner)))
  const request = paused.find((p) => p.type === 'tool-approval-request')
  t.match(request, { toolCallId: 'call_leave', approvalId: /^[0-9a-f-]{36}$/ })
  t.match(paused.at(-1), { type: 'finish', finishReason: 'tool-calls' })
  const url = `${conversationsUrl(w.orgId)}/${conversationId}`
  t.match((await w.api.call('GET', url)).json(), { pendingCallIds: [request!.approvalId], streaming: null })
  const early = await w.send(conversationId, null, w.owner)
  t.equal(early.status, 409, 'no continuing before the approval')
  t.equal((await early.json() as { code: string }).code, 'ai.approval_pending')

  const approved = await w.api.call('POST', `/v1/orgs/${w.orgId}/tool-calls/${String(request!.approvalId)}/approve`)
  t.equal(approved.statusCode, 200, approved.body)
  w.fake.enqueue({ text: ['Removed.'] })
  const before = w.fake.requests.length
  const continued = await readEvents(await w.send(conversationId, null, w.owner))
  t.strictSame(typesOf(continued).slice(0, 3), ['start', 'tool-output-available', 'start-step'])
  t.equal(textOf(continued), 'Removed.')
  const messages = w.fake.requests[before]!.body!.messages as Array<{ role: string, tool_call_id?: string, tool_calls?: unknown[] }>
  t.match(messages.slice(-2), [{ role: 'assistant', tool_calls: [{ id: 'call_leave' }] }, { role: 'tool', tool_call_id: 'call_leave' }],
    'the model sees its call and its outcome')
  const call = await w.runtime.store.readStream(toolCallStreamId(String(request!.approvalId)))
  t.strictSame(call.map((e) => e.type).slice(-3), ['ai.tool.call.approved', 'ai.tool.call.started', 'ai.tool.call.succeeded'])
  t.notOk(await isMember(w, leaver.userId), 'the approved call ran')
}

async function denial (t: Test, w: AssistantApp): Promise<void> {
  const stayer = await w.person('stayer', ['viewer'])
  w.fake.enqueue({ toolCalls: [{ id: 'call_stay', name: 'members__remove', arguments: JSON.stringify({ userId: stayer.userId }) }] })
  const conversationId = await w.conversation(w.owner)
  const paused = partsOf(await readEvents(await w.send(conversationId, 'Remove the stayer', w.owner)))
  const callId = String(paused.find((p) => p.type === 'tool-approval-request')!.approvalId)
  t.equal((await w.api.call('POST', `/v1/orgs/${w.orgId}/tool-calls/${callId}/deny`)).statusCode, 200)
  w.fake.enqueue({ text: ['Left as is.'] })
  const continued = partsOf(await readEvents(await w.send(conversationId, null, w.owner)))
  t.match(continued[1], { type: 'tool-output-denied', toolCallId: 'call_stay' })
  t.ok(await isMember(w, stayer.userId), 'nothing ran')
}
