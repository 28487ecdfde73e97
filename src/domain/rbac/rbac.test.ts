/**
 * Conditions and policies: examples of every operator, the limits, and
 * properties — the compiled clause programs agree with the reference interpreter on
 * random trees and inputs; deny always wins; removing an allow never widens
 * access; `explain` agrees with `can`.
 */
import fc from 'fast-check'
import t from 'tap'
import { caught } from '../../../test/helpers/assertions.ts'
import { LIMITS, compileCondition, parseCondition, type Condition, type EvaluationInput, type Operand } from './conditions.ts'
import { ipInCidr, ipv4Number, parseCidr, parseIp } from './ip.ts'
import { LEDGERLINE_CATALOGUE } from './permissions.ts'
import { Policy, type Grant, type Resource, type RoleDefinition } from './policy.ts'
import { evaluate } from './reference.ts'
import { formattedMinutes, minutesOfDay } from './time.ts'

const input = (resource: Record<string, unknown> = {}, context: EvaluationInput['context'] = {},
  principal = { id: 'u1', roles: ['clerk'] }): EvaluationInput =>
  ({ principal, resource, context })
const check = (condition: unknown, i: EvaluationInput): boolean => {
  const parsed = parseCondition(condition)
  const compiled = compileCondition(parsed)(i)
  if (compiled !== evaluate(parsed, i).result) throw new Error(`compiled and reference disagree on ${JSON.stringify(condition)}`)
  return compiled
}
const r = (ref: string) => ({ ref })

t.test('every operator, on examples', async (t) => {
  const i = input({ amount: 999, currency: 'EUR', tags: ['urgent', 'q4'], createdBy: 'u1', owner: { team: 'ops' } },
    { ip: '10.1.2.3', time: '2026-03-02T08:30:00Z', mfa: true })
  t.ok(check({ lt: [r('resource.amount'), 1000] }, i), 'invoices under 1,000')
  t.notOk(check({ gte: [r('resource.amount'), 1000] }, i))
  t.ok(check({ eq: [r('resource.createdBy'), r('principal.id')] }, i), 'that they created')
  t.ok(check({ ne: [r('resource.currency'), 'USD'] }, i))
  t.ok(check({ in: [r('resource.currency'), ['EUR', 'GBP']] }, i))
  t.ok(check({ nin: [r('resource.currency'), ['USD']] }, i))
  t.ok(check({ contains: [r('resource.tags'), 'urgent'] }, i))
  t.ok(check({ contains: [r('resource.currency'), 'UR'] }, i), 'a substring of a string')
  t.ok(check({ startsWith: [r('resource.currency'), 'E'] }, i))
  t.ok(check({ exists: r('resource.owner.team') }, i), 'nested attributes')
  t.notOk(check({ exists: r('resource.approvedBy') }, i))
  t.ok(check({ ipInCidr: [r('context.ip'), '10.0.0.0/8'] }, i), 'from the office network')
  t.notOk(check({ ipInCidr: [r('context.ip'), '192.168.0.0/16'] }, i))
  t.ok(check({ ipInCidr: ['::ffff:10.1.2.3', '10.0.0.0/8'] }, i), 'IPv4-mapped IPv6 is IPv4')
  t.ok(check({ ipInCidr: ['2001:db8::1', '2001:db8::/32'] }, i))
  t.notOk(check({ ipInCidr: ['2001:db9::1', '2001:db8::/32'] }, i))
  t.notOk(check({ ipInCidr: ['not an ip', '10.0.0.0/8'] }, i))
  t.ok(check({ timeBetween: [r('context.time'), '08:00', '18:00'] }, i), 'office hours, UTC')
  t.ok(check({ timeBetween: [r('context.time'), '09:00', '18:00', 'Europe/Paris'] }, i), '09:30 in Paris')
  t.ok(check({ timeBetween: [r('context.time'), '22:00', '09:00'] }, i), 'a window across midnight')
  t.ok(check({ eq: [r('context.mfa'), true] }, i))
  t.ok(check({ and: [{ lt: [r('resource.amount'), 1000] }, { eq: [r('resource.createdBy'), r('principal.id')] },
    { ipInCidr: [r('context.ip'), '10.0.0.0/8'] }] }, i),
    'the issue\'s example: under 1,000 EUR, created by them, from the office network')
  t.ok(check({ or: [{ eq: [1, 2] }, { not: { eq: [1, 2] } }] }, i))
})

