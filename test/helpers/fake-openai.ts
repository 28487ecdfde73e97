/**
 * A fake OpenAI-compatible upstream for tests and benchmarks: a local HTTP server (127.0.0.1, a port the system
 * picks) speaking Chat Completions, `POST /v1/chat/completions`, so the real `openai` SDK talks to it
 * (`baseURL` goes to `OPENAI_BASE_URL`). Each request takes the next scripted turn: streamed SSE chunks when the
 * body says `stream: true` (text deltas, tool calls whose arguments arrive in pieces, the usage chunk only when
 * `stream_options.include_usage` asks for it, as OpenAI does), one JSON completion otherwise; or an error status
 * (429 with `retry-after`, 500), a stall that keeps the socket open, a pause the test ends, a socket destroyed mid-stream. Every request
 * is kept, with `aborted` set when the client closed it before the answer ended. The chunks and completions are
 * built as the SDK's own types, so a field the SDK changes fails `tsc` here rather than drifting.
 *
 * Not covered: other endpoints (404), several choices (`n`), logprobs, refusals, audio, the Responses API.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions'
import type { CompletionUsage } from 'openai/resources/completions'

export interface FakeTurn {
  /** Content deltas, one chunk each. */
  text?: string[]
  /** Tool calls; each is a chunk with its id and name, then its arguments split in `pieces` chunks (1 by default). */
  toolCalls?: Array<{ id: string, name: string, arguments: string, pieces?: number }>
  /** null or absent: no usage chunk (and no usage in a JSON answer). */
  usage?: { prompt_tokens: number, completion_tokens: number, cached_tokens?: number } | null
  /** 'tool_calls' when the turn has tool calls, 'stop' otherwise. */
  finishReason?: 'stop' | 'tool_calls' | 'length'
  /** Milliseconds between chunks. */
  chunkDelayMs?: number
  /** Stop sending (keep the socket open) after this many chunks. */
  stallAfterChunks?: number
  /** Pause after this many chunks until `release` resolves, then send the rest (a test decides when a stream goes on). */
  holdAfterChunks?: number
  release?: Promise<unknown>
  /** Destroy the socket after this many chunks (a mid-stream error). */
  errorAfterChunks?: number
  /** Answer this status (e.g. 429, 500) with an OpenAI-shaped error body instead of a completion. */
  status?: number
  retryAfterSeconds?: number
}

export interface RecordedRequest {
  readonly path: string
  /** The parsed JSON body (undefined when it was not JSON). */
  readonly body: Record<string, unknown> | undefined
  readonly headers: IncomingHttpHeaders
  /** The client closed the connection before the answer ended. */
  aborted: boolean
  /** When each streamed chunk was written (performance.now(), this process's clock): benchmarks measure relays with it. */
  readonly sentAt: number[]
}

export interface FakeOpenAI {
  /** e.g. http://127.0.0.1:PORT/v1 — pass to OPENAI_BASE_URL. */
  readonly baseURL: string
  /** One turn answers one request, in order; with none queued a request gets 500 and a message saying so. */
  enqueue(...turns: FakeTurn[]): void
  readonly requests: RecordedRequest[]
  /** Resolves once `check` holds for the requests (checked as requests arrive and end); rejects after `timeoutMs`. */
  until(check: (requests: readonly RecordedRequest[]) => boolean, timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

type Delta = ChatCompletionChunk.Choice.Delta

/** Answers the fake itself cut off (a scripted mid-stream error): their close is not the client's abort. */
const cutByFake = new WeakSet<ServerResponse>()

function cut (response: ServerResponse): void {
  cutByFake.add(response)
  response.destroy()
}

export async function startFakeOpenAI (): Promise<FakeOpenAI> {
  const turns: FakeTurn[] = []
  const requests: RecordedRequest[] = []
  const waiters = new Set<() => void>()
  const notify = (): void => { for (const wake of waiters) wake() }
  let sequence = 0
  const server = createServer((request, response) => {
    void readBody(request).then((raw) => {
      const record: RecordedRequest = {
        path: request.url ?? '', body: parseBody(raw), headers: request.headers, aborted: false, sentAt: []
      }
      requests.push(record)
      response.on('close', () => { if (!response.writableFinished && !cutByFake.has(response)) record.aborted = true; notify() })
      notify()
      answer(record, turns.shift(), response, `chatcmpl-fake-${++sequence}`)
    })
  })
  server.keepAliveTimeout = 600_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue (...more) { turns.push(...more) },
    until (check, timeoutMs = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const wake = (): void => { if (check(requests)) { clearTimeout(timer); waiters.delete(wake); resolve() } }
        const timer = setTimeout(() => {
          waiters.delete(wake)
          reject(new Error(`fake OpenAI: condition not met within ${timeoutMs} ms (${requests.length} requests)`))
        }, timeoutMs)
        waiters.add(wake)
        wake()
      })
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
  }
}

