/**
 * The documented examples are true: every operator has one, each is a valid
 * new condition, and `can()` allows its "holds" check and refuses its
 * "fails" check (as an allow, and the other way round as a deny).
 */
import t from 'tap'
import { CONDITION_EXAMPLES, EXAMPLE_PRINCIPAL, type ExampleCheck } from './condition-examples.ts'
import { GRAMMAR, parseConditionInput, type Condition } from './conditions.ts'
import { Policy } from './policy.ts'

const decide = (when: Condition, effect: 'allow' | 'deny', check: ExampleCheck): { can: boolean, explained: boolean } => {
  // A deny needs an allow beside it to have something to refuse.
  const grants = effect === 'allow'
    ? [{ actions: ['invoice:read'], resource: 'invoice', effect, when }]
    : [
        { actions: ['invoice:read'], resource: 'invoice', effect: 'allow' as const },
        { actions: ['invoice:read'], resource: 'invoice', effect, when }
      ]
  const policy = new Policy([{ roleId: 'role_example', grants }])
  const principal = { id: check.principalId ?? EXAMPLE_PRINCIPAL, roles: ['role_example'] }
  const resource = { type: 'invoice', id: 'inv_1', ...check.resource }
  return {
    can: policy.can(principal, 'invoice:read', resource, check.context),
    explained: policy.explain(principal, 'invoice:read', resource, check.context).allowed
  }
}

t.test('every operator of the grammar has a worked example', async (t) => {
  const covered = new Set(CONDITION_EXAMPLES.map((example) => example.operator))
  t.same(Object.keys(GRAMMAR).filter((op) => !covered.has(op as keyof typeof GRAMMAR)), [], 'operators without an example')
  for (const example of CONDITION_EXAMPLES) {
    t.same(Object.keys(example.condition), [example.operator], `${example.operator}: the example is of its operator`)
  }
})

t.test('each example is a valid condition that holds on its first check and not on its second, through can() and explain()', async (t) => {
  for (const example of CONDITION_EXAMPLES) {
    const when = parseConditionInput(example.condition)
    t.same(decide(when, 'allow', example.holds), { can: true, explained: true }, `${example.operator}: ${example.title}: holds`)
    t.same(decide(when, 'allow', example.fails), { can: false, explained: false }, `${example.operator}: ${example.title}: fails`)
    t.same(decide(when, 'deny', example.holds), { can: false, explained: false },
      `${example.operator}: as a deny, it refuses where it holds`)
    t.same(decide(when, 'deny', example.fails), { can: true, explained: true }, `${example.operator}: as a deny, it lets the rest through`)
  }
})
