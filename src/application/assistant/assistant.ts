/**
 * The assistant's use cases, for the routes (src/http/routes/assistant.ts):
 * create a conversation, ask (a message, or the continuation after tool
 * approvals), stop, follow a response from the store, list and read.
 *
 * Asking checks, in this order and before anything is written or sent to
 * the model: a model is configured (503 `ai.not_configured`), the caller
 * owns the conversation (404), the quota admits the request (429). Then the
 * message and the response's start are appended together, and the loop runs
 * in the background: the asking client reads its parts live; anyone reading
 * `…/stream` reads them from the store.
 */
import type OpenAI from 'openai'
import type { Logger } from 'pino'
import { conversationDecider, type ConversationCommand } from '../../domain/assistant/conversation.ts'
import { AiNotConfigured, ApprovalPending } from '../../domain/assistant/errors.ts'
import {
  conversationStreamId, type AbortReason, type ConversationEvent, type UiPart, type UsageRecorded
} from '../../domain/assistant/events.ts'
import { handleCommand, type StateCache } from '../../domain/decider.ts'
import { systemCommand, type CommandMetadata } from '../../domain/envelope.ts'
import { LedgerlineError } from '../../domain/errors.ts'
import { readState } from '../../domain/decider.ts'
import { toolCallDecider, toolCallStreamId } from '../../domain/tools/call.ts'
import type { EventStore } from '../../eventstore/types.ts'
import type { SqlExecutor } from '../../sql/client.ts'
import type { StreamQueue } from '../commands.ts'
import type { ToolPipeline } from '../tools/pipeline.ts'
import type { ToolCaller } from '../tools/tool.ts'
import { usageOf, type UsagePricing } from './accounting.ts'
import {
  conversationView, listConversations, newConversationId, newMessageId, newResponseId, ownConversation, readConversation,
  type OpenConversation
} from './conversations.ts'
import { followResponse, nextAppend } from './follow.ts'
import type { AiBudgets } from './budgets.ts'
import { historyOf, toolMessage } from './history.ts'
import { runResponse } from './loop.ts'
import type { AssistantMetrics } from './metrics.ts'
import { isEnd, parsePartId, type PartPlace } from './parts.ts'
import { responseBudget, UNBUDGETED, type ResponseBudget, type ResponseFacts } from './response-budget.ts'
import { functionsOf } from './tool-format.ts'
import type { AiConfig } from '../../config.ts'
import { ResponseWriter, type PartListener } from './writer.ts'

/** The quota check H2's AiQuotas makes: throws `ai.quota_exceeded` when the caller is over a limit. */
export interface QuotaGate { admit(orgId: string, userId: string, now: Date): Promise<void> }

export interface AssistantDeps {
  readonly store: EventStore
  readonly sql: SqlExecutor
  readonly queue: StreamQueue
  readonly states: StateCache
  readonly config: AiConfig
  readonly client: OpenAI | undefined
  readonly tools: Pick<ToolPipeline, 'available' | 'call'>
  readonly metrics: AssistantMetrics
  readonly logger: Logger
  /** Prices and token estimates: read when a response is charged. */
  readonly pricing: () => UsagePricing
  /** The quota gate, when usage limits are wired. */
  readonly quotas: () => QuotaGate | undefined
  /** The monthly budgets every model request reserves against, when wired. */
  readonly budgets: () => AiBudgets | undefined
  /** This node's name, recorded on the responses it generates. */
  readonly node: string
  /** How often a follower or a generating node looks at the store when no append was announced. */
  readonly pollMs?: number
}

export interface AskRequest {
  readonly orgId: string
  readonly conversationId: string
  readonly caller: ToolCaller
  /** The message; null continues after tool approvals. */
  readonly text: string | null
  readonly metadata: CommandMetadata
}

/** A response this node generates. */
export interface Running {
  readonly responseId: string
  readonly writer: ResponseWriter
  /** Ends the generation: the upstream request is aborted, the response recorded aborted and charged. */
  abort(reason: AbortReason): void
  /** Settles when the response has ended and its usage is recorded. */
  readonly done: Promise<unknown>
}

export class Assistant {
  readonly #running = new Map<string, Running>()

  constructor (readonly deps: AssistantDeps) {}

  get configured (): boolean {
    return this.deps.client !== undefined
  }

  async create (orgId: string, ownerId: string, metadata: CommandMetadata) {
    const conversationId = newConversationId()
    const { model } = this.deps.config
    await this.#execute(conversationId, { type: 'StartConversation', data: { conversationId, orgId, ownerId, model } }, metadata)
    return { conversationId, model }
  }

  list (orgId: string, ownerId: string, page: { limit: number, cursor?: string | undefined }) {
    return listConversations(this.deps.sql, orgId, ownerId, page)
  }

