/**
 * Whether the caller may run a tool on an input, as the HTTP routes decide
 * theirs (src/http/tenancy.ts): `can()` over the organization's policy, as
 * the caller, on the resource the tool derives from its input, with the
 * request's context. An impersonated caller is refused the actions blocked
 * while impersonating (src/domain/impersonation/blocked.ts) whatever the
 * policy says, and policies see `context.impersonating: true`.
 */
import { OrgNotFound } from '../../domain/identity/errors.ts'
import { BLOCKED_ACTIONS } from '../../domain/impersonation/blocked.ts'
import { ForbiddenWhileImpersonating } from '../../domain/impersonation/errors.ts'
import type { LedgerlineError } from '../../domain/errors.ts'
import type { Context, Principal } from '../../domain/rbac/policy.ts'
import { ToolForbidden } from '../../domain/tools/errors.ts'
import type { PolicySnapshot } from '../rbac/policies.ts'
import type { AnyTool, ToolCaller } from './tool.ts'

export interface Refusal {
  readonly reason: 'forbidden' | 'impersonation_blocked'
  readonly action: string
  readonly error: LedgerlineError
}

/**
 * The caller as a principal of the organization: 404 for a non-member (so
 * tenants cannot probe each other), and for an impersonation of another
 * organization (a session is for one).
 */
export function principalIn (snapshot: PolicySnapshot, orgId: string, caller: ToolCaller): Principal {
  const roles = snapshot.rolesOf(caller.userId)
  if (roles.length === 0 || (caller.impersonation !== undefined && caller.impersonation.orgId !== orgId)) throw new OrgNotFound()
  return { id: caller.userId, roles }
}

function contextOf (caller: ToolCaller, now: Date): Context {
  return { ...caller.context, time: now.getTime(), ...(caller.impersonation === undefined ? {} : { impersonating: true }) }
}

function blocked (tool: AnyTool, caller: ToolCaller): Refusal | undefined {
  const action = tool.permission.action
  const why = caller.impersonation === undefined ? undefined : BLOCKED_ACTIONS.get(action)
  if (why === undefined) return undefined
  const error = new ForbiddenWhileImpersonating(`${why} is not allowed while impersonating`, { action, tool: tool.name })
  return { reason: 'impersonation_blocked', action, error }
}

/** Why the caller may not run `tool` on `input`, or undefined when they may. */
export function refusalOf (
  snapshot: PolicySnapshot, principal: Principal, call: { tool: AnyTool, input: unknown, orgId: string, caller: ToolCaller, now: Date }
): Refusal | undefined {
  const { tool, input, orgId, caller, now } = call
  const refused = blocked(tool, caller)
  if (refused !== undefined) return refused
  const action = tool.permission.action
  if (snapshot.policy.can(principal, action, tool.permission.resource(input, { orgId }), contextOf(caller, now))) return undefined
  const error = new ToolForbidden(`your roles in this organization do not allow ${action} for this call`, { action, tool: tool.name })
  return { reason: 'forbidden', action, error }
}

/**
 * Whether a list should offer the tool to the caller: not blocked, and some
 * grant of theirs allows its action in the organization, unconditionally or
 * under a condition (whether that holds depends on the input, judged at the call).
 */
export function offered (
  snapshot: PolicySnapshot, principal: Principal, tool: AnyTool, orgId: string, caller: ToolCaller, now: Date
): boolean {
  if (blocked(tool, caller) !== undefined) return false
  const decision = snapshot.policy.explain(principal, tool.permission.action, { type: 'organization', id: orgId }, contextOf(caller, now))
  return decision.allowed || (decision.reason !== 'denied' && decision.failedConditions.some((failed) => failed.effect === 'allow'))
}
