/**
 * The contract's rules, as registration enforces them, and what the log keeps
 * of an input.
 */
import fc from 'fast-check'
import t from 'tap'
import { z } from 'zod'
import { LEDGERLINE_CATALOGUE } from '../rbac/permissions.ts'
import { contractProblems, jsonSchemasOf, needsApproval, retryDelay, type AnyToolContract } from './contract.ts'
import { MAX_INPUT_BYTES, REDACTED, redactInput } from './redact.ts'

const valid: AnyToolContract = {
  name: 'members.remove',
  title: 'Remove a member',
  description: 'Removes a member',
  input: z.object({ userId: z.string() }).strict(),
  output: z.object({ position: z.string().nullable() }).strict(),
  permission: { action: 'member:remove', resource: (_input, { orgId }) => ({ type: 'organization', id: orgId }) },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  timeoutMs: 1000,
  retries: 1,
  approval: 'always',
  examples: [{ input: { userId: 'usr_1' }, output: { position: null } }]
}
const problems = (changes: Partial<AnyToolContract>): string[] => contractProblems({ ...valid, ...changes }, LEDGERLINE_CATALOGUE)

t.test('a declaration that follows every rule has no problem', async (t) => {
  t.same(problems({}), [])
})

t.test('a destructive tool needs approval, always or by a function of its input; never is refused', async (t) => {
  t.same(problems({ approval: 'never' }), ['a destructive tool needs approval (always, or a function of its input)'])
  t.same(problems({ approval: (input: { userId: string }) => input.userId !== 'usr_self' }), [])
  t.same(problems({ approval: 'never', annotations: { ...valid.annotations, destructiveHint: false } }), [],
    'a tool that is not destructive may run at once')
})

t.test('retries are for idempotent tools only, at most 3', async (t) => {
  t.same(problems({ annotations: { ...valid.annotations, idempotentHint: false } }), ['only an idempotent tool may be retried'])
  t.same(problems({ annotations: { ...valid.annotations, idempotentHint: false }, retries: 0 }), [])
  t.same(problems({ retries: 4 }), ['retries must be a whole number from 0 to 3'])
  t.same(problems({ retries: 1.5 }), ['retries must be a whole number from 0 to 3'])
})

t.test('every annotation is stated; a read-only tool is not destructive', async (t) => {
  const { openWorldHint: _left, ...three } = valid.annotations
  t.same(problems({ annotations: three as never }), ['every annotation must be stated: openWorldHint'])
  t.same(problems({ annotations: { ...valid.annotations, readOnlyHint: true } }), ['a read-only tool cannot be destructive'])
})

t.test('names follow MCP\'s rules: [A-Za-z0-9_.-], 1 to 128 characters', async (t) => {
  t.same(problems({ name: 'a'.repeat(128) }), [])
  t.same(problems({ name: 'a'.repeat(129) }), ['the name must match [A-Za-z0-9_.-]{1,128}'])
  for (const name of ['', 'members remove', 'members/remove', 'mémbers']) t.ok(problems({ name }).length === 1, JSON.stringify(name))
  t.same(problems({ title: ' ', description: '' }), ['a title is required', 'a description is required'])
})

t.test('the permission is a catalogue action; the timeout is from 1 ms to 2 minutes', async (t) => {
  t.same(problems({ permission: { ...valid.permission, action: 'member:obliterate' } }), ['its permission must be a catalogue action'])
  t.same(problems({ timeoutMs: 0 }), ['timeoutMs must be from 1 to 120000'])
  t.same(problems({ timeoutMs: 120_001 }), ['timeoutMs must be from 1 to 120000'])
  t.same(problems({ timeoutMs: 120_000 }), [])
})

t.test('schemas are JSON objects in JSON Schema 2020-12, and the examples pass them', async (t) => {
  const schemas = jsonSchemasOf(valid)
  t.equal(schemas.inputSchema.$schema, 'https://json-schema.org/draft/2020-12/schema')
  t.match(schemas.inputSchema, { type: 'object', required: ['userId'], additionalProperties: false })
  t.same(problems({ input: z.string() }), ['the input schema must describe a JSON object', 'example 0: its input fails the input schema'])
  t.same(problems({ output: z.object({ at: z.date() }) }).length, 1, 'a schema JSON cannot say is refused')
  t.same(problems({ examples: [] }), ['at least one example is required'])
  t.same(problems({ examples: [{ input: {}, output: { position: 1 } }] }),
    ['example 0: its input fails the input schema', 'example 0: its output fails the output schema'])
})

t.test('approval is asked from the declaration and the parsed input alone', async (t) => {
  t.equal(needsApproval({ ...valid, approval: 'never' }, { userId: 'a' }), false)
  t.equal(needsApproval(valid, { userId: 'a' }), true)
  const some = { ...valid, approval: (input: { userId: string }) => input.userId.startsWith('usr_owner') }
  t.equal(needsApproval(some, { userId: 'usr_owner1' }), true)
  t.equal(needsApproval(some, { userId: 'usr_2' }), false)
})

t.test('the backoff doubles from its base up to its cap, drawn under that ceiling', async (t) => {
  const backoff = { baseMs: 100, capMs: 500 }
  t.same([1, 2, 3, 4].map((attempt) => retryDelay(attempt, backoff, 1 - Number.EPSILON)), [99, 199, 399, 499])
  t.equal(retryDelay(3, backoff, 0), 0)
  const draw = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })
  fc.assert(fc.property(fc.integer({ min: 1, max: 50 }), draw, (attempt, random) => {
    const delay = retryDelay(attempt, backoff, random)
    return Number.isInteger(delay) && delay >= 0 && delay < 500
  }))
})

t.test('the log keeps no secret of an input: by key, by the look of the value, and the tool\'s own', async (t) => {
  const input = {
    email: 'ada@example.com', password: 'hunter2hunter2', nested: { apiKey: 'k', list: [{ clientSecret: 's' }], Authorization: 'x' },
    note: 'lli_abcdefghijklmnop', stripe: 'sk_live_123', header: 'Bearer abc', pin: '1234'
  }
  const { value, kept } = redactInput(input, ['pin'])
  t.equal(kept, false)
  t.same(value, {
    email: 'ada@example.com', password: REDACTED, nested: { apiKey: REDACTED, list: [{ clientSecret: REDACTED }], Authorization: REDACTED },
    note: REDACTED, stripe: REDACTED, header: REDACTED, pin: REDACTED
  })
  t.same(redactInput({ userId: 'usr_1', roles: ['admin'] }), { value: { userId: 'usr_1', roles: ['admin'] }, kept: true })
})

t.test('the log keeps a bounded input: long strings, long lists and large inputs are cut, and say so', async (t) => {
  t.same(redactInput({ note: 'x'.repeat(1000) }).kept, true, '1,000 characters are kept')
  t.same(redactInput({ note: 'x'.repeat(1001) }), { value: { note: `${'x'.repeat(1000)}…` }, kept: false })
  t.equal((redactInput({ list: Array.from({ length: 101 }, (_, i) => i) }).value as { list: unknown[] }).list.length, 100)
  const large = redactInput({ list: Array.from({ length: 100 }, () => 'y'.repeat(200)) })
  t.equal(large.kept, false)
  t.same(Object.keys(large.value as object), ['[truncated]'], 'replaced by its size')
  t.ok(((large.value as Record<string, { bytes: number }>)['[truncated]']!).bytes > MAX_INPUT_BYTES)
  t.same(redactInput(undefined), { value: '[undefined]', kept: false }, 'garbage is recorded as what it was')
})
