/**
 * The impersonation pack's application functions: what routes, the CLI, the
 * expiry sweep and tests call. The guards are the session decider's; this
 * file looks up the facts they decide on (who the target is, what roles they
 * hold, whether support access is on, whether the impersonator already has a
 * session open) and turns a recorded denial into the error the caller sees.
 *
 * One session at a time per impersonator holds on every node: a request that
 * would open one first takes the impersonator's reservation
 * (src/application/impersonation/reservation.ts); a request that loses it
 * is refused like any other busy impersonator (`impersonator_busy`).
 *
 * Reasons: `reason` is what a person says (the request's, a denial's, a
 * revocation's); `code` is a revocation's stable code.
 */
import { aggregate } from '../../domain/decider.ts'
import { uuidV5, type CommandMetadata } from '../../domain/envelope.ts'
import { OrgNotFound } from '../../domain/identity/errors.ts'
import { userDecider, userStreamId } from '../../domain/identity/user.ts'
import {
  AlreadyStarted, BreakGlassRequired, ImpersonatorBusy, NestedImpersonation, SelfImpersonation, SessionNotFound, SupportAccessDisabled,
  TargetDisabled, TargetIsStaff, TargetNotMember
} from '../../domain/impersonation/errors.ts'
import type { DenialReason, ImpersonationVia } from '../../domain/impersonation/events.ts'
import {
  sessionDecider, sessionStreamId, type RequestFacts, type SessionCommand, type SessionState
} from '../../domain/impersonation/session.ts'
import { isCritical } from '../../domain/impersonation/critical.ts'
import { maxPosition } from '../../eventstore/position.ts'
import type { ProjectionRunner } from '../../projections/runner.ts'
import { activeSessionsOf, openSessions } from '../../projections/impersonation/queries.ts'
import { execute, written, type Written } from '../commands.ts'
import { organizationState, type IdentityServices } from '../identity/commands.ts'
import { idFor, issueImpersonationToken } from '../identity/secrets.ts'
import { judgeReservation, reserveImpersonator } from './reservation.ts'

export interface ImpersonationServices extends IdentityServices {
  readonly runner: ProjectionRunner
  /** How long a guard waits for the impersonation read model to reach the log's head. */
  readonly consistencyTimeoutMs: number
}

const DENIALS: Record<DenialReason, () => Error> = {
  self: () => new SelfImpersonation(),
  already_impersonating: () => new NestedImpersonation(),
  target_not_member: () => new TargetNotMember(),
  target_is_staff: () => new TargetIsStaff(),
  target_disabled: () => new TargetDisabled(),
  support_access_disabled: () => new SupportAccessDisabled(),
  impersonator_busy: () => new ImpersonatorBusy(),
  break_glass_required: () => new BreakGlassRequired(undefined, { needs: ['ticket', 'a second approver'], maxMinutes: 15 }),
  rejected_by_approver: () => new SessionNotFound()
}

async function sessionCommand (
  services: ImpersonationServices, metadata: CommandMetadata, sessionId: string, orgId: string, command: SessionCommand
) {
  return execute(services, sessionDecider, sessionStreamId(sessionId), command, { ...metadata, orgId })
}

/** A session that was requested and not refused: what a caller may act on. */
export type OpenedSession = Exclude<SessionState, { status: 'none' | 'denied' }>

/** The state of a session that belongs to `orgId` (another organization's session, one never requested or one refused, is not found). */
export function openedIn (state: SessionState, orgId?: string): OpenedSession {
  if (state.status === 'none' || state.status === 'denied') throw new SessionNotFound()
  if (orgId !== undefined && state.request.orgId !== orgId) throw new SessionNotFound()
  return state
}

/** The session's state, which must belong to `orgId` (another organization's session is not found). */
export async function sessionState (services: ImpersonationServices, sessionId: string, orgId?: string): Promise<OpenedSession> {
  const state = await aggregate(services.store, sessionDecider, sessionStreamId(sessionId))
  return openedIn(state, orgId)
}

/**
 * Waits until the impersonation read model has caught up with the log as it
 * is now, and with everything this node wrote (sessions other nodes open
 * while this waits may be missing: what must hold across nodes is decided on
 * streams, not on this read model).
 */
export async function sessionsCaughtUp (services: ImpersonationServices): Promise<void> {
  const position = maxPosition(await services.store.headPosition(), services.directory.latestSeen)
  await services.runner.waitFor(position, services.consistencyTimeoutMs, ['impersonation'])
}

/** Whether the read model shows the user impersonating someone now: for sessions opened before reservations existed. */
async function impersonating (services: ImpersonationServices, userId: string, now: Date): Promise<boolean> {
  await sessionsCaughtUp(services)
  return (await activeSessionsOf(services.sql, userId, now)).length > 0
}

export interface StartInput {
  readonly targetUserId: string
  readonly reason: string
  readonly ticket?: string
  readonly durationMinutes?: number
}

