/** Checks about actions outside the catalogue are refused, each named by its place in the batch. */
import fc from 'fast-check'
import t from 'tap'
import { LEDGERLINE_CATALOGUE } from './permissions.ts'

const CATALOGUE = LEDGERLINE_CATALOGUE.actions

const refusal = (checks: Array<{ action: string }>): { code?: string, message?: string,
  details?: { checks: Array<{ index: number, action: string }> } } | undefined => {
  try {
    LEDGERLINE_CATALOGUE.requireActions(checks)
    return undefined
  } catch (error) {
    return error as never
  }
}

t.test('known actions pass at 0, 1 and 100 checks; one unknown among them is named by its index', async (t) => {
  for (const size of [0, 1, 99, 100]) t.equal(refusal(Array.from({ length: size }, (_, i) =>
    ({ action: CATALOGUE[i % CATALOGUE.length]!.action }))), undefined, `${size} known`)
  for (const at of [0, 50, 99]) {
    const checks = Array.from({ length: 100 }, () => ({ action: 'member:read' }))
    checks[at] = { action: 'audit:exprt' }
    t.match(refusal(checks), { code: 'rbac.unknown_action', details: { checks: [{ index: at, action: 'audit:exprt' }] } })
  }
  t.match(refusal([{ action: 'audit:*' }]), { code: 'rbac.unknown_action' }, 'a pattern is not an action one can be checked for')
  t.match(refusal(Array.from({ length: 7 }, (_, i) => ({ action: `nope:a${i}` }))),
    { message: /#0 nope:a0, #1 nope:a1, #2 nope:a2, #3 nope:a3, #4 nope:a4, …$/, details: { checks: { length: 7 } } })
})

t.test('a batch is refused exactly when some action is unknown, and every unknown one is named', async (t) => {
  const action = fc.oneof(fc.constantFrom(...CATALOGUE.map((definition) => definition.action)),
    fc.constantFrom('audit:exprt', 'invoice:pay', 'member:*', 'x:y'))
  fc.assert(fc.property(fc.array(fc.record({ action }), { maxLength: 100 }), (checks) => {
    const unknown = checks.flatMap((check, index) => (CATALOGUE.some((definition) =>
      definition.action === check.action) ? [] : [{ index, action: check.action }]))
    const error = refusal(checks)
    return unknown.length === 0 ? error === undefined : JSON.stringify(error?.details?.checks) === JSON.stringify(unknown)
  }), { numRuns: 500 })
  t.pass('500 random batches of up to 100 checks')
})
