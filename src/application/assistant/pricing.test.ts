/**
 * Prices: integer micro-USD, rounded up, cached input at its own rate, dated
 * snapshots priced as their model, unknown models at `*`; AI_PRICES parsed
 * strictly. Properties: a cost is an integer ≥ 0, 0 tokens cost 0, and it
 * never falls when any token count rises.
 */
import fc from 'fast-check'
import t from 'tap'
import { costMicros, DEFAULT_PRICES, parsePrices, priceOf, type PriceTable } from './pricing.ts'

const table: PriceTable = new Map([
  ['m', { inputMicrosPerMillion: 2_500_000, cachedInputMicrosPerMillion: 1_250_000, outputMicrosPerMillion: 10_000_000 }],
  ['*', { inputMicrosPerMillion: 1_000_000, cachedInputMicrosPerMillion: 1_000_000, outputMicrosPerMillion: 1_000_000 }]
])

t.test('a million tokens of each kind cost the table\'s rates exactly', async (t) => {
  t.equal(costMicros(table, 'm', { inputTokens: 1_000_000, cachedInputTokens: 0, outputTokens: 0 }), 2_500_000)
  t.equal(costMicros(table, 'm', { inputTokens: 1_000_000, cachedInputTokens: 1_000_000, outputTokens: 0 }), 1_250_000)
  t.equal(costMicros(table, 'm', { inputTokens: 0, cachedInputTokens: 0, outputTokens: 1_000_000 }), 10_000_000)
  t.equal(costMicros(table, 'm', { inputTokens: 1_000_000, cachedInputTokens: 400_000, outputTokens: 1_000_000 }),
    600_000 * 2.5 + 400_000 * 1.25 + 10_000_000)
})

t.test('a fraction of a micro-unit is rounded up, never down', async (t) => {
  t.equal(costMicros(table, 'm', { inputTokens: 1, cachedInputTokens: 0, outputTokens: 0 }), 3, '2.5 micros → 3')
  t.equal(costMicros(table, 'm', { inputTokens: 0, cachedInputTokens: 0, outputTokens: 1 }), 10)
  t.equal(costMicros(table, 'm', { inputTokens: 400, cachedInputTokens: 0, outputTokens: 0 }), 1000, 'exact: no rounding')
  t.equal(costMicros(table, 'm', { inputTokens: 401, cachedInputTokens: 0, outputTokens: 0 }), 1003, '1002.5 → 1003')
})

t.test('cached tokens beyond the input tokens are priced as input, not twice', async (t) => {
  t.equal(costMicros(table, 'm', { inputTokens: 10, cachedInputTokens: 50, outputTokens: 0 }),
    costMicros(table, 'm', { inputTokens: 10, cachedInputTokens: 10, outputTokens: 0 }))
})

t.test('a dated snapshot is priced as its model, an unknown model at *', async (t) => {
  t.equal(priceOf(DEFAULT_PRICES, 'gpt-4o-2024-08-06'), DEFAULT_PRICES.get('gpt-4o'))
  t.equal(priceOf(DEFAULT_PRICES, 'gpt-4o-mini'), DEFAULT_PRICES.get('gpt-4o-mini'))
  t.equal(priceOf(DEFAULT_PRICES, 'llama-3-70b'), DEFAULT_PRICES.get('*'))
  t.throws(() => priceOf(new Map(), 'x'), /no default entry/)
})

t.test('large bills stay exact past 2^53 intermediate products', async (t) => {
  const cost = costMicros(table, 'm', { inputTokens: 4_000_000_000, cachedInputTokens: 0, outputTokens: 3_000_000_001 })
  t.equal(cost, 4_000 * 2_500_000 + 30_000_000_010)
})

