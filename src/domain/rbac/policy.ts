/**
 * A compiled policy snapshot and the one function that decides: `can`.
 *
 * A grant is `{ actions, resource, effect, when? }`: actions are catalogue
 * actions, `<resource>:*` or `*`; `resource` is `*`, a resource type, or
 * `<type>/<id>`. Default deny; a matching deny (whose condition holds) beats
 * every allow. `can` is synchronous and does no lookup by name beyond one
 * map per role; `explain` says which grant decided and which condition failed.
 */
import { compileCondition, type Compiled, type Condition, type EvaluationInput } from './conditions.ts'
import { evaluate } from './reference.ts'

export interface Grant {
  readonly actions: readonly string[]
  readonly resource: string
  readonly effect: 'allow' | 'deny'
  readonly when?: Condition
}

export interface RoleDefinition {
  readonly roleId: string
  readonly grants: readonly Grant[]
}

export interface Resource {
  readonly type: string
  readonly id?: string
  readonly [attribute: string]: unknown
}

export interface Principal {
  readonly id: string
  readonly roles: readonly string[]
}

export type Context = EvaluationInput['context']

interface CompiledGrant {
  readonly roleId: string
  readonly index: number
  readonly grant: Grant
  readonly effect: 'allow' | 'deny'
  readonly matchesResource: (resource: Resource) => boolean
  readonly when: Compiled | undefined
}

interface CompiledRole {
  /** Grants by exact action, by `<resource>:` prefix (for `<resource>:*`), and for `*`. */
  readonly exact: Map<string, CompiledGrant[]>
  readonly prefixed: Map<string, CompiledGrant[]>
  readonly any: CompiledGrant[]
  /** Per action seen in the role's grants: exact, prefixed and `*` grants merged, so a check is one lookup. */
  readonly byAction: Map<string, CompiledGrant[]>
}

function resourceMatcher (pattern: string): (resource: Resource) => boolean {
  if (pattern === '*') return () => true
  const slash = pattern.indexOf('/')
  if (slash === -1) return (resource) => resource.type === pattern
  const type = pattern.slice(0, slash)
  const id = pattern.slice(slash + 1)
  if (id.endsWith('*')) {
    const prefix = id.slice(0, -1)
    return (resource) => resource.type === type && typeof resource.id === 'string' && resource.id.startsWith(prefix)
  }
  return (resource) => resource.type === type && resource.id === id
}

function push<K> (map: Map<K, CompiledGrant[]>, key: K, grant: CompiledGrant): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [grant])
  else list.push(grant)
}

function compileRole (role: RoleDefinition): CompiledRole {
  const compiled: CompiledRole = { exact: new Map(), prefixed: new Map(), any: [], byAction: new Map() }
  role.grants.forEach((grant, index) => {
    const entry: CompiledGrant = {
      roleId: role.roleId,
      index,
      grant,
      effect: grant.effect,
      matchesResource: resourceMatcher(grant.resource),
      when: grant.when === undefined ? undefined : compileCondition(grant.when)
    }
    for (const action of new Set(grant.actions)) {
      if (action === '*') compiled.any.push(entry)
      else if (action.endsWith(':*')) push(compiled.prefixed, action.slice(0, -1), entry)
      else push(compiled.exact, action, entry)
    }
  })
  for (const action of compiled.exact.keys()) compiled.byAction.set(action, grantsFor(compiled, action))
  return compiled
}

/** The role's grants naming `action`, in grant order: exact, `<resource>:*` and `*` alike. */
function grantsFor (role: CompiledRole, action: string): CompiledGrant[] {
  const colon = action.indexOf(':')
  const prefixed = colon === -1 ? undefined : role.prefixed.get(action.slice(0, colon + 1))
  return [...(role.exact.get(action) ?? []), ...(prefixed ?? []), ...role.any].sort((a, b) => a.index - b.index)
}

export interface Decision {
  readonly allowed: boolean
  readonly reason: 'allowed' | 'denied' | 'no_matching_grant'
  /** The grant(s) that decided: the deny that matched, or the allow that did. */
  readonly deciding: ReadonlyArray<{ roleId: string, grant: number, effect: 'allow' | 'deny' }>
  /** Grants for this action and resource whose condition did not hold, with the clause that failed. */
  readonly failedConditions: ReadonlyArray<{ roleId: string, grant: number, effect: 'allow' | 'deny', clause: string }>
}

const NONE: readonly CompiledGrant[] = Object.freeze([])

export class Policy {
  readonly #roles: Map<string, CompiledRole>

  constructor (roles: readonly RoleDefinition[]) {
    this.#roles = new Map(roles.map((role) => [role.roleId, compileRole(role)]))
  }

  /** The role's grants naming `action` (one map lookup for actions its grants name exactly). */
  #grants (role: CompiledRole, action: string): readonly CompiledGrant[] {
    const known = role.byAction.get(action)
    if (known !== undefined) return known
    if (role.prefixed.size === 0 && role.any.length === 0) return NONE
    // Named only through a wildcard: merged once and kept (for a bounded number of distinct actions).
    const merged = grantsFor(role, action)
    if (role.byAction.size < 1000) role.byAction.set(action, merged)
    return merged
  }

  /** Every grant of the principal's roles that names `action`, in role then grant order. */
  #candidates (principal: Principal, action: string): CompiledGrant[] {
    const found: CompiledGrant[] = []
    for (const roleId of principal.roles) {
      const role = this.#roles.get(roleId)
      if (role !== undefined) for (const grant of this.#grants(role, action)) found.push(grant)
    }
    return found
  }

  can (principal: Principal, action: string, resource: Resource, context: Context = {}): boolean {
    let allowed = false
    let input: EvaluationInput | undefined
    const roles = principal.roles
    for (let r = 0; r < roles.length; r++) {
      const role = this.#roles.get(roles[r]!)
      if (role === undefined) continue
      const grants = this.#grants(role, action)
      for (let g = 0; g < grants.length; g++) {
        const grant = grants[g]!
        if (grant.effect === 'allow' && allowed) continue
        if (!grant.matchesResource(resource)) continue
        if (grant.when !== undefined) {
          input ??= { principal, resource, context }
          if (!grant.when(input)) continue
        }
        if (grant.effect === 'deny') return false
        allowed = true
      }
    }
    return allowed
  }

  explain (principal: Principal, action: string, resource: Resource, context: Context = {}): Decision {
    const input: EvaluationInput = { principal, resource, context }
    const allows: Decision['deciding'][number][] = []
    const failedConditions: Decision['failedConditions'][number][] = []
    for (const grant of this.#candidates(principal, action)) {
      if (!grant.matchesResource(resource)) continue
      const ref = { roleId: grant.roleId, grant: grant.index, effect: grant.effect }
      if (grant.grant.when !== undefined) {
        const evaluation = evaluate(grant.grant.when, input)
        if (!evaluation.result) {
          failedConditions.push({ ...ref, clause: evaluation.failed ?? '' })
          continue
        }
      }
      if (grant.effect === 'deny') return { allowed: false, reason: 'denied', deciding: [ref], failedConditions }
      allows.push(ref)
    }
    return allows.length > 0
      ? { allowed: true, reason: 'allowed', deciding: allows, failedConditions }
      : { allowed: false, reason: 'no_matching_grant', deciding: [], failedConditions }
  }
}
