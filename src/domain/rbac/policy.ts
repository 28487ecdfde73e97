/**
 * A compiled policy snapshot and the one function that decides: `can`.
 *
 * A grant is `{ actions, resource, effect, when? }`: actions are catalogue
 * actions, `<resource>:*` or `*`; `resource` is `*`, a resource type, or
 * `<type>/<id>`. Default deny; a matching deny (whose condition holds) beats
 * every allow. `can` is synchronous; `explain` says which grant decided and
 * which condition failed.
 *
 * A check finds the grants of the principal's roles that name the action and
 * tests them. For a roles array it has seen before (by identity), it keeps
 * those grants taken together, denies first, so that the first grant that
 * holds decides; policies are immutable, so this is kept, in caches of
 * bounded size. Other arrays, such as one made per request, are decided role
 * by role, and remembered only now and then (see ADMIT).
 */
import { allHold, compileClauses, type Clauses, type Condition, type EvaluationInput } from './conditions.ts'
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
  /** Its resource pattern as clauses. */
  readonly resource: Clauses
  /**
   * What `can` reads, in one array: `[allows, type, length, ...clauses]`, where
   * `type` is the resource type the pattern names (undefined for `*`), compared
   * before any clause, `length` that of the array, and the clauses the rest of
   * the pattern and the condition.
   */
  readonly check: Clauses
}

interface CompiledRole {
  /** Grants by exact action, by `<resource>:` prefix (for `<resource>:*`), and for `*`. */
  readonly exact: Map<string, CompiledGrant[]>
  readonly prefixed: Map<string, CompiledGrant[]>
  readonly any: CompiledGrant[]
  /** Per action seen in the role's grants: exact, prefixed and `*` grants merged, so a check is one lookup. */
  readonly byAction: Map<string, CompiledGrant[]>
}

/**
 * The roles one principal holds, taken together: per action asked about, a
 * program, the checks of their grants naming it end to end, denies first, so
 * that a check reads one stretch of memory.
 */
interface RoleSet {
  readonly roles: readonly CompiledRole[]
  readonly programs: Map<string, Clauses>
}

/**
 * Bounds of the per-policy caches, so that callers naming ever new role sets
 * or actions cannot grow memory: role sets, and slots of all programs, each
 * charged PROGRAM_ENTRY more for its map entry and action (8 MB in all);
 * reaching either drops them all.
 */
const ROLE_SETS = 1000
const PROGRAM_SLOTS = 1 << 20
const PROGRAM_ENTRY = 32
const ACTIONS_PER_ROLE = 1000

/**
 * A roles array not remembered yet is remembered on one such check in ADMIT:
 * arrays that callers keep get remembered after a few checks, while arrays
 * made for one check rarely pay for an entry (a WeakMap entry costs more than
 * deciding role by role).
 */
const ADMIT = 16

// A check's header: `[allows, type, length, ...clauses]`.
const TYPE = 1
const LENGTH = 2
const CLAUSES = 3

/** Shared, and not frozen, so that `can` only ever sees one kind of array. */
const NO_GRANTS: Clauses = []

/** Whether the grant whose check starts at `at` in `checks` holds: its resource type, then its clauses. */
function holds (checks: Clauses, at: number, principal: Principal, resource: Resource, context: Context): boolean {
  const type = checks[at + TYPE]
  return (type === undefined || type === resource.type) && allHold(checks, at + CLAUSES, at + (checks[at + LENGTH] as number), principal,
    resource, context)
}

/** A resource pattern, `*`, `<type>`, `<type>/<id>` or `<type>/<prefix>*`: the type it names, and conditions on the id. */
function resourcePattern (pattern: string): { type: string | undefined, id: Condition[] } {
  if (pattern === '*') return { type: undefined, id: [] }
  const slash = pattern.indexOf('/')
  if (slash === -1) return { type: pattern, id: [] }
  const id = pattern.slice(slash + 1)
  return { type: pattern.slice(0, slash), id: [id.endsWith('*') ? { startsWith: [{ ref: 'resource.id' },
    id.slice(0, -1)] } : { eq: [{ ref: 'resource.id' }, id] }] }
}

function compileGrant (roleId: string, grant: Grant, index: number): CompiledGrant {
  const { type, id } = resourcePattern(grant.resource)
  const resource = compileClauses({ and: type === undefined ? id : [{ eq: [{ ref: 'resource.type' }, type] }, ...id] })
  const clauses = compileClauses({ and: grant.when === undefined ? id : [...id, grant.when] })
  const check = [grant.effect === 'allow', type, CLAUSES + clauses.length, ...clauses]
  return { roleId, index, grant, effect: grant.effect, resource, check }
}

function push<K> (map: Map<K, CompiledGrant[]>, key: K, grant: CompiledGrant): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [grant])
  else list.push(grant)
}

