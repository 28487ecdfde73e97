/**
 * One response's hold on its organization's budget: before each model request
 * it reserves that request's estimate (the input it sends, counted with the
 * tokenizer, plus the output cap it sends as `max_tokens`, at the model's
 * prices), all against the month the response started in; its usage record
 * settles the whole hold to the recorded cost.
 */
import { utcMonth } from '../../domain/assistant/budget.ts'
import { plainMessages, type UsagePricing } from './accounting.ts'
import type { AiBudgets } from './budgets.ts'
import type { UpstreamMessage, UpstreamTool } from './upstream.ts'

export interface ResponseBudget {
  /** Reserves one more request's estimate, or throws `ai.budget_exhausted` (the request is not sent then). */
  hold(messages: readonly UpstreamMessage[], tools: readonly UpstreamTool[]): Promise<void>
  /** Settles the hold to what the response cost (0 releases it). */
  settle(costMicros: number): Promise<void>
}

export interface ResponseFacts {
  readonly orgId: string
  readonly conversationId: string
  readonly responseId: string
  readonly model: string
  /** When the response started: its month is the one it counts against. */
  readonly startedAt: Date
}

/** The estimate of one request: its input as our tokenizer counts it and its whole output cap, none of it cached. */
export function requestEstimate (
  pricing: UsagePricing, model: string, maxOutputTokens: number, messages: readonly UpstreamMessage[], tools: readonly UpstreamTool[]
): number {
  const inputTokens = pricing.estimateInputTokens(plainMessages(messages), tools.length === 0 ? undefined : tools)
  return pricing.costMicros(model, { inputTokens, outputTokens: maxOutputTokens, cachedInputTokens: 0 })
}

export function responseBudget (
  budgets: AiBudgets, pricing: UsagePricing, maxOutputTokens: number, facts: ResponseFacts
): ResponseBudget {
  const month = utcMonth(facts.startedAt)
  return {
    hold: (messages, tools) => budgets.reserve({
      orgId: facts.orgId, conversationId: facts.conversationId, responseId: facts.responseId, month, now: new Date(),
      estimateMicros: requestEstimate(pricing, facts.model, maxOutputTokens, messages, tools)
    }),
    settle: (costMicros) => budgets.settle(facts.responseId, costMicros)
  }
}

/** A response under no budget (the budgets are not wired): holds and settles nothing. */
export const UNBUDGETED: ResponseBudget = { hold: async () => {}, settle: async () => {} }
