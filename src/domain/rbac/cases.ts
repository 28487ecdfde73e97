/**
 * Policy tests: cases `{ principal, action, resource, context, expect }` run
 * against a policy, each failure reported with `explain()`'s account of it.
 * The HTTP route (one role under test) and `ledgerline rbac test` share this.
 */
import { z } from 'zod'
import type { Decision, Policy } from './policy.ts'

const Attribute = z.union([z.string().max(1000), z.number(), z.boolean(), z.null(), z.array(z.union([z.string().max(1000), z.number(), z.boolean(), z.null()])).max(100)])

export const PolicyCase = z.object({
  name: z.string().max(200).optional(),
  principal: z.object({ id: z.string().min(1).max(64).default('tester'), roles: z.array(z.string().max(64)).max(50).optional() }).strict().default({ id: 'tester' }),
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
export const PolicyCases = z.array(PolicyCase).min(1).max(500)

export interface CaseResult {
  readonly name: string
  readonly passed: boolean
  readonly expected: 'allow' | 'deny'
  readonly got: 'allow' | 'deny'
  /** Why the policy decided as it did; given for failures. */
  readonly explanation?: Decision
}

/** Runs each case; a principal without `roles` holds `defaultRoles` (the role under test). */
export function runCases (policy: Policy, cases: ReadonlyArray<z.output<typeof PolicyCase>>, defaultRoles: readonly string[] = []): CaseResult[] {
  return cases.map((c, index) => {
    const principal = { id: c.principal.id, roles: c.principal.roles ?? [...defaultRoles] }
    const resource = { ...c.resource, type: c.resource.type }
    const allowed = policy.can(principal, c.action, resource, c.context)
    const got = allowed ? 'allow' : 'deny'
    const name = c.name ?? `case ${index + 1}: ${c.action} on ${c.resource.type}${c.resource.id === undefined ? '' : `/${c.resource.id}`}`
    return got === c.expect
      ? { name, passed: true, expected: c.expect, got }
      : { name, passed: false, expected: c.expect, got, explanation: policy.explain(principal, c.action, resource, c.context) }
  })
}
