/**
 * Policy tests against an organization's policy as it stands: the use case
 * behind `POST /v1/orgs/:orgId/roles/:roleId/test` and `ledgerline rbac test`.
 * Cases naming a member hold that member's roles.
 */
import { principalsOf, runCases, type CaseResult, type PolicyCaseData } from '../../domain/rbac/cases.ts'
import { RoleNotFound } from '../../domain/rbac/roles.ts'
import type { PolicySnapshots } from './policies.ts'

export interface PolicyTestReport {
  readonly passed: number
  readonly failed: number
  readonly results: CaseResult[]
}

/**
 * Runs the cases; with `roleUnderTest` (which must exist: `rbac.role_not_found`), a case naming no principal holds
 * that role. Throws, before running any, when a case cannot run as written (see src/domain/rbac/cases.ts).
 */
export async function testPolicy (
  policies: PolicySnapshots, orgId: string, cases: readonly PolicyCaseData[], roleUnderTest?: string
): Promise<PolicyTestReport> {
  const snapshot = await policies.snapshotOf(orgId)
  if (roleUnderTest !== undefined && !snapshot.hasRole(roleUnderTest)) throw new RoleNotFound(undefined, { roleId: roleUnderTest })
  const principals = principalsOf(cases, {
    hasRole: snapshot.hasRole,
    memberRoles: (userId) => (snapshot.isMember(userId) ? snapshot.rolesOf(userId) : undefined),
    catalogue: policies.catalogue
  }, roleUnderTest)
  const results = runCases(snapshot.policy, cases, principals)
  const passed = results.filter((result) => result.passed).length
  return { passed, failed: results.length - passed, results }
}
