/** The conversation decider: one example per rule, then a property over random command sequences. */
import fc from 'fast-check'
import t from 'tap'
import { LedgerlineError } from '../errors.ts'
import { EventRegistry } from '../registry.ts'
import { spec } from '../testing.ts'
import { conversationDecider, type ConversationCommand, type ConversationState } from './conversation.ts'
import { conversationEvents, type ConversationEvent } from './events.ts'

const conversations = spec(conversationDecider)
const R1 = 'rsp_00000001'
const R2 = 'rsp_00000002'
const M1 = 'msg_00000001'
const startedData = { conversationId: 'cnv_00000001', orgId: 'org_a', ownerId: 'ada', model: 'gpt-test' }
const started: ConversationEvent = { type: 'ai.conversation.started', data: startedData }
const message: ConversationEvent = { type: 'ai.message.added', data: { messageId: M1, text: 'hello', chars: 5 } }
const responding = (responseId = R1, messageId: string | null = M1): ConversationEvent =>
  ({ type: 'ai.response.started', data: { responseId, messageId, model: 'gpt-test', node: 'n1' } })
const chunk = (seq: number, responseId = R1): ConversationEvent =>
  ({ type: 'ai.response.chunk', data: { responseId, seq, parts: [{ type: 'text-delta', id: 't', delta: 'hi' }] } })
const completed = (seq: number, pendingCallIds: string[] = []): ConversationEvent => ({
  type: 'ai.response.completed',
  data: { responseId: R1, seq, finishReason: pendingCallIds.length === 0 ? 'stop' : 'awaiting_approval', steps: 1, pendingCallIds }
})
const usage = (responseId = R1): Extract<ConversationCommand, { type: 'RecordUsage' }>['data'] => ({
  responseId, conversationId: 'cnv_00000001', orgId: 'org_a', userId: 'ada', model: 'gpt-test', inputTokens: 10, outputTokens: 2,
  cachedInputTokens: 0, source: 'estimate', costMicros: 3, currency: 'USD'
})
type Message = { messageId: string, text: string } | null
const ask = (message: Message = { messageId: M1, text: 'hello' }, responseId = R1): ConversationCommand =>
  ({ type: 'Ask', data: { message, responseId, model: 'gpt-test', node: 'n1' } })
const parts = (seq: number, responseId = R1): ConversationCommand =>
  ({ type: 'AppendParts', data: { responseId, seq, parts: [{ type: 'text-delta', id: 't', delta: 'hi' }] } })
const streaming = [started, message, responding()]

t.test('a conversation starts once; nothing happens in one never started', async (t) => {
  conversations.given([]).when({ type: 'StartConversation', data: startedData }).then(t, [started])
  conversations.given([started]).when({ type: 'StartConversation', data: startedData }).thenThrows(t, 'ai.conversation_exists')
  conversations.given([]).when(ask()).thenThrows(t, 'ai.conversation_not_found')
})

t.test('a message starts a response, and no second one starts while it streams', async (t) => {
  conversations.given([started]).when(ask()).then(t, [message, responding()])
  conversations.given(streaming).when(ask({ messageId: 'msg_00000002', text: 'again' }, R2)).thenThrows(t, 'ai.response_in_progress')
  conversations.given([started]).when(ask(null)).thenThrows(t, 'ai.nothing_to_continue', 'no message and nothing to continue')
})

t.test('a response\'s parts are numbered from 1 in order, and its end takes the next number', async (t) => {
  conversations.given(streaming).when(parts(1)).then(t, [chunk(1)])
  conversations.given(streaming).when(parts(2)).thenThrows(t, 'ai.response_sequence')
  conversations.given([...streaming, chunk(1)]).when(parts(1)).thenThrows(t, 'ai.response_sequence', 'not twice')
  conversations.given([...streaming, chunk(1)])
    .when({ type: 'CompleteResponse', data: { responseId: R1, finishReason: 'stop', steps: 1, pendingCallIds: [] } })
    .then(t, [completed(2)])
  conversations.given([...streaming, chunk(1), completed(2)]).when(parts(3)).thenThrows(t, 'ai.no_active_response', 'an ended response')
  conversations.given([...streaming, chunk(1), completed(2)])
    .when({ type: 'AbortResponse', data: { responseId: R1, reason: 'stopped' } }).thenThrows(t, 'ai.no_active_response', 'ends once')
  conversations.given(streaming).when({ type: 'FailResponse', data: { responseId: R1, code: 'ai.upstream_error', message: 'boom' } })
    .then(t, [{ type: 'ai.response.failed', data: { responseId: R1, code: 'ai.upstream_error', message: 'boom', seq: 1 } }])
})