  async show (orgId: string, userId: string, conversationId: string) {
    const { state, events, times } = await ownConversation(this.deps.store, orgId, userId, conversationId)
    return conversationView(state, events, times)
  }

  /** Starts a response; `listener` gets its parts live from the first (its start) to `end`. */
  async ask (request: AskRequest, listener?: PartListener, arrivedAt = performance.now()): Promise<Running> {
    const client = this.deps.client
    if (client === undefined) throw new AiNotConfigured()
    const { orgId, conversationId, caller } = request
    const { state, events } = await this.#settleAbandoned(conversationId,
      await ownConversation(this.deps.store, orgId, caller.userId, conversationId), request.metadata)
    await this.deps.quotas()?.admit(orgId, caller.userId, request.metadata.now)
    const resolved = request.text === null ? await this.#resolved(state, events) : []
    const responseId = newResponseId()
    const message = request.text === null ? null : { messageId: newMessageId(), text: request.text }
    const { model } = state.conversation
    // The first request's messages, known before anything is written: the budget holds their estimate first.
    const asking: ConversationEvent[] = message === null
      ? []
      : [{ type: 'ai.message.added', data: { ...message, chars: message.text.length } }]
    const history = historyOf([...events, ...asking], new Set(resolved.map(({ toolCallId }) => toolCallId)))
    const tools = functionsOf(await this.deps.tools.available(orgId, caller))
    const budget = this.#budgetOf({ orgId, conversationId, responseId, model, startedAt: request.metadata.now })
    await budget.hold([...history, ...resolved.map(({ toolCallId, part }) => toolMessage(toolCallId, part))], tools)
    const asked = await this.#execute(conversationId, {
      type: 'Ask', data: { message, responseId, model, node: this.deps.node }
    }, request.metadata).catch(async (error: unknown) => {
      await budget.settle(0)
      throw error
    })
    const execute = (command: ConversationCommand) => this.#execute(conversationId, command, fresh(request.metadata))
    const writer = new ResponseWriter(responseId, execute, this.deps.config.chunkIntervalMs)
    if (listener !== undefined) writer.listen(listener)
    writer.started(asked.at(-1)!)
    const controller = new AbortController()
    const watching = new AbortController()
    const done = runResponse({
      client, tools: this.deps.tools, pricing: this.deps.pricing(), metrics: this.deps.metrics, logger: this.deps.logger,
      maxSteps: this.deps.config.maxSteps, idleTimeoutMs: this.deps.config.upstreamIdleTimeoutMs,
      maxOutputTokens: this.deps.config.maxOutputTokens
    }, {
      orgId, conversationId, ownerId: state.conversation.ownerId, model, caller,
      metadata: () => fresh(request.metadata), history, resolved, writer, tools, budget,
      execute, signal: controller.signal, arrivedAt
    }).finally(() => {
      watching.abort()
      this.#running.delete(conversationId)
    })
    const running: Running = { responseId, writer, abort: (reason) => controller.abort(reason), done }
    this.#running.set(conversationId, running)
    void this.#watchStop(conversationId, responseId, controller, watching.signal)
    return running
  }

  /** Asks the response streaming in the conversation to stop; the node generating it (this one or another) aborts it. */
  async stop (orgId: string, userId: string, conversationId: string, metadata: CommandMetadata) {
    const before = await ownConversation(this.deps.store, orgId, userId, conversationId)
    const { state } = await this.#settleAbandoned(conversationId, before, metadata)
    const streaming = before.state.active?.responseId
    // Its node was gone: it is recorded aborted now, which is what the stop asked for.
    if (streaming !== undefined && state.active === null) return { conversationId, responseId: streaming, status: 'stopping' as const }
    const responseId = state.active?.responseId
    await this.#execute(conversationId, { type: 'RequestStop', data: { by: userId } }, metadata)
    this.#running.get(conversationId)?.abort('stopped')
    return { conversationId, responseId: responseId ?? null, status: 'stopping' as const }
  }

  /**
   * The response to follow and where from: the one `lastEventId` names, after it; without one, the response streaming
   * now, from its start. Undefined when there is nothing to follow (no response streams and no id was given).
   */
  async follow (
    orgId: string, userId: string, conversationId: string, lastEventId: string | undefined, signal: AbortSignal, metadata: CommandMetadata
  ) {
    const settle = async (): Promise<Owned> =>
      this.#settleAbandoned(conversationId, await ownConversation(this.deps.store, orgId, userId, conversationId), metadata)
    const { state } = await settle()
    let after: PartPlace | undefined
    if (lastEventId !== undefined) after = parsePartId(lastEventId)
    const responseId = after?.responseId ?? state.active?.responseId
    if (responseId === undefined || (after !== undefined && !Object.hasOwn(state.charged, responseId))) return undefined
    return followResponse(this.deps.store, {
      streamId: conversationStreamId(conversationId), responseId, after, signal, pollMs: this.deps.pollMs ?? 250,
      silence: { afterMs: this.deps.config.abandonedAfterMs, settle: async () => { await settle() } }
    })
  }

  /** Aborts every response this node generates (shutdown) and waits for them to be recorded. */
  async close (): Promise<void> {
    const running = [...this.#running.values()]
    for (const response of running) response.abort('abandoned')
    await Promise.allSettled(running.map((response) => response.done))
  }

  /** The outcomes of the calls the last response waited for, as parts; refused while one still waits or runs. */
  async #resolved (state: OpenConversation, events: readonly ConversationEvent[]) {
    const toolCallIds = new Map<string, string>()
    for (const event of events) {
      if (event.type !== 'ai.response.chunk') continue
      for (const part of event.data.parts) {
        if (part.type === 'tool-approval-request') toolCallIds.set(String(part.approvalId), String(part.toolCallId))
      }
    }
    const resolved: Array<{ toolCallId: string, part: UiPart }> = []
    for (const callId of state.pendingCallIds) {
      const toolCallId = toolCallIds.get(callId) ?? callId
      const { state: call } = await readState(this.deps.store, toolCallDecider, toolCallStreamId(callId), this.deps.states)
      resolved.push({ toolCallId, part: outcomePart(toolCallId, callId, call.status) })
    }
    return resolved
  }

  /** Aborts the response when a stop is recorded for it (from any node), until `signal` aborts. */
  async #watchStop (conversationId: string, responseId: string, controller: AbortController, signal: AbortSignal): Promise<void> {
    const streamId = conversationStreamId(conversationId)
    let version = await this.deps.store.streamVersion(streamId).catch(() => 0n)
    try {
      while (!signal.aborted) {
        await nextAppend(this.deps.store, this.deps.pollMs ?? 250, signal)
        if (signal.aborted) return
        for (const event of await this.deps.store.readStream(streamId, { fromVersion: version })) {
          version = event.streamVersion
          if (event.type === 'ai.response.stop_requested' && (event.data as { responseId: string }).responseId === responseId) {
            controller.abort('stopped')
            return
          }
        }
      }
    } catch (error) {
      this.deps.logger.warn({ err: error, conversationId }, 'stopped watching a response for a stop')
    }
  }

  /**
   * A response whose node died never ends by itself, and its conversation would refuse every new message. So a response
   * still streaming that no loop of this node runs, whose conversation has been silent for `abandonedAfterMs`, is
   * recorded aborted (`abandoned`); and a response that ended without its usage
   * record (its node died in between) as long ago is charged. The charge is the estimate: the history it was sent and
   * what it streamed. Whoever asks, stops or resumes next does it; a race with another node doing the same is harmless
   * (the decider refuses the second). Answers the conversation as it stands after.
   */
  async #settleAbandoned (conversationId: string, owned: Owned, metadata: CommandMetadata, now = Date.now()): Promise<Owned> {
    const { state, events, times } = owned
    const threshold = this.deps.config.abandonedAfterMs
    const startedAt = new Map<string, number>()
    const endedAt = new Map<string, number>()
    events.forEach((event, index) => {
      if (event.type === 'ai.response.started') startedAt.set(event.data.responseId, index)
      else if (isEnd(event)) endedAt.set((event.data as { responseId: string }).responseId, times[index]!.getTime())
    })
    const active = state.active
    const running = this.#running.has(conversationId)
    const silentFor = now - (times.at(-1)?.getTime() ?? now)
    // Silence only, not "started by this node's name and not running here": two runtimes of one process share a name.
    const abandoned = active !== null && !running && silentFor >= threshold
    const uncharged = Object.entries(state.charged)
      .filter(([responseId, charged]) =>
        !charged && responseId !== active?.responseId && now - (endedAt.get(responseId) ?? now) >= threshold)
      .map(([responseId]) => responseId)
    if (!abandoned && uncharged.length === 0) return owned
    const command = (type: 'abort' | 'charge', responseId: string): ConversationCommand => type === 'abort'
      ? { type: 'AbortResponse', data: { responseId, reason: 'abandoned' } }
      : { type: 'RecordUsage', data: abandonedUsage(this.deps.pricing(), events, startedAt.get(responseId) ?? 0, responseId, {
        conversationId, orgId: state.conversation.orgId, userId: state.conversation.ownerId, model: state.conversation.model }) }
    const steps: Array<['abort' | 'charge', string]> = [
      ...(abandoned ? [['abort', active.responseId], ['charge', active.responseId]] as Array<['abort' | 'charge', string]> : []),
      ...uncharged.map((responseId): ['abort' | 'charge', string] => ['charge', responseId])
    ]
    for (const [type, responseId] of steps) {
      try {
        const written = await this.#execute(conversationId, command(type, responseId), fresh(metadata))
        const usage = written.find((event) => event.type === 'ai.usage.recorded')
        if (usage !== undefined) {
          this.deps.metrics.tokens(usage.data)
          await this.deps.budgets()?.settle(responseId, usage.data.costMicros)
        }
      } catch (error) {
        // Another node settled it first (or its own node came back to it): the decider refused the repeat.
        if (!(error instanceof LedgerlineError)) throw error
      }
    }
    this.deps.logger.warn({ conversationId, abandoned: abandoned ? active.responseId : undefined, uncharged },
      'settled a response whose node is gone')
    return ownConversation(this.deps.store, state.conversation.orgId, state.conversation.ownerId, conversationId)
  }

  /**
   * Reconciles the reservations held past their expiry from the log: a response whose usage is recorded settles to
   * it; one that never started releases its hold; one whose node is gone is settled as abandoned (its estimate
   * recorded, then settled to); one still running somewhere keeps its hold a while longer. Answers how many it saw.
   */
  async reconcileBudgets (now = new Date()): Promise<number> {
    const budgets = this.deps.budgets()
    if (budgets === undefined) return 0
    const expired = await budgets.expired(now)
    for (const { responseId, conversationId, orgId } of expired) {
      const owned = await readConversation(this.deps.store, conversationId)
      const recorded = owned?.events.find((event) => event.type === 'ai.usage.recorded' && event.data.responseId === responseId)
      if (recorded?.type === 'ai.usage.recorded') {
        await budgets.settle(responseId, recorded.data.costMicros)
        continue
      }
      if (owned === undefined || !Object.hasOwn(owned.state.charged, responseId)) {
        await budgets.settle(responseId, 0)
        continue
      }
      await this.#settleAbandoned(conversationId, owned, { ...systemCommand('ai-budgets', now), orgId }, now.getTime())
      await budgets.extend(responseId, now)
    }
    return expired.length
  }

  #budgetOf (facts: ResponseFacts): ResponseBudget {
    const budgets = this.deps.budgets()
    return budgets === undefined
      ? UNBUDGETED
      : responseBudget(budgets, this.deps.pricing(), this.deps.config.maxOutputTokens, facts)
  }

  async #execute (conversationId: string, command: ConversationCommand, metadata: CommandMetadata): Promise<ConversationEvent[]> {
    const streamId = conversationStreamId(conversationId)
    const result = await this.deps.queue.run(streamId, () =>
      handleCommand(this.deps.store, conversationDecider, streamId, command, metadata, { cache: this.deps.states }))
    return result.events
  }
}

