/**
 * Policy test cases: whom each case is about, and the cases refused before
 * any runs because they would otherwise deny for the wrong reason.
 */
import t from 'tap'
import { PolicyCases, principalsOf, runCases, type PolicyCaseInput } from './cases.ts'
import { Policy } from './policy.ts'

const members: Record<string, string[]> = { ann: ['owner'], uma: ['role_audit', 'viewer'] }
const subjects = {
  hasRole: (roleId: string) => ['owner', 'admin', 'member', 'viewer', 'role_audit'].includes(roleId),
  memberRoles: (userId: string) => (Object.hasOwn(members, userId) ? members[userId] : undefined)
}
const cases = (...input: PolicyCaseInput[]) => PolicyCases.parse(input)
const check = { action: 'audit:export', resource: { type: 'organization' }, expect: 'allow' as const }
const refusal = (fn: () => unknown): unknown => {
  try {
    fn()
  } catch (error) {
    return error
  }
  return undefined
}

t.test('a case naming a member holds their roles; roles given are held as given; none, the role under test', async (t) => {
  const given = cases({ ...check, principal: { id: 'uma' } }, { ...check, principal: { id: 'x', roles: ['admin'] } },
    { ...check, principal: { roles: ['viewer'] } }, check)
  t.strictSame(principalsOf(given, subjects, 'role_audit'), [
    { id: 'uma', roles: ['role_audit', 'viewer'] },
    { id: 'x', roles: ['admin'] },
    { id: 'tester', roles: ['viewer'] },
    { id: 'tester', roles: ['role_audit'] }
  ])
  const policy = new Policy([
    { roleId: 'role_audit', grants: [{ actions: ['audit:export'], resource: '*', effect: 'allow' }] }, { roleId: 'viewer', grants: [] }
  ])
  const results = runCases(policy, given, principalsOf(given, subjects, 'role_audit'))
  t.strictSame(results.map((result) => result.got), ['allow', 'deny', 'deny', 'allow'],
    'uma exports through her custom role; a viewer alone does not')
})

t.test('cases that cannot run as written are refused, every one named', async (t) => {
  t.match(refusal(() => principalsOf(cases(check, { ...check, principal: {} }, { ...check, principal: { id: 'ann' } }), subjects)),
    { code: 'rbac.case_without_principal', status: 400, details: { cases: [0, 1] } }, 'no principal, and no role under test')
  t.match(refusal(() => principalsOf(cases({ ...check, principal: { roles: ['viewer', 'role_gone', 'Admin'] } }), subjects)),
    { code: 'rbac.case_unknown_role', status: 400, details: { cases: [{ case: 0, roles: ['role_gone', 'Admin'] }] } })
  t.match(refusal(() => principalsOf(cases({ ...check, principal: { id: 'ann' } }, { ...check, principal: { id: 'zed' } }), subjects)),
    { code: 'rbac.case_unknown_member', status: 400, details: { cases: [{ case: 1, userId: 'zed' }] } })
  t.match(refusal(() => principalsOf(cases({ ...check, action: 'audit:exprt', principal: { id: 'ann' } }), subjects)),
    { code: 'rbac.unknown_action', status: 400, details: { cases: [{ case: 0, action: 'audit:exprt' }] } })
  t.equal(refusal(() => principalsOf(cases({ ...check, principal: { id: 'ann' } }), subjects)), undefined,
    'a member needs no role under test')
})

t.test('at 1 case, 500 (the most) and beyond', async (t) => {
  for (const size of [1, 499, 500]) {
    t.equal(principalsOf(cases(...Array.from({ length: size }, () => ({ ...check, principal: { id: 'uma' } }))), subjects).length, size)
  }
  t.notOk(PolicyCases.safeParse(Array.from({ length: 501 }, () => check)).success, '501 cases are too many')
  t.notOk(PolicyCases.safeParse([]).success, 'and none is too few')
  const many = cases(...Array.from({ length: 500 }, (_, i) => ({ ...check, principal: { id: i % 2 === 0 ? 'uma' : 'nobody' } })))
  t.match(refusal(() => principalsOf(many, subjects)), { details: { cases: { length: 250 } } },
    'every unknown member among 500 cases is named')
})