function compileRole (role: RoleDefinition): CompiledRole {
  const compiled: CompiledRole = { exact: new Map(), prefixed: new Map(), any: [], byAction: new Map() }
  role.grants.forEach((grant, index) => {
    const entry = compileGrant(role.roleId, grant, index)
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

/**
 * What a principal's roles array was found to hold, kept per array: its role
 * set, and the last action checked with it and that action's program (callers
 * often check one principal for one action on many resources). The array's
 * items are copied, so that a caller who changes it afterwards is noticed;
 * up to four in fields, so that a check reads one object.
 */
class Seen {
  action: string | undefined = undefined
  program: Clauses = []
  readonly #count: number
  readonly #r0: string | undefined
  readonly #r1: string | undefined
  readonly #r2: string | undefined
  readonly #r3: string | undefined
  readonly #more: readonly string[] | undefined

  constructor (roles: readonly string[], readonly set: RoleSet, readonly generation: number) {
    this.#count = roles.length
    this.#r0 = roles[0]
    this.#r1 = roles[1]
    this.#r2 = roles[2]
    this.#r3 = roles[3]
    this.#more = roles.length > 4 ? [...roles] : undefined
  }

  /** Whether `roles` still holds what it held then. */
  matches (roles: readonly string[]): boolean {
    const n = roles.length
    if (n !== this.#count) return false
    if (this.#more !== undefined) return this.#more.every((role, i) => role === roles[i])
    return (n < 1 || roles[0] === this.#r0) && (n < 2 || roles[1] === this.#r1) && (n < 3 || roles[2] === this.#r2) &&
      (n < 4 || roles[3] === this.#r3)
  }
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
  /** Role sets by their roles as given, in JSON. */
  readonly #roleSets = new Map<string, RoleSet>()
  /** Slots charged for the programs kept since the caches were last dropped. */
  #programSlots = 0
  /** How many times the caches were dropped. */
  #generation = 0
  /** Checks of roles arrays not remembered, for ADMIT. */
  #misses = 0
  /** Per roles array; entries go with the arrays, and are stale once the caches are dropped. */
  readonly #seen = new WeakMap<readonly string[], Seen>()

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
    if (role.byAction.size < ACTIONS_PER_ROLE) role.byAction.set(action, merged)
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

  /** Remembers the roles array with its role set, keyed by the roles as given. */
  #see (roles: readonly string[]): Seen {
    const key = JSON.stringify(roles)
    let set = this.#roleSets.get(key)
    if (set === undefined) {
      if (this.#roleSets.size >= ROLE_SETS) this.#drop()
      set = { roles: [...new Set(roles.flatMap((roleId) => this.#roles.get(roleId) ?? []))], programs: new Map() }
      this.#roleSets.set(key, set)
    }
    const seen = new Seen(roles, set, this.#generation)
    this.#seen.set(roles, seen)
    return seen
  }

  /** The role set's program for `action`; the order of checks within each effect does not change a decision. */
  #programOf (set: RoleSet, action: string): Clauses {
    const known = set.programs.get(action)
    if (known !== undefined) return known
    const grants = set.roles.flatMap((role) => this.#grants(role, action))
    const ordered = [...grants.filter((g) => g.effect === 'deny'), ...grants.filter((g) => g.effect === 'allow')]
    const program = ordered.length === 0 ? NO_GRANTS : ordered.flatMap((g) => g.check)
    const slots = program.length + PROGRAM_ENTRY
    if (this.#programSlots + slots > PROGRAM_SLOTS) {
      this.#drop()
      return program
    }
    this.#programSlots += slots
    set.programs.set(action, program)
    return program
  }

  /** Drops every role set and program; Seen entries made before are stale from then on. */
  #drop (): void {
    for (const set of this.#roleSets.values()) set.programs.clear()
    this.#roleSets.clear()
    this.#programSlots = 0
    this.#generation++
  }

  can (principal: Principal, action: string, resource: Resource, context: Context = {}): boolean {
    const roles = principal.roles
    let seen = this.#seen.get(roles)
    if (seen === undefined || seen.generation !== this.#generation || !seen.matches(roles)) {
      if (++this.#misses % ADMIT !== 0) return this.#canRoleByRole(principal, action, resource, context)
      seen = this.#see(roles)
    }
    if (seen.action !== action) {
      seen.program = this.#programOf(seen.set, action)
      seen.action = action
    }
    const program = seen.program
    // Denies come first, so the first grant that holds decides.
    for (let at = 0; at < program.length; at += program[at + LENGTH] as number) {
      if (holds(program, at, principal, resource, context)) return program[at] === true
    }
    return false
  }

  /** The rule as stated, role by role: any deny that holds denies, otherwise any allow that holds allows. */
  #canRoleByRole (principal: Principal, action: string, resource: Resource, context: Context): boolean {
    let allowed = false
    const roles = principal.roles
    for (let r = 0; r < roles.length; r++) {
      const role = this.#roles.get(roles[r]!)
      if (role === undefined) continue
      const grants = this.#grants(role, action)
      for (let g = 0; g < grants.length; g++) {
        const grant = grants[g]!
        const deny = grant.effect === 'deny'
        if ((deny || !allowed) && holds(grant.check, 0, principal, resource, context)) {
          if (deny) return false
          allowed = true
        }
      }
    }
    return allowed
  }

  explain (principal: Principal, action: string, resource: Resource, context: Context = {}): Decision {
    const input: EvaluationInput = { principal, resource, context }
    const allows: Decision['deciding'][number][] = []
    const failedConditions: Decision['failedConditions'][number][] = []
    for (const grant of this.#candidates(principal, action)) {
      if (!allHold(grant.resource, 0, grant.resource.length, principal, resource, context)) continue
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