t.test('a missing attribute makes every comparison false, and not() of it true', async (t) => {
  const i = input({})
  for (const op of ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'nin', 'contains', 'startsWith']) {
    t.notOk(check({ [op]: [r('resource.missing'), op === 'in' || op === 'nin' ? ['x'] : 'x'] }, i), `${op} with a missing attribute`)
  }
  t.ok(check({ not: { eq: [r('resource.missing'), 'x'] } }, i))
  t.notOk(check({ exists: r('resource.constructor') }, i), 'prototype members are not attributes')
})

t.test('bad and oversized conditions are refused with rbac.invalid_condition', async (t) => {
  const deep = (n: number): unknown => (n === 0 ? { eq: [1, 1] } : { not: deep(n - 1) })
  t.doesNotThrow(() => parseCondition(deep(LIMITS.depth - 1)), 'at the depth limit')
  const cases: Array<[string, unknown, RegExp]> = [
    ['too deep', deep(LIMITS.depth + 1), /deeper than/],
    ['too many clauses', { and: Array.from({ length: LIMITS.nodes + 1 }, () => ({ eq: [1, 1] })) }, /clauses|too_big|at most/i],
    ['an unknown reference', { eq: [r('principal.password'), 'x'] }, /reference/],
    ['an unknown operator', { matches: ['a', 'b'] }, /invalid condition/],
    ['a bad CIDR', { ipInCidr: [r('context.ip'), '10.0.0.0/33'] }, /CIDR/],
    ['a bad time', { timeBetween: [r('context.time'), '25:00', '18:00'] }, /HH:MM|invalid/],
    ['a bad time zone', { timeBetween: [r('context.time'), '08:00', '18:00', 'Mars/Olympus'] }, /time zone|invalid/],
    ['two operators in one node', { eq: [1, 1], ne: [1, 2] }, /invalid condition/],
    ['not an object', 'true', /invalid condition/]
  ]
  for (const [name, condition, message] of cases) {
    const error = caught(() => parseCondition(condition)) as { code?: string, message?: string }
    t.equal(error?.code, 'rbac.invalid_condition', name)
    t.match(error?.message, message, `${name}: ${error?.message}`)
  }
})

// ── generators ────────────────────────────────────────────────────────────

const REFS = ['principal.id', 'principal.roles', 'resource.amount', 'resource.owner', 'resource.tags', 'resource.nested.value',
  'context.ip', 'context.time', 'context.mfa', 'context.impersonating']
const scalar = fc.oneof(fc.constantFrom('a', 'b', 'u1', '10.0.0.1', ''), fc.integer({ min: -5, max: 5 }), fc.boolean(), fc.constant(null))
const operand: fc.Arbitrary<Operand> = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }),
  fc.constantFrom(...REFS).map((ref) => ({ ref })))
