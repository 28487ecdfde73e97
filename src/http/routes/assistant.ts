/**
 * The assistant over HTTP (docs/assistant.md): conversations, and responses
 * streamed over SSE in the Vercel AI SDK's UI message stream protocol (v1),
 * so `useChat` reads them unchanged. Every route declares `ai:use`; a
 * conversation is its owner's alone (anyone else is told 404); the tools the
 * model calls are the caller's, through the tool pipeline.
 *
 * The streaming routes always answer SSE (a `useChat` client does not send
 * `Accept: text/event-stream`); every check (ownership, the model's
 * configuration, the quota) runs before the first byte, so a refusal is a
 * plain problem+json. Each SSE event's `id` is the part's stored place:
 * `GET …/stream` with `Last-Event-ID` replays what followed it, on any node.
 */
import sseModule from '@fastify/sse'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { StoredPart } from '../../application/assistant/parts.ts'
import { liveParts } from '../../application/assistant/live.ts'
import { MAX_MESSAGE_CHARS } from '../../domain/assistant/events.ts'
import type { Runtime } from '../../runtime.ts'
import { commandMetadata, principalOf } from '../plugins/auth.ts'
import { cursorParam, pageLimit } from '../query.ts'
import { BEARER, Id, problems } from '../schemas.ts'
import { toolCallerOf } from '../tenancy.ts'

// Its types declare an ES default export over a CommonJS module; fastify-plugin sets `default` on the plugin itself.
const sse = (sseModule as unknown as { default: FastifyPluginAsync<{ heartbeatInterval: number }> }).default

const AI_USE = 'ai:use'
const OrgParams = z.object({ orgId: Id })
const ConversationParams = z.object({ orgId: Id, conversationId: Id })
const JsonObject = z.record(z.string(), z.unknown())

const Summary = z.object({
  conversationId: z.string(), model: z.string(), messages: z.number().int(), responses: z.number().int(),
  lastResponseId: z.string().nullable(), lastStatus: z.string(), createdAt: z.string(), updatedAt: z.string()
})
const Item = z.union([
  z.object({ role: z.literal('user'), messageId: z.string(), text: z.string(), at: z.string() }),
  z.object({
    role: z.literal('assistant'), responseId: z.string(), status: z.string(), text: z.string(), tools: z.array(JsonObject), at: z.string()
  })
])
const Conversation = z.object({
  conversationId: z.string(), model: z.string(), streaming: z.string().nullable().describe('the response streaming now'),
  pendingCallIds: z.array(z.string()).describe('tool calls the last response waits for: approve or deny them, then continue'),
  items: z.array(Item)
})

/** A `useChat` message: its text parts are what was said. */
const ChatMessage = z.object({
  role: z.enum(['user', 'assistant', 'system']),
  parts: z.array(z.looseObject({ type: z.string().max(100), text: z.string().max(MAX_MESSAGE_CHARS).optional() })).max(1000)
}).loose()

const AskBody = z.object({
  text: z.string().min(1).max(MAX_MESSAGE_CHARS).optional().describe('the message; none continues after tool approvals'),
  messages: z.array(ChatMessage).max(1000).optional()
    .describe('useChat\'s body: the last message, when it is the user\'s, is the message; the server keeps the history'),
  id: z.string().max(200).optional(),
  trigger: z.string().max(100).optional(),
  messageId: z.string().max(200).optional()
}).strict()

/** The message a body carries: `text`, or the text of useChat's last message when it is the user's; null for none. */
function messageOf (body: z.infer<typeof AskBody> | undefined): string | null {
  if (body?.text !== undefined) return body.text
  const last = body?.messages?.at(-1)
  if (last?.role !== 'user') return null
  const text = last.parts.map((part) => (part.type === 'text' ? part.text ?? '' : '')).join('')
  return text === '' ? null : text.slice(0, MAX_MESSAGE_CHARS)
}

const SSE_ANSWER = { 200: z.string().describe('text/event-stream: UI message stream protocol v1 parts, then [DONE]'), ...problems }

/**
 * Sends parts as SSE events with their ids, then `[DONE]`, and closes; stops early when the client has gone. The 200
 * and its headers go out here, and only then do heartbeats start (the plugin's own would start with its context, before
 * the handler has decided: a heartbeat due then committed a 200 without the protocol's header, or in place of a refusal).
 */
async function sendParts (reply: FastifyReply, parts: AsyncIterable<StoredPart>, heartbeatMs: number): Promise<void> {
  reply.header('x-vercel-ai-ui-message-stream', 'v1')
  reply.sse.sendHeaders()
  const heartbeat = setInterval(() => { if (reply.sse.isConnected) reply.raw.write(': heartbeat\n\n') }, heartbeatMs)
  heartbeat.unref()
  reply.sse.onClose(() => clearInterval(heartbeat))
  try {
    await streamParts(reply, parts)
  } finally {
    clearInterval(heartbeat)
  }
}

async function streamParts (reply: FastifyReply, parts: AsyncIterable<StoredPart>): Promise<void> {
  for await (const { id, part } of parts) {
    if (!reply.sse.isConnected) break
    await reply.sse.send({ id, data: part })
  }
  if (reply.sse.isConnected) await reply.sse.send('[DONE]')
  reply.sse.close()
}