function answer (record: RecordedRequest, turn: FakeTurn | undefined, response: ServerResponse, id: string): void {
  const { body } = record
  if (record.path.split('?')[0] !== '/v1/chat/completions') {
    return sendError(response, 404, 'invalid_request_error', `fake OpenAI: no route for ${record.path}`)
  }
  if (!String(record.headers.authorization ?? '').startsWith('Bearer ')) {
    return sendError(response, 401, 'invalid_request_error', 'fake OpenAI: no API key (Authorization: Bearer …)')
  }
  if (body === undefined || typeof body.model !== 'string' || !Array.isArray(body.messages)) {
    return sendError(response, 400, 'invalid_request_error', 'fake OpenAI: the body needs a model and messages')
  }
  if (turn === undefined) return sendError(response, 500, 'server_error', 'fake OpenAI: no turn queued for this request')
  if (turn.status !== undefined) {
    const headers: Record<string, string> = turn.retryAfterSeconds === undefined ? {} : { 'retry-after': String(turn.retryAfterSeconds) }
    const type = turn.status === 429 ? 'rate_limit_exceeded' : 'server_error'
    return sendError(response, turn.status, type, `fake OpenAI: scripted ${turn.status}`, headers)
  }
  const model = body.model
  if (body.stream !== true) return sendCompletion(response, turn, id, model)
  const options = body.stream_options as { include_usage?: unknown } | undefined
  const chunks = streamChunks(turn, options?.include_usage === true).map((piece) => ({
    id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, ...piece
  } satisfies ChatCompletionChunk))
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': `req-${id}` })
  response.flushHeaders()
  void writeChunks(response, chunks, turn, record.sentAt)
}

async function writeChunks (response: ServerResponse, chunks: ChatCompletionChunk[], turn: FakeTurn, sentAt: number[]): Promise<void> {
  for (const [index, chunk] of chunks.entries()) {
    if (index === turn.stallAfterChunks) return
    if (index === turn.errorAfterChunks) { cut(response); return }
    if (index === turn.holdAfterChunks) await turn.release
    if (index > 0 && turn.chunkDelayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, turn.chunkDelayMs))
    if (response.destroyed) return
    sentAt.push(performance.now())
    // Each chunk reaches the socket before the next step, so a cut after it leaves the chunk delivered.
    await new Promise((resolve) => response.write(`data: ${JSON.stringify(chunk)}\n\n`, resolve))
  }
  if (chunks.length === turn.stallAfterChunks) return
  if (chunks.length === turn.errorAfterChunks) { cut(response); return }
  response.end('data: [DONE]\n\n')
}

/** The chunks of a streamed turn, without their id, model and time: the first carries the assistant's role. */
function streamChunks (turn: FakeTurn, includeUsage: boolean): Array<Pick<ChatCompletionChunk, 'choices' | 'usage'>> {
  const deltas: Delta[] = (turn.text ?? []).map((content) => ({ content }))
  for (const [index, call] of (turn.toolCalls ?? []).entries()) {
    deltas.push({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] })
    for (const piece of split(call.arguments, call.pieces ?? 1)) deltas.push({ tool_calls: [{ index, function: { arguments: piece } }] })
  }
  if (deltas.length === 0) deltas.push({ content: '' })
  deltas[0] = { role: 'assistant', ...deltas[0] }
  const chunks: Array<Pick<ChatCompletionChunk, 'choices' | 'usage'>> = deltas.map((delta) => ({
    choices: [{ index: 0, delta, finish_reason: null }]
  }))
  chunks.push({ choices: [{ index: 0, delta: {}, finish_reason: finishReason(turn) }] })
  const usage = usageOf(turn)
  if (includeUsage && usage !== undefined) chunks.push({ choices: [], usage })
  return chunks
}

function sendCompletion (response: ServerResponse, turn: FakeTurn, id: string, model: string): void {
  if (turn.stallAfterChunks !== undefined) return
  if (turn.errorAfterChunks !== undefined) { cut(response); return }
  const toolCalls = (turn.toolCalls ?? []).map((call) => ({
    id: call.id, type: 'function' as const, function: { name: call.name, arguments: call.arguments }
  }))
  const usage = usageOf(turn)
  const completion: ChatCompletion = {
    id, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model,
    choices: [{
      index: 0, finish_reason: finishReason(turn), logprobs: null,
      message: {
        role: 'assistant', content: (turn.text ?? []).join(''), refusal: null, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {})
      }
    }],
    ...(usage === undefined ? {} : { usage })
  }
  response.writeHead(200, { 'content-type': 'application/json', 'x-request-id': `req-${id}` }).end(JSON.stringify(completion))
}

function sendError (
  response: ServerResponse, status: number, type: string, message: string, headers: Record<string, string> = {}
): void {
  const code = status === 429 ? 'rate_limit_exceeded' : null
  response.writeHead(status, { 'content-type': 'application/json', ...headers })
    .end(JSON.stringify({ error: { message, type, param: null, code } }))
}

function finishReason (turn: FakeTurn): 'stop' | 'tool_calls' | 'length' {
  return turn.finishReason ?? ((turn.toolCalls ?? []).length > 0 ? 'tool_calls' : 'stop')
}

function usageOf (turn: FakeTurn): CompletionUsage | undefined {
  if (turn.usage === undefined || turn.usage === null) return undefined
  const { prompt_tokens, completion_tokens, cached_tokens } = turn.usage
  return {
    prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens,
    ...(cached_tokens === undefined ? {} : { prompt_tokens_details: { cached_tokens } })
  }
}

/** `text` in `pieces` parts of near-equal length (the last ones may be empty when the text is shorter). */
function split (text: string, pieces: number): string[] {
  const size = Math.ceil(text.length / Math.max(1, pieces))
  return Array.from({ length: Math.max(1, pieces) }, (_, index) => text.slice(index * size, (index + 1) * size))
}

async function readBody (request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function parseBody (raw: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(raw)
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}
