/**
 * Who may act on impersonation sessions, before the session's decider has
 * its say (src/domain/impersonation/session.ts):
 *
 * - a person acts through their roles in the organization, or, failing that,
 *   through the platform flag that stands in for the action: support staff
 *   start (where support access is on: the decider's rule), platform admins
 *   read, approve support sessions and revoke; never while impersonating;
 * - an approver is a holder of `impersonation:approve`, or a platform admin
 *   for a support session;
 * - only the impersonator stops their session;
 * - the operator's CLI acts as the system, in one organization or in all.
 *
 * The entry point says who calls (`Caller`); how the caller's roles are
 * checked stays the entry point's (`authorize`: over HTTP, the route's
 * declared action), what the roles' answer allows is decided here.
 */
import { Forbidden, OrgNotFound } from '../../domain/identity/errors.ts'
import { NotImpersonator, SessionNotFound } from '../../domain/impersonation/errors.ts'
import type { Principal } from '../identity/directory.ts'
import { organizationState, type IdentityServices } from '../identity/commands.ts'
import type { OpenedSession } from './commands.ts'

/** A person, through the API, in the organization of the request's path. */
export interface PersonCaller extends Pick<Principal, 'userId' | 'platformAdmin' | 'platformSupport' | 'impersonation'> {
  readonly kind: 'person'
  readonly orgId: string
  /** Checks the entry point's action through the caller's roles in `orgId`: throws OrgNotFound (not a member) or Forbidden. */
  authorize(): Promise<unknown>
}

/** The operator's CLI: the system, in one organization or (no `orgId`) in all of them. */
export interface SystemCaller {
  readonly kind: 'system'
  readonly id: string
  readonly orgId?: string
}

export type Caller = PersonCaller | SystemCaller

export function systemCaller (id: string, orgId?: string): SystemCaller {
  return orgId === undefined ? { kind: 'system', id } : { kind: 'system', id, orgId }
}

/** Who the events name as having acted. */
export const callerId = (caller: Caller): string => (caller.kind === 'person' ? caller.userId : caller.id)

/** The platform flag that stands in for the action when the caller's roles do not give it. */
export type StaffFlag = 'platformSupport' | 'platformAdmin'

/**
 * The caller's action through their roles (`member`), or, failing that, the
 * platform flag that stands in for it (`staff`). Staff who are not members
 * still get 404 for an organization that does not exist.
 */
export async function accessVia (services: IdentityServices, caller: PersonCaller, staff: StaffFlag): Promise<'member' | 'staff'> {
  try {
    await caller.authorize()
    return 'member'
  } catch (error) {
    if (!(error instanceof OrgNotFound || error instanceof Forbidden)) throw error
    if (!caller[staff] || caller.impersonation !== undefined) throw error
    if ((await organizationState(services, caller.orgId)).status !== 'active') throw new OrgNotFound()
    return 'staff'
  }
}

/** `accessVia` for a person; the system may. */
export async function admit (services: IdentityServices, caller: Caller, staff: StaffFlag): Promise<void> {
  if (caller.kind === 'person') await accessVia(services, caller, staff)
}

/**
 * An approver (or denier) acts through `impersonation:approve`, or as a
 * platform admin for a support session. `state`: the session, undefined when
 * it was not found (said only to those who may approve).
 */
export async function approverVia (
  services: IdentityServices, caller: PersonCaller, state: OpenedSession | undefined
): Promise<'member' | 'platform'> {
  const via = await accessVia(services, caller, 'platformAdmin')
  if (state === undefined) throw new SessionNotFound()
  if (via === 'staff' && state.request.via !== 'support') {
    throw new Forbidden('a platform admin approves support sessions only', { action: 'impersonation:approve' })
  }
  return via === 'member' ? 'member' : 'platform'
}

/**
 * The session, when the caller is its impersonator: only they stop it. To
 * anyone else: a member without the action learns nothing more than 403; one
 * with it, that the session is not found, or that only the impersonator stops.
 */
export async function ownSession (
  services: IdentityServices, caller: PersonCaller, state: OpenedSession | undefined
): Promise<OpenedSession> {
  if (state !== undefined && state.request.impersonatorId === caller.userId) return state
  await accessVia(services, caller, 'platformSupport')
  throw state === undefined ? new SessionNotFound() : new NotImpersonator()
}
