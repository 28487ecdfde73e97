/**
 * The model loop of one response: up to `maxSteps` requests to the model,
 * each streamed to the writer as UI parts; the tools a step calls run through
 * the tool pipeline as the caller (impersonation included), so the model can
 * do nothing the caller could not, and a call that needs approval ends the
 * response waiting for it. Whatever the end (completed, stopped, the client
 * gone, the upstream failing or stalling), the response is ended and its
 * usage recorded.
 */
import type OpenAI from 'openai'
import type { Logger } from 'pino'
import type { AbortReason, UsageRecorded } from '../../domain/assistant/events.ts'
import type { CommandMetadata } from '../../domain/envelope.ts'
import { LedgerlineError } from '../../domain/errors.ts'
import type { ToolCallOutcome } from '../tools/outcome.ts'
import type { ToolPipeline } from '../tools/pipeline.ts'
import type { ToolCaller } from '../tools/tool.ts'
import { usageOf, type StepUsage, type UsagePricing } from './accounting.ts'
import { toolContent, toolMessage } from './history.ts'
import type { AssistantMetrics } from './metrics.ts'
import type { ResponseBudget } from './response-budget.ts'
import { toToolName } from './tool-format.ts'
import { streamStep, UpstreamFailed, type StepDelta, type UpstreamMessage, type UpstreamTool } from './upstream.ts'
import type { Execute, ResponseWriter } from './writer.ts'

export interface LoopDeps {
  readonly client: OpenAI
  readonly tools: Pick<ToolPipeline, 'available' | 'call'>
  readonly pricing: UsagePricing
  readonly metrics: AssistantMetrics
  readonly logger: Logger
  readonly maxSteps: number
  readonly idleTimeoutMs: number
  /** Sent as `max_tokens` with every request: what a reservation holds for the output. */
  readonly maxOutputTokens: number
}

export interface ResponseRun {
  readonly orgId: string
  readonly conversationId: string
  readonly ownerId: string
  readonly model: string
  readonly caller: ToolCaller
  /** The caller's request metadata, with a fresh command id each time. */
  readonly metadata: () => CommandMetadata
  readonly history: UpstreamMessage[]
  /** Tool calls a continued response reports first: their outcomes, as the tool pipeline recorded them. */
  readonly resolved: ReadonlyArray<{ toolCallId: string, part: Record<string, unknown> & { type: string } }>
  readonly writer: ResponseWriter
  /** The caller's tools, as the model is offered them. */
  readonly tools: UpstreamTool[]
  /** The response's hold on the budget; the first request's estimate is held already (before the response started). */
  readonly budget: ResponseBudget
  readonly execute: Execute
  /** Aborts with an AbortReason (`stopped`, `client_disconnected`). */
  readonly signal: AbortSignal
  /** When the message arrived (performance.now()), for the time to the first token. */
  readonly arrivedAt: number
}

interface Call { id: string, name: string, args: string }

/** Runs the response to its end; never throws (its failures are the response's). */
export async function runResponse (deps: LoopDeps, run: ResponseRun): Promise<UsageRecorded | undefined> {
  const steps: StepUsage[] = []
  try {
    return await loop(deps, run, steps)
  } catch (error) {
    const failure = error instanceof LedgerlineError ? error : undefined
    if (failure === undefined) deps.logger.error({ err: error }, 'assistant response failed')
    if (error instanceof UpstreamFailed) deps.metrics.upstreamError(error.kind)
    const message = (failure?.message ?? 'the response failed').slice(0, 500)
    const code = failure?.code ?? 'ai.internal'
    await run.writer.end({ type: 'FailResponse', data: { responseId: run.writer.responseId, code, message } })
      .catch((e: unknown) => deps.logger.error({ err: e }, 'could not record the response\'s failure'))
    return await charge(run, deps, steps)
  }
}

const FINISHES: Readonly<Record<string, 'length' | 'content_filter'>> = { length: 'length', content_filter: 'content_filter' }