type Owned = Awaited<ReturnType<typeof ownConversation>>

/** An abandoned response's estimated usage: the history it was sent (events before its start), and what it streamed. */
function abandonedUsage (
  pricing: UsagePricing, events: readonly ConversationEvent[], start: number, responseId: string,
  facts: Omit<Parameters<typeof usageOf>[2], 'responseId'>
): UsageRecorded {
  let output = ''
  for (const event of events.slice(start)) {
    if (event.type !== 'ai.response.chunk' || event.data.responseId !== responseId) continue
    for (const part of event.data.parts) {
      if (part.type === 'text-delta') output += String(part.delta ?? '')
      else if (part.type === 'tool-input-available') output += JSON.stringify(part.input ?? null)
    }
  }
  const step = { messages: historyOf(events.slice(0, start)), tools: [], output, provider: undefined }
  return usageOf(pricing, [step], { ...facts, responseId })
}

/** The request's metadata for one more command: a new command id, the time now. */
function fresh (metadata: CommandMetadata): CommandMetadata {
  return { ...metadata, commandId: crypto.randomUUID(), now: new Date() }
}

/**
 * What the model and the client are told of an approved or denied call. Its output went to the caller who approved it
 * (the tool-call route) and is not stored, so the model learns that it succeeded, not what it returned.
 */
function outcomePart (toolCallId: string, callId: string, status: string): UiPart {
  switch (status) {
    case 'succeeded': return { type: 'tool-output-available', toolCallId, output: { status: 'succeeded', approved: true } }
    case 'denied': return { type: 'tool-output-denied', toolCallId }
    case 'failed':
    case 'timed_out': return { type: 'tool-output-error', toolCallId, errorText: `tool.${status}: the approved call did not succeed` }
    default: throw new ApprovalPending(undefined, { callId, status })
  }
}