t.test('a stop is asked once per streaming response', async (t) => {
  const stop: ConversationCommand = { type: 'RequestStop', data: { by: 'ada' } }
  const asked: ConversationEvent = { type: 'ai.response.stop_requested', data: { responseId: R1, by: 'ada' } }
  conversations.given(streaming).when(stop).then(t, [asked])
  conversations.given([...streaming, asked]).when(stop).then(t, [], 'a second stop changes nothing')
  conversations.given([started]).when(stop).thenThrows(t, 'ai.no_active_response')
})

t.test('usage is recorded exactly once per response, after it ended', async (t) => {
  const record: ConversationCommand = { type: 'RecordUsage', data: usage() }
  conversations.given(streaming).when(record).thenThrows(t, 'ai.response_not_ended')
  conversations.given([...streaming, completed(1)]).when(record).then(t, [{ type: 'ai.usage.recorded', data: usage() }])
  conversations.given([...streaming, completed(1), { type: 'ai.usage.recorded', data: usage() }]).when(record)
    .thenThrows(t, 'ai.usage_recorded')
  conversations.given([started]).when({ type: 'RecordUsage', data: usage(R2) }).thenThrows(t, 'ai.no_active_response')
})

t.test('a response with no message continues one that ended waiting for approvals', async (t) => {
  conversations.given([...streaming, completed(1, ['call-1'])]).when(ask(null, R2)).then(t, [responding(R2, null)])
  conversations.given([...streaming, completed(1)]).when(ask(null, R2)).thenThrows(t, 'ai.nothing_to_continue')
})

t.test('the decider\'s events are valid for the registry', async (t) => {
  const registry = new EventRegistry(conversationEvents)
  for (const event of [started, message, responding(), chunk(1), completed(2, ['call-1']), { type: 'ai.usage.recorded', data: usage() }]) {
    t.doesNotThrow(() => registry.validate(event.type, event.data), event.type)
  }
})

// ── property ────────────────────────────────────────────────────────────────

const command: fc.Arbitrary<ConversationCommand> = fc.oneof(
  fc.constantFrom(R1, R2).map((responseId) => ask({ messageId: M1, text: 'x' }, responseId)),
  fc.constantFrom(R1, R2).map((responseId) => ask(null, responseId)),
  fc.tuple(fc.constantFrom(R1, R2), fc.integer({ min: 0, max: 4 })).map(([responseId, seq]) => parts(seq, responseId)),
  fc.constantFrom(R1, R2).map((responseId): ConversationCommand => ({
    type: 'CompleteResponse', data: { responseId, finishReason: 'awaiting_approval', steps: 1, pendingCallIds: ['c'] }
  })),
  fc.constantFrom(R1, R2).map((responseId): ConversationCommand => ({ type: 'AbortResponse', data: { responseId, reason: 'stopped' } })),
  fc.constant<ConversationCommand>({ type: 'RequestStop', data: { by: 'ada' } }),
  fc.constantFrom(R1, R2).map((responseId): ConversationCommand => ({ type: 'RecordUsage', data: usage(responseId) }))
)

t.test('over any command sequence: each response has one start, numbered parts, at most one end and at most one usage', async (t) => {
  fc.assert(fc.property(fc.array(command, { maxLength: 40 }), (commands) => {
    let state: ConversationState = conversationDecider.evolve(conversationDecider.initialState(), started)
    const history: ConversationEvent[] = []
    for (const next of commands) {
      try {
        const events = conversationDecider.decide(next, state, { now: new Date(), actor: { type: 'user', id: 'ada' } })
        for (const event of events) state = conversationDecider.evolve(state, event)
        history.push(...events)
      } catch (error) {
        if (!(error instanceof LedgerlineError)) throw error
      }
    }
    const count = (type: string, responseId: string) =>
      history.filter((e) => e.type === type && (e.data as { responseId?: string }).responseId === responseId).length
    for (const responseId of [R1, R2]) {
      const ends = ['ai.response.completed', 'ai.response.aborted', 'ai.response.failed']
        .reduce((n, type) => n + count(type, responseId), 0)
      const starts = count('ai.response.started', responseId)
      // A response id used again starts a new response in this property; its parts restart at 1.
      if (ends > starts || count('ai.usage.recorded', responseId) > starts) return false
    }
    let open = false
    let expected = 1
    for (const event of history) {
      if (event.type === 'ai.response.started') { if (open) return false; open = true; expected = 1 }
      if (event.type === 'ai.response.chunk') { if (!open || event.data.seq !== expected) return false; expected++ }
      if (['ai.response.completed', 'ai.response.aborted', 'ai.response.failed'].includes(event.type)) {
        if (!open || (event.data as { seq: number }).seq !== expected) return false
        open = false
      }
    }
    return true
  }), { numRuns: 300 })
  t.pass('held over 300 random sequences')
})