export interface Impersonator {
  readonly userId: string
  /** The caller is themselves impersonating (refused: no nesting). */
  readonly impersonating: boolean
  readonly via: ImpersonationVia
}

export interface Started extends Written {
  readonly sessionId: string
  readonly status: 'active' | 'pending'
  /** Shown once, only when the session started. */
  readonly token: string | null
  readonly expiresAt: string | null
}

/** What the guards decide a request on, as the streams say now; and the reservation holder found over, if any. */
async function requestFacts (
  services: ImpersonationServices, metadata: CommandMetadata, orgId: string, impersonator: Impersonator, targetUserId: string,
  sessionId: string
): Promise<{ facts: RequestFacts, released: string | undefined }> {
  const org = await organizationState(services, orgId)
  if (org.status !== 'active') throw new OrgNotFound()
  const target = await aggregate(services.store, userDecider, userStreamId(targetUserId))
  const judged = await judgeReservation(services, impersonator.userId, sessionId, metadata.now)
  const targetIsMember = Object.hasOwn(org.members, targetUserId)
  const facts = {
    impersonating: impersonator.impersonating,
    impersonatorBusy: judged.busy || (judged.never && await impersonating(services, impersonator.userId, metadata.now)),
    targetIsMember,
    targetActive: target.status === 'active',
    targetIsStaff: target.status !== 'none' && (target.platformAdmin || target.platformSupport),
    targetCritical: targetIsMember && isCritical(services.catalogue, org, targetUserId),
    supportAccess: org.supportAccess
  }
  return { facts, released: judged.released }
}

/**
 * Requests an impersonation: an ordinary target starts at once and the
 * answer carries the token; a critical target waits for a second approver.
 * A refused request is recorded (`denied`), then answered with its error.
 */
export async function requestImpersonation (
  services: ImpersonationServices, metadata: CommandMetadata, orgId: string, impersonator: Impersonator, input: StartInput
): Promise<Started> {
  const sessionId = idFor(metadata.commandId, 'imp')
  const { facts, released } = await requestFacts(services, metadata, orgId, impersonator, input.targetUserId, sessionId)
  const issued = issueImpersonationToken(sessionId)
  const command: Extract<SessionCommand, { type: 'RequestImpersonation' }> = {
    type: 'RequestImpersonation',
    data: {
      sessionId,
      orgId,
      impersonatorId: impersonator.userId,
      targetUserId: input.targetUserId,
      via: impersonator.via,
      reason: input.reason,
      ...(input.ticket === undefined ? {} : { ticket: input.ticket }),
      ...(input.durationMinutes === undefined ? {} : { durationMinutes: input.durationMinutes }),
      tokenHash: issued.hash,
      facts
    }
  }
  // A request the guards let through takes the reservation before its session is written; one that lost it is refused as busy.
  const lost = opensSession(command, metadata) &&
    !await reserveImpersonator(services, metadata, impersonator.userId, { sessionId, orgId }, released)
  const decided = lost ? { ...command, data: { ...command.data, facts: { ...facts, impersonatorBusy: true } } } : command
  const { state, position } = await sessionCommand(services, metadata, sessionId, orgId, decided)
  if (state.status === 'denied') throw DENIALS[state.reason]()
  if (state.status === 'pending') return { sessionId, status: 'pending', token: null, expiresAt: null, ...written(position) }
  return { sessionId, ...activeToken(state, issued), ...written(position) }
}

/**
 * Whether the request would open a session (the decider asked on a new
 * stream; its refusals, such as a duration over the cap, are thrown).
 */
function opensSession (command: SessionCommand, metadata: CommandMetadata): boolean {
  return sessionDecider.decide(command, sessionDecider.initialState(), { now: metadata.now, actor: metadata.actor })
    .some((event) => event.type === 'impersonation.session.requested')
}

/** The token of a session this call started; a retried call whose session an earlier attempt started cannot show it again. */
function activeToken (
  state: SessionState, issued: { token: string, hash: string }
): { status: 'active', token: string, expiresAt: string } {
  if (state.status !== 'active' || state.tokenHash !== issued.hash) {
    throw new AlreadyStarted('this session was started by an earlier attempt; its token was shown once')
  }
  return { status: 'active', token: issued.token, expiresAt: state.expiresAt }
}

/**
 * A second person approves a break-glass request; the requester then starts it. `known`: the session's state the caller
 * read already (through `openedIn` with `orgId`), so it is not read again; the decider decides on the stream all the same.
 */
export async function approveImpersonation (
  services: ImpersonationServices, metadata: CommandMetadata, orgId: string, sessionId: string,
  approver: { userId: string, via: 'member' | 'platform' }, known?: OpenedSession
): Promise<Written> {
  if (known === undefined) await sessionState(services, sessionId, orgId)
  const command = { type: 'ApproveImpersonation', data: { approverId: approver.userId, approverVia: approver.via } } as const
  const { position } = await sessionCommand(services, metadata, sessionId, orgId, command)
  return written(position)
}

