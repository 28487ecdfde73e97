/**
 * useChat's transport for one conversation: the AI SDK's own HTTP transport
 * (it reads the SSE stream of UI message parts) pointed at Ledgerline's
 * routes, through the session cookie with the CSRF header, and with the API's
 * refusals thrown as ApiProblem so the page shows their `detail`.
 *
 * - Sending posts `{ text }` (the server keeps the history), or `{}` to
 *   continue once the tool calls a response waited for are decided.
 * - Resuming is `GET …/stream` without Last-Event-ID: the page keeps no part of
 *   the response still streaming (conversation.ts leaves it out), so it asks
 *   for all of it, and useChat rebuilds that message from its `start`.
 */
import { DefaultChatTransport, type UIMessage, type UIMessageChunk } from 'ai'
import { csrfHeaders, problemOf } from '../../lib/api.ts'
import { conversationPath } from './api.ts'

/** fetch for the transport: same-origin cookie, the CSRF header on a POST, a refusal thrown as the API's problem. */
async function fetchAsSession (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
  const method = init.method ?? 'GET'
  const headers = new Headers(init.headers)
  for (const [name, value] of Object.entries(csrfHeaders(method))) headers.set(name, value)
  const response = await fetch(input, { ...init, headers, credentials: 'same-origin' })
  if (!response.ok) throw await problemOf(response, new URL(String(input), window.location.href).pathname)
  return response
}

const textOf = (message: UIMessage | undefined): string =>
  (message?.parts ?? []).map((part) => (part.type === 'text' ? part.text : '')).join('')

export class ConversationTransport extends DefaultChatTransport<UIMessage> {
  constructor (orgId: string, conversationId: string) {
    const path = conversationPath(orgId, conversationId)
    super({
      api: path,
      fetch: fetchAsSession,
      prepareSendMessagesRequest: ({ messages }) => {
        const last = messages.at(-1)
        return { api: `${path}/messages`, body: last?.role === 'user' ? { text: textOf(last) } : {} }
      },
      prepareReconnectToStreamRequest: () => ({ api: `${path}/stream` })
    })
  }

  /**
   * A continuation is a new response on the server, but it carries on the turn
   * whose tool calls it reports: without its `start`'s new message id, useChat
   * adds its parts (the calls' outcomes first) to the message that asked.
   */
  override async sendMessages (options: Parameters<DefaultChatTransport<UIMessage>['sendMessages']>[0]) {
    const stream = await super.sendMessages(options)
    if (options.messages.at(-1)?.role === 'user') return stream
    return stream.pipeThrough(new TransformStream<UIMessageChunk, UIMessageChunk>({
      transform: (chunk, controller) => controller.enqueue(chunk.type === 'start' ? { type: 'start' } : chunk)
    }))
  }

  /**
   * A resumed continuation starts with the outcomes of calls made in an earlier
   * message, which the replayed message does not hold (useChat would refuse
   * them): those are left to the conversation's read once the stream ends.
   */
  override async reconnectToStream (options: Parameters<DefaultChatTransport<UIMessage>['reconnectToStream']>[0]) {
    const stream = await super.reconnectToStream(options)
    const calls = new Set<string>()
    return stream?.pipeThrough(new TransformStream<UIMessageChunk, UIMessageChunk>({
      transform: (chunk, controller) => {
        if (chunk.type === 'tool-input-start' || chunk.type === 'tool-input-available') calls.add(chunk.toolCallId)
        const aboutACall = 'toolCallId' in chunk && typeof chunk.toolCallId === 'string'
        if (!aboutACall || calls.has(chunk.toolCallId)) controller.enqueue(chunk)
      }
    })) ?? null
  }
}