async function loop (deps: LoopDeps, run: ResponseRun, steps: StepUsage[]): Promise<UsageRecorded | undefined> {
  const messages = [...run.history]
  const { writer } = run
  for (const { toolCallId, part } of run.resolved) {
    writer.emit(part)
    messages.push(toolMessage(toolCallId, part))
  }
  const { tools } = run
  let first = true
  const delta = (): void => {
    if (first) deps.metrics.firstToken((performance.now() - run.arrivedAt) / 1000)
    first = false
  }
  for (let n = 1; n <= deps.maxSteps; n++) {
    // Every request is reserved before it is sent; refused, the response fails `ai.budget_exhausted` and is charged.
    if (n > 1) await run.budget.hold(messages, tools)
    const step: StepUsage = { messages: [...messages], tools, output: '', provider: undefined }
    steps.push(step)
    const outcome = await streamOne(deps, run, step, `${writer.responseId}-${n}`, delta)
    if (outcome.stopped !== undefined) return await abort(run, outcome.stopped, deps, steps)
    messages.push(outcome.message)
    const pending = outcome.calls.length === 0 ? [] : await callTools(deps, run, outcome.calls, messages)
    writer.emit({ type: 'finish-step' })
    if (outcome.calls.length === 0) {
      return await finish(run, deps, steps, { finishReason: FINISHES[outcome.finish ?? ''] ?? 'stop', steps: n, pendingCallIds: [] })
    }
    if (pending.length > 0) return await finish(run, deps, steps, { finishReason: 'awaiting_approval', steps: n, pendingCallIds: pending })
    if (run.signal.aborted) return await abort(run, run.signal.reason as AbortReason, deps, steps)
  }
  return await finish(run, deps, steps, { finishReason: 'max_steps', steps: deps.maxSteps, pendingCallIds: [] })
}

interface StepOutcome { message: UpstreamMessage, calls: Call[], finish: string | undefined, stopped?: AbortReason }

/** One request to the model, its deltas sent as parts; `stopped` when the caller's signal or the idle timeout cut it. */
async function streamOne (deps: LoopDeps, run: ResponseRun, step: StepUsage, textId: string, delta: () => void): Promise<StepOutcome> {
  const { writer } = run
  const controller = new AbortController()
  const onAbort = (): void => controller.abort(run.signal.reason)
  run.signal.addEventListener('abort', onAbort)
  let idle: NodeJS.Timeout | undefined
  const touch = (): void => {
    clearTimeout(idle)
    idle = setTimeout(() => controller.abort('upstream_stalled'), deps.idleTimeoutMs)
  }
  let text = ''
  const calls: Call[] = []
  let finish: string | undefined
  writer.emit({ type: 'start-step' })
  deps.metrics.upstreamRequest()
  try {
    touch()
    const request = {
      model: run.model, messages: step.messages, tools: step.tools, maxTokens: deps.maxOutputTokens, signal: controller.signal
    }
    for await (const d of streamStep(deps.client, request)) {
      touch()
      if (d.kind === 'usage') step.provider = d
      else if (d.kind === 'finish') finish = d.reason
      else {
        delta()
        text = onDelta(writer, d, textId, text, calls, step)
      }
    }
  } finally {
    clearTimeout(idle)
    run.signal.removeEventListener('abort', onAbort)
  }
  if (text !== '') writer.emit({ type: 'text-end', id: textId })
  const message: UpstreamMessage = {
    role: 'assistant',
    content: text === '' ? null : text,
    ...(calls.length === 0
      ? {}
      : { tool_calls: calls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.args } })) })
  }
  if (controller.signal.aborted) {
    const reason = (run.signal.aborted ? run.signal.reason : 'upstream_stalled') as AbortReason
    if (reason === 'upstream_stalled') deps.metrics.upstreamError('interrupted')
    return { message, calls, finish, stopped: reason }
  }
  return { message, calls, finish }
}

type Streamed = Exclude<StepDelta, { kind: 'usage' | 'finish' }>

