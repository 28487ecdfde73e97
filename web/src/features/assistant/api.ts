/**
 * The assistant's routes (docs/assistant.md): the caller's conversations, one
 * read whole, a new one, stopping a response, and deciding a tool call that
 * waits for approval. The streams themselves go through transport.ts.
 */
import { useQuery } from '@tanstack/react-query'
import { api } from '../../lib/api.ts'

export interface ConversationSummary {
  conversationId: string, model: string, messages: number, responses: number, lastResponseId: string | null, lastStatus: string,
  createdAt: string, updatedAt: string
}

/** A stored part of a response, as the stream sent it (`tool-input-available`, `tool-approval-request`, `tool-output-*`). */
export type StoredToolPart = Record<string, unknown> & { type: string, toolCallId?: string }

export type ConversationItem =
  | { role: 'user', messageId: string, text: string, at: string }
  | { role: 'assistant', responseId: string, status: string, text: string, tools: StoredToolPart[], at: string }

export interface Conversation {
  conversationId: string
  model: string
  /** The response streaming now, if any. */
  streaming: string | null
  pendingCallIds: string[]
  items: ConversationItem[]
}

export const conversationsPath = (orgId: string) => `/v1/orgs/${encodeURIComponent(orgId)}/assistant/conversations`
export const conversationPath = (orgId: string, conversationId: string) =>
  `${conversationsPath(orgId)}/${encodeURIComponent(conversationId)}`

export const conversationsKey = (orgId: string) => ['orgs', orgId, 'assistant', 'conversations']
export const conversationKey = (orgId: string, conversationId: string) => [...conversationsKey(orgId), conversationId]

export function useConversations (orgId: string) {
  return useQuery({
    queryKey: conversationsKey(orgId),
    queryFn: () => api<{ items: ConversationSummary[], nextCursor: string | null }>('GET', `${conversationsPath(orgId)}?limit=50`)
  })
}

/** Read once each time it is opened: the chat then holds it, and reads it again after each response (ChatPanel.tsx). */
export function useConversation (orgId: string, conversationId: string) {
  return useQuery({
    queryKey: conversationKey(orgId, conversationId),
    queryFn: () => readConversation(orgId, conversationId),
    staleTime: Infinity,
    gcTime: 0
  })
}

export const readConversation = (orgId: string, conversationId: string) =>
  api<Conversation>('GET', conversationPath(orgId, conversationId))

export const startConversation = (orgId: string) =>
  api<{ conversationId: string }>('POST', conversationsPath(orgId))

export const stopResponse = (orgId: string, conversationId: string) =>
  api<{ responseId: string | null }>('POST', `${conversationPath(orgId, conversationId)}/stop`)

export const decideToolCall = (orgId: string, callId: string, decision: 'approve' | 'deny') =>
  api<unknown>('POST', `/v1/orgs/${encodeURIComponent(orgId)}/tool-calls/${encodeURIComponent(callId)}/${decision}`)
