/**
 * Every response's usage, whatever its end: the provider's figures when every
 * step reported them, else our estimate for the steps that did not (input
 * counted with a tokenizer over what was sent, output over what streamed),
 * marked `estimate`. Cost from the price table, in integer micro-USD.
 */
import type { UsageRecorded } from '../../domain/assistant/events.ts'
import { costMicros, type PriceTable } from './pricing.ts'
import { estimateInputTokens, estimateTokens } from './tokens.ts'
import type { UpstreamMessage, UpstreamTool } from './upstream.ts'

export interface TokenUsage { readonly inputTokens: number, readonly outputTokens: number, readonly cachedInputTokens: number }

/** What accounting needs of prices and tokenizers (src/application/assistant/pricing.ts and tokens.ts). */
export interface UsagePricing {
  estimateTokens(text: string): number
  estimateInputTokens(messages: ReadonlyArray<{ role: string, content: string }>, tools?: unknown): number
  costMicros(model: string, usage: TokenUsage): number
}

/** One step of a response as accounting sees it. */
export interface StepUsage {
  readonly messages: readonly UpstreamMessage[]
  readonly tools: readonly UpstreamTool[]
  /** What streamed back: text and tool arguments. */
  output: string
  provider: TokenUsage | undefined
}

/** Messages as plain role/content pairs, for the input estimate. */
export function plainMessages (messages: readonly UpstreamMessage[]): Array<{ role: string, content: string }> {
  return messages.map((message) => {
    const content = typeof message.content === 'string' ? message.content : JSON.stringify(message.content ?? '')
    const calls = 'tool_calls' in message && message.tool_calls !== undefined ? JSON.stringify(message.tool_calls) : ''
    return { role: message.role, content: content + calls }
  })
}

export function usageOf (
  pricing: UsagePricing, steps: readonly StepUsage[],
  facts: Pick<UsageRecorded, 'responseId' | 'conversationId' | 'orgId' | 'userId' | 'model'>
): UsageRecorded {
  let inputTokens = 0
  let outputTokens = 0
  let cachedInputTokens = 0
  let estimated = false
  for (const step of steps) {
    if (step.provider !== undefined) {
      inputTokens += step.provider.inputTokens
      outputTokens += step.provider.outputTokens
      cachedInputTokens += step.provider.cachedInputTokens
      continue
    }
    estimated = true
    inputTokens += pricing.estimateInputTokens(plainMessages(step.messages), step.tools.length === 0 ? undefined : step.tools)
    outputTokens += pricing.estimateTokens(step.output)
  }
  const usage = { inputTokens, outputTokens, cachedInputTokens: Math.min(cachedInputTokens, inputTokens) }
  return {
    ...facts, ...usage, source: estimated ? 'estimate' : 'provider', costMicros: pricing.costMicros(facts.model, usage), currency: 'USD'
  }
}

/** Accounting over a price table, with the tokenizer of the response's model. */
export function pricingOf (prices: PriceTable): UsagePricing {
  return {
    estimateTokens: (text) => estimateTokens(text),
    estimateInputTokens: (messages, tools) => estimateInputTokens(messages, tools),
    costMicros: (model, usage) => costMicros(prices, model, usage)
  }
}
