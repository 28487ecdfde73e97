/**
 * The model upstream: any OpenAI-compatible server, through the `openai` SDK's
 * Chat Completions with `stream: true` and `stream_options.include_usage`.
 * One step is one request; its chunks are read into plain deltas for the loop
 * (loop.ts). The SDK ends the iteration quietly when its signal aborts, so the
 * caller tells an abort from a completion by its own signal.
 */
import OpenAI from 'openai'
import type { ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions'
import type { AiConfig } from '../../config.ts'
import { domainError } from '../../domain/errors.ts'

export type UpstreamMessage = ChatCompletionMessageParam
export type UpstreamTool = ChatCompletionTool

/** What one step's stream says, in order. */
export type StepDelta =
  | { kind: 'text', delta: string }
  | { kind: 'tool-start', index: number, id: string, name: string }
  | { kind: 'tool-args', index: number, delta: string }
  | { kind: 'finish', reason: string }
  | { kind: 'usage', inputTokens: number, outputTokens: number, cachedInputTokens: number }

/** Upstream failures by kind (the `kind` label of the errors counter). */
export const UPSTREAM_ERROR_KINDS = ['rate_limited', 'server_error', 'client_error', 'connection', 'interrupted'] as const
export type UpstreamErrorKind = typeof UPSTREAM_ERROR_KINDS[number]

export class UpstreamFailed extends domainError('ai.upstream_failed', 502, 'the model upstream failed') {
  constructor (readonly kind: UpstreamErrorKind, message: string) {
    super(message, { kind })
  }
}

export function upstreamClient (config: AiConfig): OpenAI | undefined {
  if (config.apiKey === undefined) return undefined
  // No SDK retries: a retried request is a second charge, and a 429 is the caller's to see.
  return new OpenAI({ apiKey: config.apiKey.reveal(), ...(config.baseUrl === undefined ? {} : { baseURL: config.baseUrl }), maxRetries: 0 })
}

/** The failure's kind: an answered status, or the connection (before any chunk) or the stream (after some) breaking. */
export function failureOf (error: unknown, streamed: boolean): UpstreamFailed {
  if (error instanceof OpenAI.APIError && typeof error.status === 'number') {
    const kind = error.status === 429 ? 'rate_limited' : error.status >= 500 ? 'server_error' : 'client_error'
    return new UpstreamFailed(kind, `the model upstream answered ${error.status}`)
  }
  return streamed
    ? new UpstreamFailed('interrupted', 'the model upstream stream broke off')
    : new UpstreamFailed('connection', 'the model upstream is unreachable')
}

export interface StepRequest {
  readonly model: string
  readonly messages: readonly UpstreamMessage[]
  readonly tools: readonly UpstreamTool[]
  /** The output cap: always sent, since a reservation holds its price. */
  readonly maxTokens: number
  readonly signal: AbortSignal
}

/** One model request, streamed as deltas; throws UpstreamFailed; ends quietly when `signal` aborts. */
export async function * streamStep (client: OpenAI, request: StepRequest): AsyncGenerator<StepDelta> {
  let streamed = false
  try {
    const stream = await client.chat.completions.create({
      model: request.model,
      messages: [...request.messages],
      ...(request.tools.length === 0 ? {} : { tools: [...request.tools] }),
      max_tokens: request.maxTokens,
      stream: true,
      stream_options: { include_usage: true }
    }, { signal: request.signal })
    for await (const chunk of stream) {
      streamed = true
      yield * deltasOf(chunk)
    }
  } catch (error) {
    if (request.signal.aborted) return
    throw failureOf(error, streamed)
  }
}

function deltasOf (chunk: ChatCompletionChunk): StepDelta[] {
  const deltas: StepDelta[] = []
  if (chunk.usage != null) {
    const { prompt_tokens: inputTokens, completion_tokens: outputTokens } = chunk.usage
    deltas.push({ kind: 'usage', inputTokens, outputTokens, cachedInputTokens: chunk.usage.prompt_tokens_details?.cached_tokens ?? 0 })
  }
  const choice = chunk.choices[0]
  if (choice === undefined) return deltas
  if (typeof choice.delta.content === 'string' && choice.delta.content !== '') deltas.push({ kind: 'text', delta: choice.delta.content })
  for (const call of choice.delta.tool_calls ?? []) deltas.push(...callDeltas(call))
  if (choice.finish_reason != null) deltas.push({ kind: 'finish', reason: choice.finish_reason })
  return deltas
}

function callDeltas (call: ChatCompletionChunk.Choice.Delta.ToolCall): StepDelta[] {
  const deltas: StepDelta[] = []
  const { id, index } = call
  const name = call.function?.name
  const args = call.function?.arguments
  if (id !== undefined && name !== undefined) deltas.push({ kind: 'tool-start', index, id, name })
  if (typeof args === 'string' && args !== '') deltas.push({ kind: 'tool-args', index, delta: args })
  return deltas
}