const comparison = fc.tuple(fc.constantFrom('eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'nin', 'contains', 'startsWith'), operand, operand)
  .map(([op, a, b]) => ({ [op]: [a, b] }) as Condition)
const leafCondition: fc.Arbitrary<Condition> = fc.oneof(
  { weight: 6, arbitrary: comparison },
  { weight: 1, arbitrary: fc.constantFrom(...REFS).map((ref) => ({ exists: { ref } })) },
  { weight: 1, arbitrary: fc.tuple(operand, fc.constantFrom('10.0.0.0/8', '0.0.0.0/0', '2001:db8::/32')).map(([op, cidr]) =>
    ({ ipInCidr: [op, cidr] }) as Condition) },
  { weight: 1, arbitrary: fc.tuple(operand, fc.constantFrom('08:00', '22:00'), fc.constantFrom('18:00', '06:00'),
    fc.constantFrom('UTC', 'Europe/Paris')).map(([op, from, to, zone]) => ({ timeBetween: [op, from, to, zone] }) as Condition) }
)
const condition: fc.Arbitrary<Condition> = fc.letrec<{ node: Condition }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 5, arbitrary: leafCondition },
    { weight: 1, arbitrary: fc.array(tie('node'), { minLength: 1, maxLength: 3 }).map((parts) => ({ and: parts })) },
    { weight: 1, arbitrary: fc.array(tie('node'), { minLength: 1, maxLength: 3 }).map((parts) => ({ or: parts })) },
    { weight: 1, arbitrary: tie('node').map((inner) => ({ not: inner })) }
  )
})).node
const evaluationInput: fc.Arbitrary<EvaluationInput> = fc.record({
  principal: fc.record({ id: fc.constantFrom('u1', 'u2', 'a'), roles: fc.array(fc.constantFrom('clerk', 'a', 'b'), { maxLength: 2 }) }),
  resource: fc.record({ amount: scalar, owner: scalar, tags: fc.array(scalar, { maxLength: 3 }),
    nested: fc.record({ value: scalar }, { requiredKeys: [] }) }, { requiredKeys: [] }),
  context: fc.record({
    ip: fc.constantFrom('10.1.2.3', '192.168.1.1', '2001:db8::5', '::ffff:10.9.9.9', 'garbage'),
    time: fc.oneof(fc.integer({ min: 0, max: 2 * 86_400_000 }), fc.constantFrom('2026-03-02T08:30:00Z', 'not a time')),
    mfa: fc.boolean(),
    impersonating: fc.boolean()
  }, { requiredKeys: [] })
})

t.test('the compiled clause programs agree with the reference interpreter on random conditions and inputs', async (t) => {
  fc.assert(fc.property(condition, evaluationInput, (tree, i) => {
    let parsed: Condition
    try {
      parsed = parseCondition(tree)
    } catch {
      return true // over a limit: refused, nothing to compare
    }
    return compileCondition(parsed)(i) === evaluate(parsed, i).result
  }), { numRuns: 3000 })
  t.pass('held on 3,000 random cases')
})

const ACTIONS = ['invoice:read', 'invoice:update', 'member:invite', 'audit:export']
const grant: fc.Arbitrary<Grant> = fc.record({
  actions: fc.array(fc.constantFrom(...ACTIONS, 'invoice:*', '*'), { minLength: 1, maxLength: 2 }),
  resource: fc.constantFrom('*', 'invoice', 'invoice/42', 'invoice/4*', 'member'),
  effect: fc.constantFrom('allow' as const, 'deny' as const),
  when: fc.option(condition, { nil: undefined })
}, { requiredKeys: ['actions', 'resource', 'effect'] }).filter((g) => {
  try {
    if (g.when !== undefined) parseCondition(g.when)
    return true
  } catch {
    return false
  }
})
const roles: fc.Arbitrary<RoleDefinition[]> = fc.array(fc.array(grant, { maxLength: 4 }), { minLength: 1, maxLength: 3 })
  .map((sets) => sets.map((grants, index) => ({ roleId: `r${index}`, grants })))
const resource: fc.Arbitrary<Resource> = fc.record({ type: fc.constantFrom('invoice', 'member'), id: fc.constantFrom('42', '43', '7'),
  amount: scalar, owner: scalar })

/** The rule, written as plainly as possible: any holding deny denies; otherwise any holding allow allows. */
function referenceCan (
  policy: RoleDefinition[], principal: { id: string, roles: string[] }, action: string, res: Resource, context: EvaluationInput['context']
): boolean {
  const i = { principal, resource: res, context }
  const actionMatches = (pattern: string): boolean => pattern === '*' || pattern === action ||
    (pattern.endsWith(':*') && action.startsWith(pattern.slice(0, -1)))
  const resourceMatches = (pattern: string): boolean => {
    if (pattern === '*') return true
    const [type, id] = pattern.split('/')
    if (id === undefined) return res.type === type
    return res.type === type && (id.endsWith('*') ? String(res.id).startsWith(id.slice(0, -1)) : res.id === id)
  }
  const holding = policy.filter((role) => principal.roles.includes(role.roleId)).flatMap((role) => role.grants)
    .filter((g) => g.actions.some(actionMatches) && resourceMatches(g.resource) && (g.when === undefined || evaluate(g.when, i).result))
  return !holding.some((g) => g.effect === 'deny') && holding.some((g) => g.effect === 'allow')
}

