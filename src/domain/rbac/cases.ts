/**
 * Policy tests: cases `{ principal, action, resource, context, expect }` run
 * against a policy, each failure reported with `explain()`'s account of it.
 * The HTTP route (one role under test) and `ledgerline rbac test` share this.
 *
 * A case's principal is a member (`principal.id`: their roles in the
 * organization, resolved), or roles (`principal.roles`, with an id for
 * conditions that read it). A case that names neither holds the role under
 * test where there is one, and is refused where there is none; so are cases
 * naming a role the organization does not have, someone who is not a member,
 * or an action the catalogue does not have: each would otherwise be a deny
 * that passes or fails for the wrong reason.
 */
import { z } from 'zod'
import { domainError } from '../errors.ts'
import { LEDGERLINE_CATALOGUE, UnknownAction, type Catalogue } from './permissions.ts'
import type { Decision, Policy } from './policy.ts'

const Attribute = z.union([z.string().max(1000), z.number(), z.boolean(), z.null(),
  z.array(z.union([z.string().max(1000), z.number(), z.boolean(), z.null()])).max(100)])

export const PolicyCase = z.object({
  name: z.string().max(200).optional(),
  principal: z.object({
    id: z.string().min(1).max(64).optional().describe('a member, whose roles the case holds unless roles are given'),
    roles: z.array(z.string().max(64)).max(50).optional().describe('the roles the case holds (built-in names or custom role ids)')
  }).strict().optional(),
  action: z.string().regex(/^[a-z][a-z0-9_]{0,63}:[a-z*][a-z0-9_]{0,63}$/, '<resource>:<verb>'),
  resource: z.object({ type: z.string().min(1).max(64), id: z.string().max(200).optional() }).catchall(Attribute),
  context: z.object({
    ip: z.string().max(64).optional(),
    time: z.union([z.iso.datetime({ offset: true }), z.number().int()]).optional(),
    mfa: z.boolean().optional(),
    impersonating: z.boolean().optional()
  }).strict().default({}),
  expect: z.enum(['allow', 'deny'])
}).strict()
export type PolicyCaseInput = z.input<typeof PolicyCase>
export type PolicyCaseData = z.output<typeof PolicyCase>
export const PolicyCases = z.array(PolicyCase).min(1).max(500)

/** Cases that cannot run as written, each named by its position (from 0) and, when it has one, its name. */
export class CaseWithoutPrincipal extends domainError('rbac.case_without_principal', 400,
  'a case must name its principal: a member (principal.id) or roles (principal.roles)') {}
export class CaseUnknownRole extends domainError('rbac.case_unknown_role', 400, 'a case names a role the organization does not have') {}
export class CaseUnknownMember extends domainError('rbac.case_unknown_member', 400,
  'a case names someone who is not a member of the organization (give principal.roles to test anyone)') {}

/** What the cases may name: the organization's roles and members, and the catalogue's actions. */
export interface CaseSubjects {
  hasRole(roleId: string): boolean
  /** A member's roles, or undefined for someone who is not a member. */
  memberRoles(userId: string): readonly string[] | undefined
  /** The catalogue the actions must be in; Ledgerline's own (no host actions) when absent. */
  readonly catalogue?: Catalogue
}

export interface CaseResult {
  readonly name: string
  readonly passed: boolean
  readonly expected: 'allow' | 'deny'
  readonly got: 'allow' | 'deny'
  /** Why the policy decided as it did (the grants that decided, the clauses that failed), for every case. */
  readonly explanation: Decision
}

interface Principal { readonly id: string, readonly roles: readonly string[] }

/**
 * The principal of each case, or the error naming every case that cannot
 * run. `roleUnderTest` is what a case naming no principal holds.
 */
export function principalsOf (cases: readonly PolicyCaseData[], subjects: CaseSubjects, roleUnderTest?: string): Principal[] {
  const without: number[] = []
  const unknownRoles: Array<{ case: number, roles: string[] }> = []
  const unknownMembers: Array<{ case: number, userId: string }> = []
  const unknownActions: Array<{ case: number, action: string }> = []
  const catalogue = subjects.catalogue ?? LEDGERLINE_CATALOGUE
  const principals = cases.map((c, index): Principal => {
    if (catalogue.definition(c.action) === undefined) unknownActions.push({ case: index, action: c.action })
    const { id, roles } = c.principal ?? {}
    if (roles !== undefined) {
      const unknown = roles.filter((roleId) => !subjects.hasRole(roleId))
      if (unknown.length > 0) unknownRoles.push({ case: index, roles: unknown })
      return { id: id ?? 'tester', roles }
    }
    if (id !== undefined) {
      const held = subjects.memberRoles(id)
      if (held === undefined) unknownMembers.push({ case: index, userId: id })
      return { id, roles: held ?? [] }
    }
    if (roleUnderTest === undefined) without.push(index)
    return { id: 'tester', roles: roleUnderTest === undefined ? [] : [roleUnderTest] }
  })
  if (unknownActions.length > 0) throw new UnknownAction('cases name actions the catalogue does not have (GET /v1/permissions lists them)',
    { cases: unknownActions })
  if (without.length > 0) throw new CaseWithoutPrincipal(undefined, { cases: without })
  if (unknownRoles.length > 0) throw new CaseUnknownRole(undefined, { cases: unknownRoles })
  if (unknownMembers.length > 0) throw new CaseUnknownMember(undefined, { cases: unknownMembers })
  return principals
}

/** Runs each case as `principals` (from `principalsOf`) say. */
export function runCases (policy: Policy, cases: readonly PolicyCaseData[], principals: readonly Principal[]): CaseResult[] {
  return cases.map((c, index) => {
    const principal = principals[index]!
    const resource = { ...c.resource, type: c.resource.type }
    const allowed = policy.can(principal, c.action, resource, c.context)
    const got = allowed ? 'allow' : 'deny'
    const name = c.name ?? `case ${index + 1}: ${c.action} on ${c.resource.type}${c.resource.id === undefined ? '' : `/${c.resource.id}`}`
    // Every case is explained, a passing one too: which grant allowed it, or which clause kept a grant from applying.
    const explanation = policy.explain(principal, c.action, resource, c.context)
    return { name, passed: got === c.expect, expected: c.expect, got, explanation }
  })
}