export async function assistantRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  await app.register(sse, { heartbeatInterval: 0 })
  // The streaming routes answer SSE whatever the client accepts: @fastify/sse streams only for text/event-stream.
  const acceptStream = async (request: FastifyRequest): Promise<void> => { request.headers.accept = 'text/event-stream' }
  const api = app.withTypeProvider<ZodTypeProvider>()
  const { assistant } = runtime

  api.post('/v1/orgs/:orgId/assistant/conversations', {
    schema: {
      tags: ['assistant'], summary: 'Starts a conversation, owned by the caller', security: BEARER, 'x-permission': AI_USE,
      params: OrgParams, response: { 201: z.object({ conversationId: z.string(), model: z.string(), location: z.string() }), ...problems }
    }
  }, async (request, reply) => {
    const { orgId } = request.params
    const created = await assistant.create(orgId, principalOf(request).userId, commandMetadata(request, orgId))
    const location = `/v1/orgs/${orgId}/assistant/conversations/${created.conversationId}`
    return reply.code(201).header('location', location).send({ ...created, location })
  })

  api.get('/v1/orgs/:orgId/assistant/conversations', {
    schema: {
      tags: ['assistant'], summary: 'The caller\'s conversations, newest first, a page at a time', security: BEARER, 'x-permission': AI_USE,
      params: OrgParams, querystring: z.object({ limit: pageLimit(200, 50), cursor: cursorParam.optional() }).strict(),
      response: { 200: z.object({ items: z.array(Summary), nextCursor: z.string().nullable() }), ...problems }
    }
  }, async (request) => assistant.list(request.params.orgId, principalOf(request).userId, request.query))

  api.get('/v1/orgs/:orgId/assistant/conversations/:conversationId', {
    schema: {
      tags: ['assistant'], summary: 'One of the caller\'s conversations: its messages, responses and tool calls', security: BEARER,
      'x-permission': AI_USE, params: ConversationParams, response: { 200: Conversation, ...problems }
    }
  }, async (request) => assistant.show(request.params.orgId, principalOf(request).userId, request.params.conversationId))

  api.post('/v1/orgs/:orgId/assistant/conversations/:conversationId/messages', {
    sse: { heartbeat: false },
    onRequest: acceptStream,
    schema: {
      tags: ['assistant'], security: BEARER, 'x-permission': AI_USE, params: ConversationParams,
      summary: 'Sends a message (or, with none, continues after tool approvals) and streams the response over SSE',
      description: 'UI message stream protocol v1 (x-vercel-ai-ui-message-stream: v1). 503 ai.not_configured without a model, ' +
        '429 ai.quota_exceeded (Retry-After) over a quota, 409 ai.response_in_progress while another response streams. ' +
        'Closing the connection aborts the response; it is recorded aborted and charged.',
      body: AskBody.optional(), response: SSE_ANSWER
    }
  }, async (request, reply) => {
    reply.sse.keepAlive()
    const { orgId, conversationId } = request.params
    const live = liveParts()
    const running = await assistant.ask({
      orgId, conversationId, caller: toolCallerOf(request), text: messageOf(request.body), metadata: commandMetadata(request, orgId)
    }, live.listener)
    const closed = assistant.deps.metrics.streamOpened()
    reply.sse.onClose(() => {
      closed()
      if (!running.writer.ended) running.abort('client_disconnected')
    })
    await sendParts(reply, live, runtime.config.ai.heartbeatMs)
  })

  api.get('/v1/orgs/:orgId/assistant/conversations/:conversationId/stream', {
    sse: { heartbeat: false },
    onRequest: acceptStream,
    schema: {
      tags: ['assistant'], security: BEARER, 'x-permission': AI_USE, params: ConversationParams,
      summary: 'Resumes a response\'s stream: the parts after Last-Event-ID, then live, from any node; 204 when none streams',
      headers: z.object({ 'last-event-id': z.string().max(200).optional() }).loose(),
      response: { ...SSE_ANSWER, 204: z.null().describe('no response streams, and no Last-Event-ID was given') }
    }
  }, async (request, reply) => {
    // Before anything can throw: without it the SSE plugin ends the response itself (an empty 200) when the handler throws.
    reply.sse.keepAlive()
    const { orgId, conversationId } = request.params
    const gone = new AbortController()
    const parts = await assistant.follow(orgId, principalOf(request).userId, conversationId, request.headers['last-event-id'], gone.signal,
      commandMetadata(request, orgId))
    // Nothing to follow: a plain 204. HEAD answers GET's status without following (200 while a response streams).
    // (No payload rather than null: Fastify's HEAD twin cannot take a null one; the cast is for the typed 204 schema.)
    if (parts === undefined || request.method === 'HEAD') {
      gone.abort()
      return reply.code(parts === undefined ? 204 : 200).send(undefined as never)
    }
    const closed = assistant.deps.metrics.streamOpened()
    reply.sse.onClose(() => { closed(); gone.abort() })
    await sendParts(reply, parts, runtime.config.ai.heartbeatMs)
  })

  api.post('/v1/orgs/:orgId/assistant/conversations/:conversationId/stop', {
    schema: {
      tags: ['assistant'], security: BEARER, 'x-permission': AI_USE, params: ConversationParams,
      summary: 'Stops the response streaming in the conversation, on whichever node generates it; 409 ai.no_active_response when none',
      response: {
        202: z.object({ conversationId: z.string(), responseId: z.string().nullable(), status: z.literal('stopping') }), ...problems
      }
    }
  }, async (request, reply) => {
    const { orgId, conversationId } = request.params
    const userId = principalOf(request).userId
    return reply.code(202).send(await assistant.stop(orgId, userId, conversationId, commandMetadata(request, orgId)))
  })
}
