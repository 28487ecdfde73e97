/**
 * A conversation as read (GET …/conversations/:id) turned into useChat's
 * messages: each user message, and each response with its tool calls (their
 * stored parts folded into one part per call, in the state the last one left
 * it) and its text. A response that continues after approvals joins the turn
 * it continues, as it does live (transport.ts). The response streaming now is
 * left out: the page resumes it whole.
 */
import type { DynamicToolUIPart, UIMessage } from 'ai'
import type { Conversation, StoredToolPart } from './api.ts'

/** What the page shows under a response once it has ended: its stored status. */
export interface ResponseMeta { status: string }
export type ChatMessage = UIMessage<ResponseMeta>
type ToolPart = DynamicToolUIPart

export function messagesOf (conversation: Conversation): ChatMessage[] {
  const messages: ChatMessage[] = []
  // Only the last response can still wait for approvals: a later one is their continuation (or none was possible).
  const last = conversation.items.findLast((item) => item.role === 'assistant')
  for (const item of conversation.items) {
    if (item.role === 'user') {
      messages.push({ id: item.messageId, role: 'user', parts: [{ type: 'text', text: item.text }] })
      continue
    }
    if (item.responseId === conversation.streaming) continue
    const previous = messages.at(-1)
    const turn: ChatMessage = previous?.role === 'assistant' ? previous : { id: item.responseId, role: 'assistant', parts: [] }
    if (turn !== previous) messages.push(turn)
    turn.metadata = { status: item.status }
    const text = turn.parts.filter((part) => part.type === 'text')
    const calls = foldTools(item.tools, turn.parts as ToolPart[], item === last)
    turn.parts = [...turn.parts.filter((part) => part.type !== 'text'), ...calls, ...text]
    if (item.text !== '') turn.parts.push({ type: 'text', text: item.text, state: 'done' })
  }
  return messages
}

/** The tool parts of a response, as new calls, or as later states of calls the turn already shows (which are updated in place). */
function foldTools (stored: readonly StoredToolPart[], shown: ToolPart[], waiting: boolean): ToolPart[] {
  const added: ToolPart[] = []
  const find = (id: unknown) => [...shown, ...added].find((part) => part.type === 'dynamic-tool' && part.toolCallId === id)
  for (const part of stored) {
    if (part.type === 'tool-input-available') {
      added.push({ type: 'dynamic-tool', toolCallId: String(part.toolCallId), toolName: String(part.toolName), state: 'input-available',
        input: part.input })
      continue
    }
    const call = find(part.toolCallId)
    if (call !== undefined) Object.assign(call, later(part, call, waiting))
  }
  return added
}

function later (part: StoredToolPart, call: ToolPart, waiting: boolean): Partial<ToolPart> {
  switch (part.type) {
    case 'tool-approval-request':
      // Decided when a response followed; whether it was approved shows in the outcome that response starts with.
      return (waiting
        ? { state: 'approval-requested', approval: { id: String(part.approvalId) } }
        : { state: 'approval-responded', approval: { id: String(part.approvalId), approved: true } }) as Partial<ToolPart>
    case 'tool-output-available': return { state: 'output-available', output: part.output } as Partial<ToolPart>
    case 'tool-output-error': return { state: 'output-error', errorText: String(part.errorText) } as Partial<ToolPart>
    case 'tool-output-denied':
      return { state: 'output-denied', approval: { id: call.approval?.id ?? '', approved: false } } as Partial<ToolPart>
    default: return {}
  }
}