function onDelta (writer: ResponseWriter, d: Streamed, textId: string, text: string, calls: Call[], step: StepUsage): string {
  if (d.kind === 'text') {
    if (text === '') writer.emit({ type: 'text-start', id: textId })
    writer.emit({ type: 'text-delta', id: textId, delta: d.delta })
    step.output += d.delta
    return text + d.delta
  }
  if (d.kind === 'tool-start') {
    calls[d.index] = { id: d.id, name: d.name, args: '' }
    writer.emit({ type: 'tool-input-start', toolCallId: d.id, toolName: toToolName(d.name) })
    return text
  }
  const call = calls[d.index]
  if (call !== undefined) {
    call.args += d.delta
    step.output += d.delta
    writer.emit({ type: 'tool-input-delta', toolCallId: call.id, inputTextDelta: d.delta })
  }
  return text
}

/** Runs the step's calls through the pipeline as the caller; returns the ids of the calls waiting for approval. */
async function callTools (deps: LoopDeps, run: ResponseRun, calls: readonly Call[], messages: UpstreamMessage[]): Promise<string[]> {
  const pending: string[] = []
  for (const call of calls.filter((c) => c !== undefined)) {
    const tool = toToolName(call.name)
    let input: unknown
    try {
      input = call.args.trim() === '' ? {} : JSON.parse(call.args)
    } catch {
      input = { arguments: call.args.slice(0, 2000) }
    }
    run.writer.emit({ type: 'tool-input-available', toolCallId: call.id, toolName: tool, input })
    const outcome = await callOne(deps, run, tool, input)
    const part = partOf(call.id, outcome)
    run.writer.emit(part)
    if (outcome.status === 'approval_required') pending.push(outcome.callId)
    else messages.push({ role: 'tool', tool_call_id: call.id, content: toolContent(part) })
  }
  return pending
}

type Outcome = ToolCallOutcome | { status: 'refused', error: LedgerlineError }

async function callOne (deps: LoopDeps, run: ResponseRun, tool: string, input: unknown): Promise<Outcome> {
  try {
    const { orgId, caller } = run
    return await deps.tools.call({ orgId, tool, input, caller, metadata: run.metadata(), callId: crypto.randomUUID() })
  } catch (error) {
    if (error instanceof LedgerlineError) return { status: 'refused', error }
    throw error
  }
}

function partOf (toolCallId: string, outcome: Outcome): Record<string, unknown> & { type: string } {
  switch (outcome.status) {
    case 'succeeded': return { type: 'tool-output-available', toolCallId, output: outcome.output }
    case 'approval_required': return { type: 'tool-approval-request', approvalId: outcome.callId, toolCallId }
    default: return { type: 'tool-output-error', toolCallId, errorText: `${outcome.error.code}: ${outcome.error.message}` }
  }
}

type Completion = Omit<Extract<Parameters<Execute>[0], { type: 'CompleteResponse' }>['data'], 'responseId'>

async function finish (run: ResponseRun, deps: LoopDeps, steps: StepUsage[], completion: Completion): Promise<UsageRecorded | undefined> {
  await run.writer.end({ type: 'CompleteResponse', data: { responseId: run.writer.responseId, ...completion } })
  return charge(run, deps, steps)
}

async function abort (run: ResponseRun, reason: AbortReason, deps: LoopDeps, steps: StepUsage[]): Promise<UsageRecorded | undefined> {
  await run.writer.end({ type: 'AbortResponse', data: { responseId: run.writer.responseId, reason } })
  return charge(run, deps, steps)
}

/** The usage record, in every case, then the budget settled to it; a failure is logged (the response's events say what ran). */
async function charge (run: ResponseRun, deps: LoopDeps, steps: StepUsage[]): Promise<UsageRecorded | undefined> {
  const usage = usageOf(deps.pricing, steps, {
    responseId: run.writer.responseId, conversationId: run.conversationId, orgId: run.orgId, userId: run.ownerId, model: run.model
  })
  try {
    await run.execute({ type: 'RecordUsage', data: usage })
    deps.metrics.tokens(usage)
  } catch (error) {
    // Unsettled, the reservation expires and is reconciled from the log (AI_BUDGET_RESERVATION_TTL_MS).
    deps.logger.error({ err: error, responseId: usage.responseId }, 'could not record a response\'s usage')
    return undefined
  }
  await run.budget.settle(usage.costMicros)
    .catch((error: unknown) => deps.logger.error({ err: error, responseId: usage.responseId }, 'could not settle a reservation'))
  return usage
}
