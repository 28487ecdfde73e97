/**
 * Conversations as their owner reads them: created, listed (the read model,
 * newest first, keyset pages) and read whole (from the event store, so a
 * conversation is readable the moment it was written). Anyone but the owner
 * is told it does not exist.
 */
import { z } from 'zod'
import { conversationDecider, type ConversationState } from '../../domain/assistant/conversation.ts'
import { ConversationNotFound } from '../../domain/assistant/errors.ts'
import { ConversationId, conversationStreamId, type ConversationEvent, type UiPart } from '../../domain/assistant/events.ts'
import { cursorCodec } from '../../domain/cursor.ts'
import { foldRecorded } from '../../domain/decider.ts'
import { pgTimestamp } from '../../domain/values.ts'
import type { EventStore } from '../../eventstore/types.ts'
import { conversationsPage, type ConversationSummary } from '../../projections/assistant/queries.ts'
import type { SqlExecutor } from '../../sql/client.ts'

/** The owner's conversations, newest first: the last one's creation time and id. */
export const conversationCursor = cursorCodec('ai-conversations.1',
  z.object({ createdAt: pgTimestamp, conversationId: ConversationId }).strict())

export const newConversationId = (): string => `cnv_${crypto.randomUUID().replaceAll('-', '')}`
export const newResponseId = (): string => `rsp_${crypto.randomUUID().replaceAll('-', '')}`
export const newMessageId = (): string => `msg_${crypto.randomUUID().replaceAll('-', '')}`

export type OpenConversation = Extract<ConversationState, { status: 'open' }>

/** The conversation's events and state, when `userId` owns it in `orgId`; else ConversationNotFound. */
export async function ownConversation (
  store: Pick<EventStore, 'readStream'>, orgId: string, userId: string, conversationId: string
): Promise<{ state: OpenConversation, events: ConversationEvent[], times: Date[] }> {
  if (!ConversationId.safeParse(conversationId).success) throw new ConversationNotFound()
  const found = await readConversation(store, conversationId)
  if (found === undefined || found.state.conversation.orgId !== orgId || found.state.conversation.ownerId !== userId) {
    throw new ConversationNotFound()
  }
  return found
}

/** The conversation as its stream stands, whoever owns it; undefined when it was never started. */
export async function readConversation (
  store: Pick<EventStore, 'readStream'>, conversationId: string
): Promise<{ state: OpenConversation, events: ConversationEvent[], times: Date[] } | undefined> {
  const recorded = await store.readStream(conversationStreamId(conversationId))
  const state = foldRecorded(conversationDecider, recorded)
  if (state.status !== 'open') return undefined
  const times = recorded.map((event) => new Date(event.metadata.occurredAt))
  return { state, events: recorded as unknown as ConversationEvent[], times }
}

export async function listConversations (
  sql: SqlExecutor, orgId: string, ownerId: string, page: { limit: number, cursor?: string | undefined }
): Promise<{ items: ConversationSummary[], nextCursor: string | null }> {
  const after = page.cursor === undefined ? undefined : conversationCursor.decode(page.cursor)
  const found = await conversationsPage(sql, orgId, ownerId, page.limit + 1, after)
  const items = found.slice(0, page.limit)
  const last = found.length > page.limit ? items.at(-1) : undefined
  const nextCursor = last === undefined
    ? null
    : conversationCursor.encode({ createdAt: last.createdAt, conversationId: last.conversationId })
  return { items, nextCursor }
}

export type ConversationItem =
  | { role: 'user', messageId: string, text: string, at: string }
  | { role: 'assistant', responseId: string, status: string, text: string, tools: UiPart[], at: string }

/** The conversation as its owner reads it: messages, and each response's text, tool parts and end. */
export function conversationView (state: OpenConversation, events: readonly ConversationEvent[], times: readonly Date[]) {
  const items: ConversationItem[] = []
  const responses = new Map<string, Extract<ConversationItem, { role: 'assistant' }>>()
  events.forEach((event, i) => {
    const at = times[i]!.toISOString()
    if (event.type === 'ai.message.added') items.push({ role: 'user', messageId: event.data.messageId, text: event.data.text, at })
    if (event.type === 'ai.response.started') {
      const item = { role: 'assistant' as const, responseId: event.data.responseId, status: 'streaming', text: '', tools: [], at }
      responses.set(event.data.responseId, item)
      items.push(item)
    }
    const response = 'responseId' in event.data ? responses.get(event.data.responseId) : undefined
    if (response === undefined) return
    if (event.type === 'ai.response.chunk') addParts(response, event.data.parts)
    else response.status = statusAfter(event) ?? response.status
  })
  const { conversationId, model } = state.conversation
  return { conversationId, model, streaming: state.active?.responseId ?? null, pendingCallIds: [...state.pendingCallIds], items }
}

const SHOWN_TOOL_PARTS = new Set([
  'tool-input-available', 'tool-approval-request', 'tool-output-available', 'tool-output-error', 'tool-output-denied'
])

function addParts (response: { text: string, tools: UiPart[] }, parts: readonly UiPart[]): void {
  for (const part of parts) {
    if (part.type === 'text-delta') response.text += String(part.delta ?? '')
    else if (SHOWN_TOOL_PARTS.has(part.type)) response.tools.push(part)
  }
}

function statusAfter (event: ConversationEvent): string | undefined {
  switch (event.type) {
    case 'ai.response.completed': return event.data.finishReason === 'awaiting_approval' ? 'awaiting_approval' : 'completed'
    case 'ai.response.aborted': return 'aborted'
    case 'ai.response.failed': return 'failed'
    default: return undefined
  }
}
