/**
 * Authorization checks for an organization's members, as the API itself
 * decides them: the use cases behind `POST /v1/orgs/:orgId/authz/check` (a
 * batch of `can()`) and `…/authz/explain` (one). A check is about the caller
 * unless it names another user; someone who is not a member holds no role, so
 * every check about them is a default deny. An action outside the catalogue
 * is refused before any is decided (`rbac.unknown_action`, naming the checks).
 *
 * A check about a caller who is being impersonated is decided under the
 * impersonation: with `impersonating: true` in its context (a grant may deny
 * under it), and denied outright when the action is blocked while
 * impersonating (src/domain/impersonation/blocked.ts).
 */
import { BLOCKED_ACTIONS } from '../../domain/impersonation/blocked.ts'
import type { Context, Decision, Principal, Resource } from '../../domain/rbac/policy.ts'
import type { PolicySnapshot, PolicySnapshots } from './policies.ts'

export interface AuthzCheck {
  /** Whose permission; the caller's when absent. */
  readonly userId?: string
  readonly action: string
  readonly resource: Resource
  readonly context?: Context
}

/** Who asks: checks naming no user are about them. */
export interface Asker {
  readonly userId: string
  /** The request is made with an impersonation token: `userId` is the impersonated member. */
  readonly impersonated: boolean
}

const NO_CONTEXT: Context = Object.freeze({})

/**
 * A check's context as it was given; for a check about a caller who is being
 * impersonated, with `impersonating: true`, and null when the action is
 * blocked while impersonating (denied).
 */
export function contextFor (asker: Asker): (check: AuthzCheck) => Context | null {
  const impersonated = asker.impersonated ? asker.userId : undefined
  return (check) => {
    if (impersonated === undefined || (check.userId !== undefined && check.userId !== impersonated)) return check.context ?? NO_CONTEXT
    return BLOCKED_ACTIONS.has(check.action) ? null : { ...check.context, impersonating: true }
  }
}

/**
 * The principals checks are about, with their roles in this organization
 * (none when not a member), from the organization's policy snapshot: the
 * same fold as the policy, in memory, one principal per person per request.
 */
function subjects (asker: Asker, snapshot: PolicySnapshot): (check: AuthzCheck) => Principal {
  const known = new Map<string, Principal>()
  return (check) => {
    const id = check.userId ?? asker.userId
    let principal = known.get(id)
    if (principal === undefined) {
      principal = { id, roles: snapshot.rolesOf(id) }
      known.set(id, principal)
    }
    return principal
  }
}

export interface CheckResults {
  readonly results: Array<{ allowed: boolean }>
  /** How many of them were allowed. */
  readonly allowed: number
}

/** Decides the checks with `can()`, in order. */
export async function decideChecks (
  policies: PolicySnapshots, orgId: string, asker: Asker, checks: readonly AuthzCheck[]
): Promise<CheckResults> {
  policies.catalogue.requireActions(checks)
  const snapshot = await policies.snapshotOf(orgId)
  const subject = subjects(asker, snapshot)
  const context = contextFor(asker)
  let allowed = 0
  const results = checks.map((check) => {
    const given = context(check)
    const yes = given !== null && snapshot.policy.can(subject(check), check.action, check.resource, given)
    if (yes) allowed++
    return { allowed: yes }
  })
  return { results, allowed }
}

/** Explains one check: the deciding grant, its role, the condition that failed. */
export async function explainCheck (policies: PolicySnapshots, orgId: string, asker: Asker, check: AuthzCheck): Promise<Decision> {
  policies.catalogue.requireActions([check])
  const snapshot = await policies.snapshotOf(orgId)
  // A blocked action is explained by the policy alone, under the impersonation (authz/check denies it whatever it says).
  const context = contextFor(asker)(check) ?? { ...check.context, impersonating: true }
  return snapshot.policy.explain(subjects(asker, snapshot)(check), check.action, check.resource, context)
}
