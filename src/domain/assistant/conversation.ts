/**
 * The conversation aggregate (`conversation-<conversationId>`): one member's
 * exchange with the model, in one organization.
 *
 * Invariants (conversation.test.ts): one response streams at a time; a
 * response's events are numbered 0 (started), 1, 2, … (chunks), then one
 * terminal event (completed, aborted or failed), each exactly once; a stop
 * is asked at most once per response; a response's usage is recorded
 * exactly once, after it ended; a response with no message continues only
 * a response that ended waiting for tool approvals.
 */
import type { Decider } from '../decider.ts'
import { handlerOf } from '../dispatch.ts'
import {
  ConversationExists, ConversationNotFound, NoActiveResponse, NothingToContinue, ResponseInProgress, ResponseNotEnded,
  ResponseSequenceBroken, UsageAlreadyRecorded
} from './errors.ts'
import type { AbortReason, ConversationEvent, FinishReason, UiPart, UsageRecorded } from './events.ts'

type Of<Type extends ConversationEvent['type']> = Extract<ConversationEvent, { type: Type }>['data']

/** The response streaming now: the next sequence number it writes, and whether someone asked it to stop. */
export interface ActiveResponse { readonly responseId: string, readonly nextSeq: number, readonly stopRequested: boolean }

export type ConversationState =
  | { status: 'none' }
  | {
    status: 'open'
    conversation: Of<'ai.conversation.started'>
    active: ActiveResponse | null
    /** Tool calls the last response ended waiting for (its finish reason `awaiting_approval`). */
    pendingCallIds: readonly string[]
    /** Every response: whether its usage is recorded. */
    charged: Readonly<Record<string, boolean>>
  }

export type ConversationCommand =
  | { type: 'StartConversation', data: Of<'ai.conversation.started'> }
  | { type: 'Ask', data: { message: { messageId: string, text: string } | null, responseId: string, model: string, node: string } }
  | { type: 'AppendParts', data: { responseId: string, seq: number, parts: UiPart[] } }
  | { type: 'CompleteResponse', data: { responseId: string, finishReason: FinishReason, steps: number, pendingCallIds: string[] } }
  | { type: 'AbortResponse', data: { responseId: string, reason: AbortReason, by?: string } }
  | { type: 'FailResponse', data: { responseId: string, code: string, message: string } }
  | { type: 'RequestStop', data: { by: string } }
  | { type: 'RecordUsage', data: UsageRecorded }

type Open = Extract<ConversationState, { status: 'open' }>
type CommandOf<T extends ConversationCommand['type']> = Extract<ConversationCommand, { type: T }>

function open (state: ConversationState): Open {
  if (state.status === 'none') throw new ConversationNotFound()
  return state
}

function active (state: ConversationState, responseId: string): ActiveResponse {
  const { active } = open(state)
  if (active === null || active.responseId !== responseId) throw new NoActiveResponse(undefined, { responseId })
  return active
}

function ask ({ data }: CommandOf<'Ask'>, state: ConversationState): ConversationEvent[] {
  const s = open(state)
  if (s.active !== null) throw new ResponseInProgress(undefined, { responseId: s.active.responseId })
  if (data.message === null && s.pendingCallIds.length === 0) throw new NothingToContinue()
  const started: ConversationEvent = {
    type: 'ai.response.started',
    data: { responseId: data.responseId, messageId: data.message?.messageId ?? null, model: data.model, node: data.node }
  }
  if (data.message === null) return [started]
  const { messageId, text } = data.message
  return [{ type: 'ai.message.added', data: { messageId, text, chars: text.length } }, started]
}

function append ({ data }: CommandOf<'AppendParts'>, state: ConversationState): ConversationEvent[] {
  const { nextSeq } = active(state, data.responseId)
  if (data.seq !== nextSeq) throw new ResponseSequenceBroken(undefined, { expected: nextSeq, seq: data.seq })
  return [{ type: 'ai.response.chunk', data }]
}

function recordUsage ({ data }: CommandOf<'RecordUsage'>, state: ConversationState): ConversationEvent[] {
  const s = open(state)
  const charged = Object.hasOwn(s.charged, data.responseId) ? s.charged[data.responseId] : undefined
  if (charged === undefined) throw new NoActiveResponse('no such response in this conversation', { responseId: data.responseId })
  if (charged) throw new UsageAlreadyRecorded()
  if (s.active?.responseId === data.responseId) throw new ResponseNotEnded()
  return [{ type: 'ai.usage.recorded', data }]
}

const DECIDE: { [T in ConversationCommand['type']]: (command: CommandOf<T>, state: ConversationState) => ConversationEvent[] } = {
  StartConversation: ({ data }, state) => {
    if (state.status !== 'none') throw new ConversationExists()
    return [{ type: 'ai.conversation.started', data }]
  },
  Ask: ask,
  AppendParts: append,
  CompleteResponse: ({ data }, state) => {
    const seq = active(state, data.responseId).nextSeq
    return [{ type: 'ai.response.completed', data: { ...data, seq } }]
  },
  AbortResponse: ({ data }, state) => [{ type: 'ai.response.aborted', data: { ...data, seq: active(state, data.responseId).nextSeq } }],
  FailResponse: ({ data }, state) => [{ type: 'ai.response.failed', data: { ...data, seq: active(state, data.responseId).nextSeq } }],
  RequestStop: ({ data }, state) => {
    const s = open(state)
    if (s.active === null) throw new NoActiveResponse()
    if (s.active.stopRequested) return []
    return [{ type: 'ai.response.stop_requested', data: { responseId: s.active.responseId, by: data.by } }]
  },
  RecordUsage: recordUsage
}

function decide (command: ConversationCommand, state: ConversationState): ConversationEvent[] {
  type Handler = (command: ConversationCommand, state: ConversationState) => ConversationEvent[]
  const handler = handlerOf(DECIDE as unknown as Record<string, Handler>, command.type)
  if (handler === undefined) throw new Error(`unknown conversation command ${(command as { type: string }).type}`)
  return handler(command, state)
}

function ended (s: Open, pendingCallIds: readonly string[] = []): ConversationState {
  return { ...s, active: null, pendingCallIds }
}

function evolve (state: ConversationState, event: ConversationEvent): ConversationState {
  if (event.type === 'ai.conversation.started') {
    return { status: 'open', conversation: event.data, active: null, pendingCallIds: [], charged: {} }
  }
  if (state.status === 'none') return state
  switch (event.type) {
    case 'ai.message.added': return state
    case 'ai.response.started':
      return {
        ...state,
        active: { responseId: event.data.responseId, nextSeq: 1, stopRequested: false },
        charged: { ...state.charged, [event.data.responseId]: false }
      }
    case 'ai.response.chunk': return state.active === null ? state : { ...state, active: { ...state.active, nextSeq: event.data.seq + 1 } }
    case 'ai.response.stop_requested': return state.active === null ? state : { ...state, active: { ...state.active, stopRequested: true } }
    case 'ai.response.completed': return ended(state, event.data.finishReason === 'awaiting_approval' ? event.data.pendingCallIds : [])
    case 'ai.response.aborted':
    case 'ai.response.failed': return ended(state)
    case 'ai.usage.recorded': return { ...state, charged: { ...state.charged, [event.data.responseId]: true } }
    default: {
      const unknown: never = event
      return unknown
    }
  }
}

export const conversationDecider: Decider<ConversationCommand, ConversationEvent, ConversationState> = {
  decide: (command, state) => decide(command, state),
  evolve,
  initialState: () => ({ status: 'none' })
}