t.test('AI_PRICES replaces the entries it names and keeps the others', async (t) => {
  const prices = parsePrices(JSON.stringify({
    'gpt-4o': { inputMicrosPerMillion: 1, cachedInputMicrosPerMillion: 0, outputMicrosPerMillion: 2 },
    'my-model': { inputMicrosPerMillion: 3, cachedInputMicrosPerMillion: 3, outputMicrosPerMillion: 3 }
  }))
  t.same(prices.get('gpt-4o'), { inputMicrosPerMillion: 1, cachedInputMicrosPerMillion: 0, outputMicrosPerMillion: 2 })
  t.equal(prices.get('my-model')?.outputMicrosPerMillion, 3)
  t.equal(prices.get('gpt-4.1'), DEFAULT_PRICES.get('gpt-4.1'))
  t.equal(parsePrices(''), DEFAULT_PRICES, 'empty: the defaults')
  t.equal(parsePrices(undefined), DEFAULT_PRICES)
})

t.test('AI_PRICES refuses what it cannot price exactly', async (t) => {
  const entry = { inputMicrosPerMillion: 1, cachedInputMicrosPerMillion: 1, outputMicrosPerMillion: 1 }
  const bad: Array<[string, RegExp]> = [
    ['{', /not JSON/],
    ['[]', /AI_PRICES/],
    [JSON.stringify({ m: { ...entry, outputMicrosPerMillion: 1.5 } }), /m\.outputMicrosPerMillion/],
    [JSON.stringify({ m: { ...entry, inputMicrosPerMillion: -1 } }), /m\.inputMicrosPerMillion/],
    [JSON.stringify({ m: { ...entry, extra: 1 } }), /AI_PRICES: m/],
    [JSON.stringify({ m: { inputMicrosPerMillion: 1, outputMicrosPerMillion: 1 } }), /cachedInputMicrosPerMillion/],
    [JSON.stringify({ '': entry }), /AI_PRICES/],
    [JSON.stringify({ m: { ...entry, inputMicrosPerMillion: 1e13 } }), /m\.inputMicrosPerMillion/]
  ]
  for (const [json, message] of bad) t.throws(() => parsePrices(json), message, json)
})

const tokens = fc.integer({ min: 0, max: 2_000_000_000 })
const usage = fc.record({ inputTokens: tokens, outputTokens: tokens, cachedInputTokens: tokens })
const model = fc.constantFrom(...DEFAULT_PRICES.keys(), 'gpt-4o-2024-11-20', 'unknown-model')

t.test('a cost is a non-negative safe integer, and zero tokens cost zero', async (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(model, usage, (name, u) => {
    const cost = costMicros(DEFAULT_PRICES, name, u)
    return Number.isSafeInteger(cost) && cost >= 0
  })))
  t.doesNotThrow(() => fc.assert(fc.property(model,
    (name) => costMicros(DEFAULT_PRICES, name, { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 }) === 0)))
})

t.test('a cost never falls when the input, output or uncached input tokens rise', async (t) => {
  const more = fc.integer({ min: 1, max: 1_000_000 })
  t.doesNotThrow(() => fc.assert(fc.property(model, usage, more, (name, u, extra) => {
    const cost = costMicros(DEFAULT_PRICES, name, u)
    return costMicros(DEFAULT_PRICES, name, { ...u, outputTokens: u.outputTokens + extra }) >= cost &&
      costMicros(DEFAULT_PRICES, name, { ...u, inputTokens: u.inputTokens + extra }) >= cost &&
      // More of the input served from cache never costs more: the cached rate is never above the input rate.
      costMicros(DEFAULT_PRICES, name, { ...u, cachedInputTokens: u.cachedInputTokens + extra }) <= cost
  })))
})

t.test('the configuration reads AI_PRICES at start-up and refuses a bad one there', async (t) => {
  const { loadConfig } = await import('../../config.ts')
  const entry = { inputMicrosPerMillion: 7, cachedInputMicrosPerMillion: 7, outputMicrosPerMillion: 7 }
  t.equal(loadConfig({ NODE_ENV: 'test', AI_PRICES: JSON.stringify({ '*': entry }) }).ai.prices.get('*')?.outputMicrosPerMillion, 7)
  t.equal(loadConfig({ NODE_ENV: 'test' }).ai.prices, DEFAULT_PRICES)
  let message = 'did not throw'
  try {
    loadConfig({ NODE_ENV: 'test', AI_PRICES: '{"m": 1}' })
  } catch (error) {
    message = (error as Error).message
  }
  t.match(message, /invalid configuration:[\s\S]*AI_PRICES: .*m .*expected object/)
})
