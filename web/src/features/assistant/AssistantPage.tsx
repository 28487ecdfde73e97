/**
 * The assistant: the caller's own conversations in this organization, a new
 * one, and the open one (its id in the address, so a reload reopens it and
 * picks up a response still streaming).
 */
import './jitless.ts'
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { Link, useParams, useSearchParams } from 'react-router'
import { Empty, ErrorText, Loading } from '../../lib/components.tsx'
import { conversationsKey, startConversation, useConversation, useConversations, type ConversationSummary } from './api.ts'
import { ChatPanel } from './ChatPanel.tsx'

export function AssistantPage () {
  const { orgId = '' } = useParams()
  const [params, setParams] = useSearchParams()
  const open = params.get('conversation') ?? undefined
  const queryClient = useQueryClient()
  const conversations = useConversations(orgId)
  const start = useMutation({
    mutationFn: () => startConversation(orgId),
    onSuccess: async ({ conversationId }) => {
      setParams({ conversation: conversationId })
      await queryClient.invalidateQueries({ queryKey: conversationsKey(orgId), exact: true })
    }
  })
  return (
    <section aria-labelledby="assistant-title" className="assistant">
      <h1 id="assistant-title">Assistant</h1>
      <div className="assistant-layout">
        <nav aria-labelledby="conversations-title" className="conversations">
          <h2 id="conversations-title">Your conversations</h2>
          <button type="button" onClick={() => start.mutate()} disabled={start.isPending}>New conversation</button>
          <ErrorText error={start.error} />
          {conversations.isPending && <Loading what="your conversations" />}
          <ErrorText error={conversations.error} />
          {conversations.data?.items.length === 0 && <Empty>No conversations yet.</Empty>}
          <ul>{conversations.data?.items.map((summary) => (
            <li key={summary.conversationId}><ConversationLink summary={summary} current={summary.conversationId === open} /></li>
          ))}</ul>
        </nav>
        {open === undefined
          ? <p className="muted">Start a new conversation, or open one of yours.</p>
          : <OpenConversation key={open} orgId={orgId} conversationId={open} />}
      </div>
    </section>
  )
}

function ConversationLink ({ summary, current }: { summary: ConversationSummary, current: boolean }) {
  const count = `${summary.messages} message${summary.messages === 1 ? '' : 's'}`
  return (
    <Link to={`?conversation=${encodeURIComponent(summary.conversationId)}`} aria-current={current ? 'page' : undefined}>
      <time dateTime={summary.createdAt}>{new Date(summary.createdAt).toLocaleString()}</time>
      <span className="muted"> · {count}</span>
    </Link>
  )
}

function OpenConversation ({ orgId, conversationId }: { orgId: string, conversationId: string }) {
  const conversation = useConversation(orgId, conversationId)
  if (conversation.isPending) return <Loading what="the conversation" />
  if (conversation.data === undefined) return <ErrorText error={conversation.error} />
  return <ChatPanel orgId={orgId} conversation={conversation.data} />
}
