/**
 * What a response costs: a price per million tokens for each model, in integer
 * micro-units of the currency (USD), so sums never drift. Cached input tokens
 * are part of the input tokens and priced at the cached rate. A cost is
 * rounded up to the next micro-unit: we never charge less than the provider.
 *
 * The defaults are OpenAI's list prices; `AI_PRICES` (JSON, parsed at start-up)
 * replaces the entries it names. `*` prices every model the table does not know.
 */
import { z } from 'zod'

export interface ModelPrice {
  readonly inputMicrosPerMillion: number
  readonly cachedInputMicrosPerMillion: number
  readonly outputMicrosPerMillion: number
}

/** Model name → its price; the key `*` is the default for unknown models. */
export type PriceTable = ReadonlyMap<string, ModelPrice>

export interface TokenCounts {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly cachedInputTokens: number
}

/** US dollars per million tokens (input, cached input, output) → micro-dollars per million tokens. */
function usd (input: number, cachedInput: number, output: number): ModelPrice {
  const micros = (dollars: number): number => Math.round(dollars * 1_000_000)
  return { inputMicrosPerMillion: micros(input), cachedInputMicrosPerMillion: micros(cachedInput), outputMicrosPerMillion: micros(output) }
}

export const DEFAULT_PRICES: PriceTable = new Map<string, ModelPrice>([
  ['gpt-4o', usd(2.5, 1.25, 10)],
  ['gpt-4o-mini', usd(0.15, 0.075, 0.6)],
  ['gpt-4.1', usd(2, 0.5, 8)],
  ['gpt-4.1-mini', usd(0.4, 0.1, 1.6)],
  ['gpt-4.1-nano', usd(0.1, 0.025, 0.4)],
  ['gpt-5', usd(1.25, 0.125, 10)],
  ['gpt-5-mini', usd(0.25, 0.025, 2)],
  ['gpt-5-nano', usd(0.05, 0.005, 0.4)],
  ['o3', usd(2, 0.5, 8)],
  ['o4-mini', usd(1.1, 0.275, 4.4)],
  // An unknown model is priced like a large one: an overestimate is safer than a free model.
  ['*', usd(2.5, 1.25, 10)]
])

/** A dated snapshot (`gpt-4o-2024-08-06`) is priced as its model unless the table names the snapshot. */
const SNAPSHOT = /-\d{4}-\d{2}-\d{2}$/

export function priceOf (prices: PriceTable, model: string): ModelPrice {
  const price = prices.get(model) ?? prices.get(model.replace(SNAPSHOT, '')) ?? prices.get('*')
  if (price === undefined) throw new Error('the price table has no default entry (*)')
  return price
}

/**
 * The cost of `usage` in micro-units, an integer rounded up. Computed in
 * BigInt: tokens × micros per million overflow 2^53 long before a real bill does.
 */
export function costMicros (prices: PriceTable, model: string, usage: TokenCounts): number {
  const price = priceOf(prices, model)
  const cached = BigInt(Math.min(usage.cachedInputTokens, usage.inputTokens))
  const fresh = BigInt(usage.inputTokens) - cached
  const total = fresh * BigInt(price.inputMicrosPerMillion) +
    cached * BigInt(price.cachedInputMicrosPerMillion) +
    BigInt(usage.outputTokens) * BigInt(price.outputMicrosPerMillion)
  return Number((total + 999_999n) / 1_000_000n)
}

/** At most $1,000,000 per million tokens: a bound that catches a price typed in the wrong unit. */
const rate = z.number().int().min(0).max(1_000_000_000_000)
const priceSchema = z.object({
  inputMicrosPerMillion: rate, cachedInputMicrosPerMillion: rate, outputMicrosPerMillion: rate
}).strict()
const overridesSchema = z.record(z.string().min(1).max(200), priceSchema)

/**
 * `AI_PRICES`: a JSON object of model → price (micro-USD per million tokens), each entry replacing the
 * default's. Strict: an unknown field, a fraction or a negative rate is an error at start-up, not a silent zero.
 */
export function parsePrices (json: string | undefined, base: PriceTable = DEFAULT_PRICES): PriceTable {
  if (json === undefined || json.trim() === '') return base
  let raw: unknown
  try {
    raw = JSON.parse(json)
  } catch (error) {
    throw new Error(`AI_PRICES is not JSON: ${(error as Error).message}`)
  }
  const parsed = overridesSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new Error(`AI_PRICES: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'invalid'}`.trim())
  }
  return new Map([...base, ...Object.entries(parsed.data)])
}
