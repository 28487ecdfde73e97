/**
 * What the impersonation routes and CLI commands call: one function per
 * entry point. Each admits the caller (src/application/impersonation/access.ts),
 * then runs the command or the query; the entry point only parses what it
 * was given and shapes the answer.
 *
 * A session's state is read once per call, through the commands' state
 * cache, and handed to the command: the command then decides on the cached
 * state without reading the stream again (its append's expected version
 * says whether that state was still the latest).
 */
import { readState } from '../../domain/decider.ts'
import type { CommandMetadata } from '../../domain/envelope.ts'
import { NotImpersonating, SessionNotFound } from '../../domain/impersonation/errors.ts'
import { sessionDecider, sessionStreamId } from '../../domain/impersonation/session.ts'
import { session, sessions, type SessionView, type StatusFilter } from '../../projections/impersonation/queries.ts'
import { recordSensitiveRead } from '../audit/access.ts'
import type { Written } from '../commands.ts'
import type { ImpersonationContext } from '../identity/directory.ts'
import { accessVia, admit, approverVia, callerId, ownSession, type Caller, type PersonCaller } from './access.ts'
import {
  approveImpersonation, denyImpersonation, openedIn, requestImpersonation, revokeAll, revokeImpersonation, sessionsCaughtUp, startApproved,
  stopImpersonation, type ImpersonationServices, type OpenedSession, type Started, type StartInput
} from './commands.ts'

/** The session's state (in `orgId`, when given), read through the state cache the command that follows decides on. */
async function current (services: ImpersonationServices, sessionId: string, orgId?: string): Promise<OpenedSession> {
  return openedIn((await readState(services.store, sessionDecider, sessionStreamId(sessionId), services.states)).state, orgId)
}

/** The session, or undefined when it is not found (for rules that say so only to some callers). */
async function currentOrNone (services: ImpersonationServices, sessionId: string, orgId: string): Promise<OpenedSession | undefined> {
  try {
    return await current(services, sessionId, orgId)
  } catch (error) {
    if (error instanceof SessionNotFound) return undefined
    throw error
  }
}

/**
 * Starts impersonating a member, or asks a second approver first (a critical
 * target): as a holder of `impersonation:start`, or as support staff.
 * `admitted` runs once the caller may, before the request is recorded (the
 * entry point's limit on requests: each one, refused or not, is an event).
 */
export async function startImpersonation (
  services: ImpersonationServices, metadata: CommandMetadata, caller: PersonCaller, input: StartInput, admitted: () => void = () => {}
): Promise<Started> {
  const via = await accessVia(services, caller, 'platformSupport') === 'member' ? 'member' : 'support'
  admitted()
  const impersonator = { userId: caller.userId, impersonating: caller.impersonation !== undefined, via } as const
  return requestImpersonation(services, metadata, caller.orgId, impersonator, input)
}

/** Where a page of sessions ends: the last one's request time and id (the next page starts after it). */
export interface SessionKey {
  readonly requestedAt: string
  readonly sessionId: string
}

export interface SessionListing {
  readonly status: StatusFilter
  readonly limit: number
  readonly after?: SessionKey
  /** Wait for the impersonation read model to reach the log's head first (a process that has just started it). */
  readonly current?: boolean
}

/**
 * Sessions newest first, of the caller's organization (the system's: of all
 * of them, unless it names one). A person's read is recorded
 * (`audit.record.sensitive_read`).
 */
export async function listSessions (
  services: ImpersonationServices, metadata: CommandMetadata, caller: Caller, listing: SessionListing
): Promise<{ items: SessionView[], next: SessionKey | undefined }> {
  const { orgId } = caller
  await admit(services, caller, 'platformAdmin')
  if (caller.kind === 'person') {
    await recordSensitiveRead(services, metadata, { orgId: caller.orgId, action: 'impersonation:read', resource: 'impersonation_session' })
  }
  if (listing.current === true) await sessionsCaughtUp(services)
  const { status, limit, after } = listing
  const scope = { ...(orgId === undefined ? {} : { orgId }), ...(after === undefined ? {} : { after }) }
  // One more than the page: whether there is a next one.
  const found = await sessions(services.sql, { ...scope, status, limit: limit + 1 })
  const items = found.slice(0, limit)
  const last = found.length > limit ? items.at(-1) : undefined
  return { items, next: last === undefined ? undefined : { requestedAt: last.requestedAt, sessionId: last.sessionId } }
}

