/**
 * Token estimates: the model's encoding where gpt-tokenizer knows it (cl100k
 * for GPT-4), o200k otherwise; input counts each message's role, content and
 * framing, plus the tool list when there is one.
 */
import fc from 'fast-check'
import t from 'tap'
import { estimateInputTokens, estimateTokens } from './tokens.ts'

t.test('text is counted with the model\'s encoding, o200k for models it does not know', async (t) => {
  t.equal(estimateTokens(''), 0)
  t.equal(estimateTokens('hello world'), 2)
  // The two encodings split this differently: the count shows which one ran.
  const text = 'Ledgerline\'s assistant façade: 東京 → naïve'
  const o200k = estimateTokens(text)
  const cl100k = estimateTokens(text, 'gpt-4')
  t.not(o200k, cl100k, 'gpt-4 is counted with cl100k')
  t.equal(estimateTokens(text, 'gpt-4o'), o200k, 'gpt-4o with o200k')
  t.equal(estimateTokens(text, 'some-other-vendor-model'), o200k, 'an unknown model with o200k')
})

t.test('input counts 3 tokens of framing per message, the role and content, and 3 to prime the answer', async (t) => {
  t.equal(estimateInputTokens([]), 3)
  const one = estimateInputTokens([{ role: 'user', content: 'hello world' }])
  t.equal(one, 3 + 3 + estimateTokens('user') + 2)
  t.equal(estimateInputTokens([{ role: 'user', content: 'hello world' }, { role: 'assistant', content: '' }]),
    one + 3 + estimateTokens('assistant'))
})

t.test('the tool list adds its JSON and its framing; an empty list adds nothing', async (t) => {
  const messages = [{ role: 'user', content: 'list members' }]
  const tools = [{ type: 'function', function: { name: 'members.list', description: 'Lists members', parameters: { type: 'object' } } }]
  const bare = estimateInputTokens(messages)
  t.equal(estimateInputTokens(messages, []), bare)
  t.equal(estimateInputTokens(messages, tools), bare + 12 + estimateTokens(JSON.stringify(tools)))
})

t.test('an estimate grows with the text: a longer message never counts fewer tokens', async (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.string({ maxLength: 200 }), fc.string({ maxLength: 200 }), (a, b) => {
    const count = estimateInputTokens([{ role: 'user', content: a }])
    return estimateInputTokens([{ role: 'user', content: a }, { role: 'user', content: b }]) >= count + 3 &&
      Number.isSafeInteger(count)
  }), { numRuns: 50 }))
})