/** Turns a break-glass request down; `reason`, the approver's words, is kept with the denial. */
export async function denyImpersonation (
  services: ImpersonationServices, metadata: CommandMetadata, orgId: string, sessionId: string, deniedBy: string, reason?: string,
  known?: OpenedSession
): Promise<Written> {
  if (known === undefined) await sessionState(services, sessionId, orgId)
  const command = { type: 'DenyImpersonation', data: { deniedBy, ...(reason === undefined ? {} : { note: reason }) } } as const
  const { position } = await sessionCommand(services, metadata, sessionId, orgId, command)
  return written(position)
}

/** The requester starts an approved break-glass session and receives its token. */
export async function startApproved (
  services: ImpersonationServices, metadata: CommandMetadata, orgId: string, sessionId: string, userId: string, known?: OpenedSession
): Promise<Started> {
  const before = known ?? await sessionState(services, sessionId, orgId)
  if (before.status === 'approved' && before.request.impersonatorId === userId) {
    // Its request holds the reservation already (one made before reservations existed takes it now).
    const judged = await judgeReservation(services, userId, sessionId, metadata.now)
    const reserved = !judged.busy && await reserveImpersonator(services, metadata, userId, { sessionId, orgId }, judged.released)
    if (!reserved) throw new ImpersonatorBusy()
  }
  const issued = issueImpersonationToken(sessionId)
  const command = { type: 'StartImpersonation', data: { startedBy: userId, tokenHash: issued.hash } } as const
  const { state, position } = await sessionCommand(services, metadata, sessionId, orgId, command)
  return { sessionId, ...activeToken(state, issued), ...written(position) }
}

/** The impersonator ends their session (with their own token or the session's). */
export async function stopImpersonation (
  services: ImpersonationServices, metadata: CommandMetadata, sessionId: string, stoppedBy: string, orgId?: string, known?: OpenedSession
): Promise<Written> {
  const state = known ?? await sessionState(services, sessionId, orgId)
  const command = { type: 'StopImpersonation', data: { stoppedBy } } as const
  const { position } = await sessionCommand(services, metadata, sessionId, state.request.orgId, command)
  return written(position)
}

export type RevocationReason = Extract<SessionCommand, { type: 'RevokeImpersonation' }>['data']['reason']

/** How a revocation is recorded: its code (`revoked` unless a re-check names another) and the words of whoever revoked. */
export interface Revocation {
  readonly code?: RevocationReason
  readonly reason?: string
}

/** Ends someone's session: an owner or holder of `impersonation:revoke`, a platform admin, or the system when a re-check fails. */
export async function revokeImpersonation (
  services: ImpersonationServices, metadata: CommandMetadata, sessionId: string, revokedBy: string,
  options: Revocation & { orgId?: string } = {}, known?: OpenedSession
): Promise<Written> {
  const state = known ?? await sessionState(services, sessionId, options.orgId)
  const { position } = await sessionCommand(services, metadata, sessionId, state.request.orgId, {
    type: 'RevokeImpersonation',
    data: { revokedBy, reason: options.code ?? 'revoked', ...(options.reason === undefined ? {} : { note: options.reason }) }
  })
  return written(position)
}

/** Revokes every open session (of one organization, of one kind): the "stop everything" of the runbook. */
export async function revokeAll (
  services: ImpersonationServices, metadata: CommandMetadata, revokedBy: string, filter: { orgId?: string, via?: ImpersonationVia },
  options: Revocation = {}
): Promise<{ revoked: string[], position: string | null }> {
  await sessionsCaughtUp(services)
  const revoked: string[] = []
  // The last revocation's position: a read sent with it (X-Consistent-With) sees every one of them.
  let position: string | null = null
  for (const { sessionId } of await openSessions(services.sql, filter)) {
    const each = { ...metadata, commandId: uuidV5(`${metadata.commandId}/${sessionId}`) }
    const result = await revokeImpersonation(services, each, sessionId, revokedBy, options)
    if (result.position === null) continue
    revoked.push(sessionId)
    position = result.position
  }
  return { revoked, position }
}

/** Records the end of a session whose time is up (the sweep, or the first request after it). */
export async function expireImpersonation (
  services: ImpersonationServices, metadata: CommandMetadata, sessionId: string
): Promise<Written> {
  const state = await sessionState(services, sessionId)
  if (state.status === 'ended') return { position: null }
  // One id per session: every node and every retry that notices the expiry writes it once.
  const once = { ...metadata, commandId: uuidV5(`impersonation-expiry/${sessionId}`) }
  const { position } = await sessionCommand(services, once, sessionId, state.request.orgId, { type: 'ExpireImpersonation', data: {} })
  return written(position)
}