const principalOf = fc.record({ id: fc.constantFrom('u1', 'u2'), roles: fc.subarray(['r0', 'r1', 'r2']) })

t.test('can() agrees with a plain reading of the rules, and explain() with can()', async (t) => {
  fc.assert(fc.property(roles, principalOf, fc.constantFrom(...ACTIONS), resource, evaluationInput.map((i) => i.context),
    (policy, principal, action, res, context) => {
    const compiled = new Policy(policy)
    const decided = compiled.can(principal, action, res, context)
    return decided === referenceCan(policy, principal, action, res, context) &&
      compiled.explain(principal, action, res, context).allowed === decided
  }), { numRuns: 2000 })
  t.pass('held on 2,000 random cases')
})

t.test('deny always wins: adding an unconditional matching deny to any role the principal holds denies', async (t) => {
  fc.assert(fc.property(roles, principalOf.filter((p) => p.roles.length > 0), fc.constantFrom(...ACTIONS), resource,
    (policy, principal, action, res) => {
    const target = policy.findIndex((role) => principal.roles.includes(role.roleId))
    if (target === -1) return true
    const denied = policy.map((role, index) => index === target ? { ...role,
      grants: [...role.grants, { actions: [action], resource: '*', effect: 'deny' as const }] } : role)
    return !new Policy(denied).can(principal, action, res, {})
  }), { numRuns: 1000 })
  t.pass('held on 1,000 random cases')
})

t.test('removing an allow never widens access', async (t) => {
  fc.assert(fc.property(roles, principalOf, fc.constantFrom(...ACTIONS), resource, fc.nat(), (policy, principal, action, res, pick) => {
    const allows = policy.flatMap((role, r) => role.grants.map((g, i) => [r, i, g] as const)).filter(([, , g]) => g.effect === 'allow')
    if (allows.length === 0) return true
    const [ri, gi] = allows[pick % allows.length]!
    const narrowed = policy.map((role, index) => index === ri ? { ...role, grants: role.grants.filter((_, i) => i !== gi) } : role)
    return !new Policy(narrowed).can(principal, action, res, {}) || new Policy(policy).can(principal, action, res, {})
  }), { numRuns: 1000 })
  t.pass('held on 1,000 random cases')
})

t.test('a principal checked again, for other actions, or after its roles array changed in place, gets the answers a fresh one gets',
  async (t) => {
  const step = fc.tuple(fc.constantFrom(...ACTIONS, 'invoice:*', ''), resource,
    fc.option(fc.subarray(['r0', 'r1', 'r2', 'r0']), { nil: undefined }))
  fc.assert(fc.property(roles, fc.array(step, { minLength: 1, maxLength: 24 }), (policy, steps) => {
    const compiled = new Policy(policy)
    const principal = { id: 'u1', roles: [] as string[] }
    return steps.every(([action, res, held]) => {
      if (held !== undefined) principal.roles.splice(0, principal.roles.length, ...held)
      const expected = referenceCan(policy, { id: 'u1', roles: [...principal.roles] }, action, res, {})
      return compiled.can(principal, action, res, {}) === expected && compiled.can(principal, action, res, {}) === expected
    })
  }), { numRuns: 1000 })
  t.pass('held on 1,000 random sequences')
})

