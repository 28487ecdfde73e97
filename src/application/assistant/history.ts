/**
 * What the model is told: the conversation so far, rebuilt from its events.
 * User messages as they were sent; each step of a response as an assistant
 * message (its text and tool calls); each tool's outcome as a tool message
 * right after the step that called it. A call left without an outcome (its
 * approval never came before the next message) is answered as such, since
 * the API refuses a tool call without a tool message.
 */
import type { ConversationEvent, UiPart } from '../../domain/assistant/events.ts'
import type { UpstreamMessage } from './upstream.ts'
import { toFunctionName } from './tool-format.ts'

interface Step { content: string, calls: Array<{ id: string, name: string, input: unknown }> }

/** `later`: calls whose outcomes the caller appends next (a continued response's), left unanswered here. */
export function historyOf (events: readonly ConversationEvent[], later: ReadonlySet<string> = new Set()): UpstreamMessage[] {
  const messages: UpstreamMessage[] = []
  let step: Step | undefined
  const close = (): void => {
    if (step !== undefined && (step.content !== '' || step.calls.length > 0)) messages.push(assistantOf(step))
    step = undefined
  }
  const onPart = (part: UiPart): void => {
    switch (part.type) {
      case 'start-step': close(); step = { content: '', calls: [] }; break
      case 'text-delta': (step ??= { content: '', calls: [] }).content += String(part.delta ?? ''); break
      case 'tool-input-available':
        (step ??= { content: '', calls: [] }).calls.push({ id: String(part.toolCallId), name: String(part.toolName), input: part.input })
        break
      case 'tool-output-available':
      case 'tool-output-error':
      case 'tool-output-denied':
        close()
        messages.push({ role: 'tool', tool_call_id: String(part.toolCallId), content: toolContent(part) })
        break
      default: break
    }
  }
  for (const event of events) {
    if (event.type === 'ai.message.added') {
      close()
      messages.push({ role: 'user', content: event.data.text })
    } else if (event.type === 'ai.response.chunk') {
      for (const part of event.data.parts) onPart(part)
    }
  }
  close()
  return answerEveryCall(messages, later)
}

function assistantOf (step: Step): UpstreamMessage {
  return {
    role: 'assistant',
    content: step.content === '' ? null : step.content,
    ...(step.calls.length === 0
      ? {}
      : {
          tool_calls: step.calls.map(({ id, name, input }) => ({
            id, type: 'function' as const, function: { name: toFunctionName(name), arguments: JSON.stringify(input ?? {}) }
          }))
        })
  }
}

/** What the model is told of a call's outcome. */
export function toolMessage (toolCallId: string, part: UiPart): UpstreamMessage {
  return { role: 'tool', tool_call_id: toolCallId, content: toolContent(part) }
}

export function toolContent (part: UiPart): string {
  if (part.type === 'tool-output-available') return JSON.stringify(part.output ?? null)
  if (part.type === 'tool-output-denied') {
    return JSON.stringify({ error: 'tool.approval_denied', message: 'the caller did not approve this call' })
  }
  return JSON.stringify({ error: String(part.errorText ?? 'the tool failed') })
}

/** Inserts a tool message for each call that has none, right after the calls of its step. */
function answerEveryCall (messages: UpstreamMessage[], later: ReadonlySet<string>): UpstreamMessage[] {
  const out: UpstreamMessage[] = []
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!
    out.push(message)
    if (message.role !== 'assistant' || message.tool_calls === undefined) continue
    const answered = new Set<string>()
    while (messages[i + 1]?.role === 'tool') {
      const tool = messages[++i] as Extract<UpstreamMessage, { role: 'tool' }>
      answered.add(tool.tool_call_id)
      out.push(tool)
    }
    for (const call of message.tool_calls) {
      if (answered.has(call.id) || later.has(call.id)) continue
      const content = JSON.stringify({ error: 'tool.no_outcome', message: 'no outcome was given' })
      out.push({ role: 'tool', tool_call_id: call.id, content })
    }
  }
  return out
}