/**
 * One session, current as of this call (a requester polls it to see their
 * approval arrive): for holders of `impersonation:read`, platform admins, and
 * its requester. Each read is recorded.
 */
export async function readSession (
  services: ImpersonationServices, metadata: CommandMetadata, caller: PersonCaller, sessionId: string
): Promise<SessionView> {
  const { orgId } = caller
  const state = await currentOrNone(services, sessionId, orgId)
  if (state?.request.impersonatorId !== caller.userId) await accessVia(services, caller, 'platformAdmin')
  await recordSensitiveRead(services, metadata, { orgId, action: 'impersonation:read', resource: `impersonation_session/${sessionId}` })
  await sessionsCaughtUp(services)
  const view = await session(services.sql, sessionId)
  if (view === undefined || view.orgId !== orgId) throw new SessionNotFound()
  return view
}

/** Approves a break-glass request (src/application/impersonation/access.ts says who may). */
export async function approveSession (
  services: ImpersonationServices, metadata: CommandMetadata, caller: PersonCaller, sessionId: string
): Promise<Written> {
  const state = await currentOrNone(services, sessionId, caller.orgId)
  const via = await approverVia(services, caller, state)
  return approveImpersonation(services, metadata, caller.orgId, sessionId, { userId: caller.userId, via }, state)
}

/** Turns a break-glass request down: approvers may, so may the target (the decider's rule); `reason` is kept with the denial. */
export async function denySession (
  services: ImpersonationServices, metadata: CommandMetadata, caller: PersonCaller, sessionId: string, reason?: string
): Promise<Written> {
  const state = await currentOrNone(services, sessionId, caller.orgId)
  await approverVia(services, caller, state)
  return denyImpersonation(services, metadata, caller.orgId, sessionId, caller.userId, reason, state)
}

/**
 * The requester starts their approved break-glass session: whoever may start
 * impersonations here; that they asked for this one is the session's to check.
 */
export async function startApprovedSession (
  services: ImpersonationServices, metadata: CommandMetadata, caller: PersonCaller, sessionId: string
): Promise<Started> {
  await accessVia(services, caller, 'platformSupport')
  return startApproved(services, metadata, caller.orgId, sessionId, caller.userId, await current(services, sessionId, caller.orgId))
}

/** The impersonator ends their session, or withdraws their request. */
export async function stopSession (
  services: ImpersonationServices, metadata: CommandMetadata, caller: PersonCaller, sessionId: string
): Promise<Written> {
  const state = await ownSession(services, caller, await currentOrNone(services, sessionId, caller.orgId))
  return stopImpersonation(services, metadata, sessionId, caller.userId, caller.orgId, state)
}

/** Ends the impersonation a request is made with (with the session's own token). */
export async function stopCurrentSession (
  services: ImpersonationServices, metadata: CommandMetadata, impersonation: ImpersonationContext | undefined
): Promise<Written> {
  if (impersonation === undefined) throw new NotImpersonating()
  const state = await current(services, impersonation.sessionId)
  return stopImpersonation(services, metadata, impersonation.sessionId, impersonation.impersonatorId, undefined, state)
}

/** Ends someone's session now: holders of `impersonation:revoke`, platform admins, the operator. `reason`: their words, kept. */
export async function revokeSession (
  services: ImpersonationServices, metadata: CommandMetadata, caller: Caller, sessionId: string, reason?: string
): Promise<Written> {
  await admit(services, caller, 'platformAdmin')
  const state = await current(services, sessionId, caller.orgId)
  return revokeImpersonation(services, metadata, sessionId, callerId(caller), reason === undefined ? {} : { reason }, state)
}

/** Ends every open session of the caller's organization (the system's: of all of them, unless it names one). */
export async function revokeSessions (
  services: ImpersonationServices, metadata: CommandMetadata, caller: Caller, reason?: string
): Promise<{ revoked: string[], position: string | null }> {
  const { orgId } = caller
  await admit(services, caller, 'platformAdmin')
  return revokeAll(services, metadata, callerId(caller), orgId === undefined ? {} : { orgId }, reason === undefined ? {} : { reason })
}