t.test('more role sets and actions than a policy keeps change no answer', async (t) => {
  const ids = Array.from({ length: 11 }, (_, i) => `r${i}`)
  const policy: RoleDefinition[] = ids.map((roleId, i) => ({
    roleId,
    grants: [
      { actions: ['*'], resource: 'invoice', effect: i % 4 === 0 ? 'deny' : 'allow', when: { gte: [r('resource.amount'), i * 100] } },
      { actions: ['invoice:read'], resource: 'invoice/4*', effect: 'allow' }
    ]
  }))
  const compiled = new Policy(policy)
  let checks = 0
  let agreed = 0
  /** Checks `times` times over, as a caller keeping the array would: it gets remembered. */
  const check = (principal: { id: string, roles: string[] }, action: string, res: Resource, times = 1): void => {
    const expected = referenceCan(policy, principal, action, res, {})
    for (let i = 0; i < times; i++) {
      checks++
      agreed += Number(compiled.can(principal, action, res) === expected)
    }
  }
  const subset = (mask: number) => ({ id: 'u1', roles: ids.filter((_, i) => (mask & (1 << i)) !== 0) })
  const invoice = (n: number): Resource => ({ type: 'invoice', id: String(n), amount: (n * 37) % 1200 })
  // Principals whose arrays live on while the caches are dropped, twice over.
  const all = { id: 'u1', roles: [...ids] }
  const some = subset(0b10110)
  check(all, 'invoice:read', invoice(41))
  check(some, 'invoice:read', invoice(41))
  for (let mask = 0; mask < 1200; mask++) {
    const principal = subset(mask)
    check(principal, `invoice:verb${mask % 300}`, invoice(mask), 20)
    check(principal, 'invoice:read', invoice(mask), 20)
  }
  for (let mask = 0; mask < 100; mask++) check(subset(mask), `invoice:verb${mask % 300}`, invoice(mask))
  // 12,000 actions for every role: more program than a policy keeps.
  for (let n = 0; n < 12_000; n++) check(all, `invoice:verb${n}`, invoice(n))
  check(all, 'invoice:read', invoice(41))
  check(some, 'invoice:read', invoice(41))
  check(some, 'invoice:verb7', invoice(7))
  t.equal(agreed, checks, `all ${checks} answers agree: 1,200 role sets remembered, then 12,000 actions`)
})

t.test('the IPv4 reader of the check path accepts exactly the dotted quads the parser does, and ipInCidr agrees with the reference',
  async (t) => {
  const octet = fc.oneof(fc.nat({ max: 300 }).map(String), fc.constantFrom('00', '01', '010', '0', '255', '256', '1000', '', 'a', ' 1',
    '1 '))
  const address = fc.oneof(
    fc.array(octet, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('.')),
    fc.string({ maxLength: 20 }),
    fc.constantFrom('::ffff:10.1.2.3', '::ffff:192.168.1.1', '2001:db8::1', '::1', '10.1.2.3\n', '１０.1.2.3', '::ffff:a01:203', '1.2.3.4::',
      '::1.2.3.4')
  )
  const block = fc.constantFrom('10.0.0.0/8', '0.0.0.0/0', '10.1.2.3/32', '192.168.0.0/16', '128.0.0.0/1', '2001:db8::/32', '::/0',
    '::ffff:10.0.0.0/104', '::ffff:0:0/96', '::/80', '::/81')
  fc.assert(fc.property(address, block, (text, cidrText) => {
    const parsed = parseIp(text)
    const expected = parsed !== undefined && !text.includes(':') ? Number(parsed & 0xffffffffn) : undefined
    const reference = evaluate({ ipInCidr: [text, cidrText] }, input()).result
    return ipv4Number(text) === expected && ipInCidr(text, parseCidr(cidrText)!) === reference
  }), { numRuns: 5000 })
  t.pass('held on 5,000 random cases')
})

