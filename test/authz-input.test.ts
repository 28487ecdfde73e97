/**
 * The fast pre-check of authz/check bodies is sound: whatever it accepts, the
 * zod schema accepts unchanged. Random bodies near the valid ones (every
 * field sometimes wrong in kind, size or shape) and arbitrary JSON values.
 */
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import t from 'tap'
import { CheckBody, isPlainCheckBody } from '../src/http/routes/authz-input.ts'

const text = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.constantFrom('billing:read', 'invoice:*', 'Billing:read', 'a:b:c', '', 'usr_1', 'x'.repeat(64), 'x'.repeat(65), 'x'.repeat(200),
    'x'.repeat(201), 'y'.repeat(1000), 'y'.repeat(1001),
    '2026-03-02T10:15:00+01:00', '2026-03-02T10:15:00Z', '2026-03-02T10:15:00', '2026-13-02T10:15:00Z', '10.1.2.3', 'user id')
)
/** Mostly `good`, sometimes anything from `bad`: bodies near the valid ones. */
const mostly = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 12, arbitrary: good }, { weight: 1, arbitrary: bad })
const scalar = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(),
  fc.constant(null))
const oddScalar = fc.oneof(text, fc.constant(2 ** 60), fc.constant(-0))
const value: fc.Arbitrary<unknown> = mostly(fc.oneof(scalar, fc.array(scalar, { maxLength: 3 })), fc.oneof(
  oddScalar,
  fc.array(fc.constant('z'), { minLength: 100, maxLength: 101 }),
  fc.array(fc.array(scalar, { maxLength: 1 }), { minLength: 1, maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 3 }), scalar, { maxKeys: 2 })
))
const resource = mostly(
  fc.record({ type: mostly(fc.constantFrom('invoice', 'organization'), text),
    id: mostly(fc.constantFrom('inv_1', 'x'.repeat(200)), fc.oneof(text, fc.integer())) }, { requiredKeys: ['type'] })
    .chain((base) =>
      fc.dictionary(fc.constantFrom('amount', 'region', 'tags', 'createdBy', 'constructor', 'type', 'id'), value, { maxKeys: 4 })
      .map((extra) => ({ ...base, ...extra }))),
  fc.oneof(value,
    fc.dictionary(fc.string({ maxLength: 2 }), fc.constant(1), { minKeys: 49, maxKeys: 52 }).map((extra) => ({ type: 'x', ...extra })))
)
const context = mostly(
  fc.record({
    ip: mostly(fc.constantFrom('10.1.2.3', '::1'), fc.oneof(text, fc.integer())),
    time: mostly(fc.oneof(fc.constantFrom('2026-03-02T10:15:00+01:00', '2026-03-02T10:15:00Z'), fc.integer({ min: 0 })),
      fc.oneof(text, fc.double(), fc.constant(2 ** 60))),
    mfa: mostly(fc.boolean(), text),
    impersonating: mostly(fc.boolean(), scalar)
  }, { requiredKeys: [] }),
  fc.oneof(value, fc.record({ extra: scalar }))
)
const check = mostly(
  fc.record({
    userId: mostly(fc.constantFrom('usr_abc', 'usr-1_2'), fc.oneof(text, fc.integer())),
    action: mostly(fc.constantFrom('billing:read', 'invoice:update', 'invoice:*'), text),
    resource,
    context
  }, { requiredKeys: ['action', 'resource'] }),
  fc.oneof(value, fc.record({ action: fc.constant('a:b'), resource: fc.constant({ type: 'x' }), other: scalar }),
    fc.record({ resource: fc.constant({ type: 'x' }) }))
)
const body = fc.oneof(
  { weight: 12, arbitrary: fc.array(check, { minLength: 1, maxLength: 3 }).map((checks) => ({ checks })) },
  { weight: 1,
    arbitrary: fc.constantFrom(0, 100, 101).chain((n) => fc.array(check, { minLength: n, maxLength: n })).map((checks) => ({ checks })) },
  { weight: 1, arbitrary: fc.record({ checks: fc.array(check, { maxLength: 2 }), more: scalar }) },
  { weight: 1, arbitrary: fc.anything() }
)

t.test('whatever the pre-check accepts, the schema accepts unchanged', async (t) => {
  let accepted = 0
  let refused = 0
  fc.assert(fc.property(body, (candidate) => {
    // Bodies arrive as parsed JSON: no undefined, no -0, only plain objects.
    const input: unknown = JSON.parse(JSON.stringify(candidate) ?? 'null')
    if (!isPlainCheckBody(input)) {
      refused++
      return true
    }
    accepted++
    const parsed = CheckBody.safeParse(input)
    return parsed.success && isDeepStrictEqual(parsed.data, input)
  }), { numRuns: 20_000 })
  t.ok(accepted > 1000 && refused > 1000, `both sides exercised: ${accepted} accepted, ${refused} left to zod`)
})

t.test('typical bodies take the fast path', async (t) => {
  const typical = {
    checks: [
      { userId: 'usr_abc', action: 'billing:read',
        resource: { type: 'invoice', id: 'inv_1', amount: 4200, tags: ['q1'], paid: false, note: null },
        context: { ip: '10.1.2.3', mfa: true, time: '2026-03-02T10:15:00+01:00' } },
      { action: 'member:invite', resource: { type: 'organization' }, context: { time: 1767225600000 } }
    ]
  }
  t.ok(isPlainCheckBody(typical))
  t.notOk(isPlainCheckBody({ checks: [{ action: 'member:invite', resource: { type: 'organization' }, context: { time: 'yesterday' } }] }),
    'a bad time goes to zod')
  t.notOk(isPlainCheckBody({ checks: [] }))
})
