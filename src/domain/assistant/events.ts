/**
 * Assistant conversations (`conversation-<conversationId>`): one stream per
 * conversation, in one organization, owned by one member.
 *
 *   conversation.started ─► ( message.added ─► response.started ─► chunk* ─┬─ completed ─┐ ) *
 *                                                                          ├─ aborted   ─┼─► usage.recorded (once per response)
 *                                                                          └─ failed    ─┘
 *
 * A response's parts are the UI message stream protocol's (v1) parts as the
 * client received them: `response.started` is sequence 0, each chunk carries
 * the next sequence number, and the terminal event the one after the last
 * chunk, so an SSE event id `<responseId>.<seq>.<index>` names a stored part
 * on any node (resume with Last-Event-ID). A response that paused for a
 * tool's approval completes with `awaiting_approval`; the next response
 * (started with no message) feeds the tool's outcome to the model.
 *
 * The text of messages and responses is the owner's: the audit log shows
 * that they happened, their sizes and their usage, never their text.
 * Tool calls are the tool pipeline's own streams (`toolcall-<callId>`),
 * linked from the parts by call id.
 */
import { z } from 'zod'
import { defineEvent } from '../registry.ts'

export const ConversationId = z.string().regex(/^cnv_[A-Za-z0-9_-]{8,64}$/)
export const ResponseId = z.string().regex(/^rsp_[A-Za-z0-9_-]{8,64}$/)
export const MessageId = z.string().regex(/^msg_[A-Za-z0-9_-]{8,64}$/)
const userId = z.string().min(1).max(200)
const model = z.string().min(1).max(200)
const tokens = z.number().int().min(0).max(1e12)
/** The sequence of a response's event: 0 for its start, then 1, 2, … for its chunks, and one more for its end. */
const seq = z.number().int().min(0).max(1_000_000)

export const MAX_MESSAGE_CHARS = 32_000
export const MAX_PARTS_PER_CHUNK = 2_000

/** One part of the UI message stream protocol (v1): its `type` and the fields the protocol gives it. */
export const UiPart = z.looseObject({ type: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/) })
export type UiPart = z.infer<typeof UiPart>

export const FINISH_REASONS = ['stop', 'length', 'content_filter', 'awaiting_approval', 'max_steps'] as const
export type FinishReason = typeof FINISH_REASONS[number]
export const ABORT_REASONS = ['client_disconnected', 'stopped', 'upstream_stalled', 'abandoned'] as const
export type AbortReason = typeof ABORT_REASONS[number]

export const conversationStarted = defineEvent({
  type: 'ai.conversation.started',
  schema: z.object({ conversationId: ConversationId, orgId: z.string().min(1).max(200), ownerId: userId, model }).strict()
})

/** A user's message; `chars` is its length, the one fact about it the audit log shows. */
export const messageAdded = defineEvent({
  type: 'ai.message.added',
  schema: z.object({ messageId: MessageId, text: z.string().min(1).max(MAX_MESSAGE_CHARS), chars: z.number().int().min(1) }).strict()
})

export const responseStarted = defineEvent({
  type: 'ai.response.started',
  schema: z.object({
    responseId: ResponseId,
    /** The message it answers; null when it continues after a tool's approval or denial. */
    messageId: MessageId.nullable(),
    model,
    /** The node generating it, so a stop on another node is seen by it. */
    node: z.string().min(1).max(200)
  }).strict()
})

export const responseChunk = defineEvent({
  type: 'ai.response.chunk',
  schema: z.object({ responseId: ResponseId, seq: seq.min(1), parts: z.array(UiPart).min(1).max(MAX_PARTS_PER_CHUNK) }).strict()
})

export const responseCompleted = defineEvent({
  type: 'ai.response.completed',
  schema: z.object({
    responseId: ResponseId,
    seq,
    finishReason: z.enum(FINISH_REASONS),
    steps: z.number().int().min(1).max(1000),
    /** The tool calls waiting for the caller's approval when it ended `awaiting_approval`. */
    pendingCallIds: z.array(z.string().max(64)).max(100)
  }).strict()
})

export const responseAborted = defineEvent({
  type: 'ai.response.aborted',
  schema: z.object({ responseId: ResponseId, seq, reason: z.enum(ABORT_REASONS), by: userId.optional() }).strict()
})

export const responseFailed = defineEvent({
  type: 'ai.response.failed',
  schema: z.object({
    responseId: ResponseId,
    seq,
    code: z.string().regex(/^[a-z0-9_]+(\.[a-z0-9_]+)*$/).max(100),
    message: z.string().max(500)
  }).strict()
})

/** Someone asked to stop a response; the node generating it aborts it. */
export const responseStopRequested = defineEvent({
  type: 'ai.response.stop_requested',
  schema: z.object({ responseId: ResponseId, by: userId }).strict()
})

/** Exactly one per response, whatever its end: the provider's figures when they came, else our estimate. */
export const usageRecorded = defineEvent({
  type: 'ai.usage.recorded',
  schema: z.object({
    responseId: ResponseId,
    conversationId: ConversationId,
    orgId: z.string().min(1).max(200),
    /** The conversation's owner. */
    userId,
    model,
    inputTokens: tokens,
    outputTokens: tokens,
    /** Part of inputTokens, priced at the cached rate. */
    cachedInputTokens: tokens,
    source: z.enum(['provider', 'estimate']),
    costMicros: z.number().int().min(0),
    currency: z.literal('USD')
  }).strict()
})

export const conversationEvents = [
  conversationStarted, messageAdded, responseStarted, responseChunk, responseCompleted, responseAborted, responseFailed,
  responseStopRequested, usageRecorded
]

type DataOf<D> = D extends { type: infer T, schema: infer S extends z.ZodType } ? { type: T, data: z.infer<S> } : never
export type ConversationEvent = DataOf<typeof conversationEvents[number]>
export type UsageRecorded = z.infer<typeof usageRecorded.schema>

export function conversationStreamId (conversationId: string): string {
  return `conversation-${conversationId}`
}
