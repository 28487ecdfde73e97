/**
 * One conversation as useChat runs it: the messages read when it opened, a
 * response streaming in part by part, Stop while it streams, and tool calls
 * waiting for approval. A response still streaming when the page opened
 * (another tab sent it, or this one before a reload) is resumed whole. After
 * each stream the conversation is read again, so what the page shows at rest
 * is what the API stored (a stopped response says so).
 */
import { Chat, useChat } from '@ai-sdk/react'
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { isToolUIPart } from 'ai'
import { useEffect, useState, type FormEvent } from 'react'
import { ErrorText } from '../../lib/components.tsx'
import { conversationsKey, decideToolCall, readConversation, stopResponse, type Conversation } from './api.ts'
import { MessageView } from './MessageView.tsx'
import { messagesOf, type ChatMessage } from './messages.ts'
import { ConversationTransport } from './transport.ts'

export interface Decision { approvalId: string, approved: boolean }

const waitsForApproval = (messages: readonly ChatMessage[]): boolean =>
  messages.some((message) => message.parts.some((part) => isToolUIPart(part) && part.state === 'approval-requested'))

export function ChatPanel ({ orgId, conversation }: { orgId: string, conversation: Conversation }) {
  const { conversationId } = conversation
  const queryClient = useQueryClient()
  const [chat] = useState(() => new Chat<ChatMessage>({
    id: conversationId, messages: messagesOf(conversation), transport: new ConversationTransport(orgId, conversationId)
  }))
  const { messages, status, error } = useChat({ chat })
  const [draft, setDraft] = useState('')
  const [failure, setFailure] = useState<unknown>()
  const streaming = status === 'submitted' || status === 'streaming'

  /** Waits for a stream to end (then `ended`), and shows the conversation as stored (unless another stream has started meanwhile). */
  async function settle (request: Promise<void>, ended = (): void => {}): Promise<void> {
    await request
    ended()
    try {
      const stored = await readConversation(orgId, conversationId)
      if (chat.status === 'ready' || chat.status === 'error') chat.messages = messagesOf(stored)
    } catch (problem) {
      setFailure(problem)
    }
    await queryClient.invalidateQueries({ queryKey: conversationsKey(orgId), exact: true })
  }

  useEffect(() => {
    // Once, as it opens: the page holds none of that response's parts, so it asks for all of them.
    if (conversation.streaming !== null) void settle(chat.resumeStream())
  }, [])

  const stop = useMutation({ mutationFn: () => stopResponse(orgId, conversationId) })
  const decide = useMutation({
    mutationFn: ({ approvalId, approved }: Decision) => decideToolCall(orgId, approvalId, approved ? 'approve' : 'deny'),
    onSuccess: async (_, { approvalId, approved }) => {
      await chat.addToolApprovalResponse({ id: approvalId, approved })
      // The conversation continues once every call its last response asked about is decided.
      if (!waitsForApproval(chat.messages)) void settle(chat.sendMessage())
    }
  })

  function send (event: FormEvent) {
    event.preventDefault()
    const text = draft.trim()
    if (text === '' || streaming) return
    setDraft('')
    setFailure(undefined)
    stop.reset()
    decide.reset()
    void settle(chat.sendMessage({ text }), () => {
      // Refused (a quota, no model): the message was not kept, so it leaves the list and goes back into the box.
      if (chat.status !== 'error') return
      if (chat.messages.at(-1)?.role === 'user') chat.messages = chat.messages.slice(0, -1)
      setDraft((current) => (current === '' ? text : current))
    })
  }

  return (
    <div className="chat-panel">
      <h2 className="sr-only">Conversation</h2>
      {messages.length === 0 && <p className="muted">Ask about this organization: its members, roles, audit log.</p>}
      <div role="log" aria-label="Messages">
        <ol className="chat">
          {messages.map((message, i) => (
            <MessageView key={message.id} message={message} live={streaming && i === messages.length - 1} decide={decide.mutate}
              deciding={decide.isPending} />
          ))}
        </ol>
      </div>
      <ErrorText error={error ?? failure ?? stop.error ?? decide.error} />
      <form className="composer" onSubmit={send}>
        <label htmlFor="assistant-message">Message</label>
        <textarea id="assistant-message" rows={3} value={draft} onChange={(event) => setDraft(event.target.value)}
          onKeyDown={(event) => { if (event.key === 'Enter' && !event.shiftKey) send(event) }} />
        <div className="actions">
          <button type="submit" disabled={streaming || draft.trim() === ''}>Send</button>
          {streaming && <button type="button" className="secondary" onClick={() => stop.mutate()} disabled={stop.isPending}>Stop</button>}
        </div>
      </form>
    </div>
  )
}