t.test('explain names the deciding grant, its role, and the clause that failed', async (t) => {
  const policy = new Policy([
    { roleId: 'clerk', grants: [{ actions: ['invoice:update'], resource: 'invoice', effect: 'allow',
      when: { and: [{ lt: [r('resource.amount'), 1000] }, { eq: [r('resource.createdBy'), r('principal.id')] }] } }] },
    { roleId: 'auditor', grants: [{ actions: ['invoice:*'], resource: '*', effect: 'deny',
      when: { eq: [r('context.impersonating'), true] } }] }
  ])
  const clerk = { id: 'u1', roles: ['clerk', 'auditor'] }
  const small = { type: 'invoice', id: '1', amount: 500, createdBy: 'u1' }
  t.same(policy.explain(clerk, 'invoice:update', small), { allowed: true, reason: 'allowed',
    deciding: [{ roleId: 'clerk', grant: 0, effect: 'allow' }], failedConditions: [{ roleId: 'auditor', grant: 0, effect: 'deny',
      clause: 'eq' }] })
  const big = policy.explain(clerk, 'invoice:update', { ...small, amount: 5000 })
  t.match(big, { allowed: false, reason: 'no_matching_grant', failedConditions: [{ roleId: 'clerk', grant: 0, clause: 'and.0.lt' }] })
  t.match(policy.explain(clerk, 'invoice:update', small, { impersonating: true }),
    { allowed: false, reason: 'denied', deciding: [{ roleId: 'auditor', effect: 'deny' }] })
  t.equal(policy.can(clerk, 'invoice:delete', small), false, 'default deny: no grant names the action')
})

t.test('the catalogue: every action is <resource>:<verb>, built-in roles are made of it, patterns expand', async (t) => {
  const { actions: CATALOGUE, builtInRoleGrants: BUILT_IN_ROLE_GRANTS } = LEDGERLINE_CATALOGUE
  for (const definition of CATALOGUE) t.match(definition.action, /^[a-z]+:[a-z]+$/, definition.action)
  t.equal(new Set(CATALOGUE.map((d) => d.action)).size, CATALOGUE.length, 'no duplicates')
  for (const [role, actions] of Object.entries(BUILT_IN_ROLE_GRANTS)) {
    t.ok(actions.every((action) => CATALOGUE.some((d) => d.action === action)), `${role} holds only catalogue actions`)
  }
  t.notOk(BUILT_IN_ROLE_GRANTS.admin.some((action) => CATALOGUE.find((d) => d.action === action)!.ownerOnly),
    'admins hold no owner-only action')
  t.same(BUILT_IN_ROLE_GRANTS.owner.length, CATALOGUE.length, 'owners hold everything')
  t.ok(LEDGERLINE_CATALOGUE.isKnownPattern('role:*'))
  t.notOk(LEDGERLINE_CATALOGUE.isKnownPattern('rocket:*'))
  t.same(LEDGERLINE_CATALOGUE.expand('audit:*'), ['audit:read', 'audit:export', 'audit:configure'])
})

t.test('timeBetween: the minutes of day kept per zone and quarter hour agree with formatting the time there', async (t) => {
  const zones = ['Europe/Paris', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/St_Johns', 'Pacific/Chatham',
    'Africa/Monrovia', 'UTC']
  const from = Date.UTC(1960, 0, 1)
  const to = Date.UTC(2100, 0, 1)
  fc.assert(fc.property(fc.constantFrom(...zones), fc.integer({ min: from, max: to }), fc.integer({ min: 0, max: 3 * 60 * 60_000 }),
    (zone, start, step) => {
    // A time, then one a little later: the second may reuse the first's quarter hour, or cross a transition.
    for (const ms of [start, start + step]) {
      const expected = zone === 'UTC' ? new Date(ms).getUTCHours() * 60 + new Date(ms).getUTCMinutes() : formattedMinutes(ms, zone)
      if (minutesOfDay(ms, zone) !== expected) return false
    }
    return true
  }), { numRuns: 5000 })
  // Around the transitions themselves, minute by minute: Paris, Lord Howe (a 30-minute shift) and St John's (at half past a UTC hour) in
  // 2026.
  for (const [zone, at] of [['Europe/Paris', Date.UTC(2026, 2, 29, 1)], ['Europe/Paris', Date.UTC(2026, 9, 25, 1)],
    ['Australia/Lord_Howe', Date.UTC(2026, 3, 4, 15)], ['America/St_Johns', Date.UTC(2026, 2, 8, 5, 30)]] as const) {
    const wrong = []
    for (let ms = at - 90 * 60_000; ms <= at + 90 * 60_000; ms += 60_000) if (minutesOfDay(ms, zone) !== formattedMinutes(ms,
      zone)) wrong.push(new Date(ms).toISOString())
    t.same(wrong, [], `${zone} around ${new Date(at).toISOString()}`)
  }
})
