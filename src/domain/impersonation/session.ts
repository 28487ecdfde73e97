/**
 * The impersonation session aggregate (`impersonation-<sessionId>`).
 *
 *   request ─┬─ a guard fails ────────────────────────────► denied
 *            ├─ ordinary target ──► active ─┬─ stop ──────► stopped
 *            │                              ├─ revoke ────► revoked
 *            │                              └─ time ──────► expired
 *            └─ critical target ──► pending ─ approve (someone else) ─► approved ─ start ─► active
 *                                       └─ deny, stop, revoke, or 30 minutes ─► ended
 *
 * Who approves a break-glass request: a holder of `impersonation:approve`
 * (a platform admin for a support request) who is neither the requester nor
 * the target. Not the requester: break-glass means two people. Not the
 * target: the request exists because the account is critical — an owner,
 * possibly one whose account is the very thing being investigated — so its
 * own "yes" is no independent check, and an approval that the account
 * itself can give is no guard on it. Consent of the target, if the product
 * wants it, would be a separate, explicit step, never a substitute for the
 * second person. Refusing is another matter: anyone who may approve may deny
 * (the target included: a refusal never widens access, and an owner could
 * revoke the request anyway); the requester withdraws with stop instead.
 *
 * Invariants (src/domain/impersonation/session.test.ts checks them over
 * random command sequences): no session of a critical target is active
 * without the approval of a second person who is not its target; none lasts longer than its cap
 * (60 minutes, 15 for break-glass) and none is ever extended or restarted;
 * actions are recorded only while active and before the expiry.
 *
 * What the guards need to know about people and the organization (is the
 * target a member, disabled, staff, critical; is support access on) arrives
 * in the command as facts the application looked up: `decide` stays pure.
 */
import type { Decider } from '../decider.ts'
import { handlerOf } from '../dispatch.ts'
import {
  AlreadyStarted, ApprovalRequired, DurationExceedsCap, NotImpersonator, NotPending, SelfApproval, SessionEnded, SessionNotFound,
  TargetApproval
} from './errors.ts'
import type { DenialReason, ImpersonationEvent, ImpersonationVia, REVOCATION_REASONS } from './events.ts'

export const DEFAULT_MINUTES = 30
export const MAX_MINUTES = 60
export const BREAK_GLASS_MAX_MINUTES = 15
/** A pending or approved request not started within this lapses. */
export const APPROVAL_WINDOW_MINUTES = 30

export interface SessionRequest {
  readonly sessionId: string
  readonly orgId: string
  readonly impersonatorId: string
  readonly targetUserId: string
  readonly via: ImpersonationVia
  readonly reason: string
  readonly ticket?: string
  readonly durationMinutes: number
  readonly critical: boolean
  readonly breakGlass: boolean
  readonly requestedAt: string
}

/** What the application found out before the request: the guards decide on these. */
export interface RequestFacts {
  /** The caller is an impersonation session themselves. */
  readonly impersonating: boolean
  /** The impersonator has another session pending or active. */
  readonly impersonatorBusy: boolean
  readonly targetIsMember: boolean
  readonly targetActive: boolean
  readonly targetIsStaff: boolean
  readonly targetCritical: boolean
  /** The organization lets platform support in (only asked for `via: support`). */
  readonly supportAccess: boolean
}

export type SessionState =
  | { status: 'none' }
  | { status: 'denied', reason: DenialReason }
  | { status: 'pending', request: SessionRequest }
  | { status: 'approved', request: SessionRequest, approverId: string }
  | {
    status: 'active', request: SessionRequest, approverId: string | null, tokenHash: string, startedAt: string, expiresAt: string,
    actions: number
  }
  | {
    status: 'ended', request: SessionRequest, how: 'stopped' | 'expired' | 'revoked' | 'denied', startedAt: string | null,
    expiresAt: string | null,
    /** The code of a revocation or a denial (REVOCATION_REASONS, DENIAL_REASONS); null for a stop or an expiry. */
    code: string | null,
    /** The token of a session that had started: an ended session's token is told it ended, not that it is unknown. */
    tokenHash: string | null
  }

export type SessionCommand =
  | {
    type: 'RequestImpersonation'
    data: Omit<SessionRequest, 'critical' | 'breakGlass' | 'requestedAt' | 'durationMinutes'>
      & { durationMinutes?: number, tokenHash: string, facts: RequestFacts }
  }
  | { type: 'ApproveImpersonation', data: { approverId: string, approverVia: 'member' | 'platform' } }
  | { type: 'DenyImpersonation', data: { deniedBy: string, note?: string } }
  | { type: 'StartImpersonation', data: { startedBy: string, tokenHash: string } }
  | { type: 'RecordAction', data: { method: string, route: string, action?: string, outcome: 'allowed' | 'blocked' } }
  | { type: 'StopImpersonation', data: { stoppedBy: string } }
  | { type: 'RevokeImpersonation', data: { revokedBy: string, reason: typeof REVOCATION_REASONS[number], note?: string } }
  | { type: 'ExpireImpersonation', data: Record<string, never> }

export function sessionStreamId (sessionId: string): string {
  return `impersonation-${sessionId}`
}

const minutes = (at: Date | string, count: number): string => new Date(new Date(at).getTime() + count * 60_000).toISOString()

/** The first guard a request fails, in the order a person would want to hear them. */
function refusal (data: Extract<SessionCommand, { type: 'RequestImpersonation' }>['data']): DenialReason | undefined {
  const { facts } = data
  if (facts.impersonating) return 'already_impersonating'
  // Before anything about the target: staff learn nothing of an organization that keeps them out.
  if (data.via === 'support' && !facts.supportAccess) return 'support_access_disabled'
  if (data.impersonatorId === data.targetUserId) return 'self'
  if (!facts.targetIsMember) return 'target_not_member'
  if (facts.targetIsStaff) return 'target_is_staff'
  if (!facts.targetActive) return 'target_disabled'
  if (facts.impersonatorBusy) return 'impersonator_busy'
  if (facts.targetCritical && (data.ticket ?? '').trim() === '') return 'break_glass_required'
  return undefined
}

function request (command: Extract<SessionCommand, { type: 'RequestImpersonation' }>, now: Date): ImpersonationEvent[] {
  const { facts, tokenHash, durationMinutes, ...asked } = command.data
  const denied = refusal(command.data)
  if (denied !== undefined) {
    return [{
      type: 'impersonation.session.denied',
      data: {
        reason: denied, orgId: asked.orgId, impersonatorId: asked.impersonatorId, targetUserId: asked.targetUserId, via: asked.via,
        // The requester's words stay with the refusal: "refused, and why they asked" is what a reviewer reads.
        requestReason: asked.reason, ...(asked.ticket === undefined ? {} : { ticket: asked.ticket })
      }
    }]
  }
  const breakGlass = facts.targetCritical
  const cap = breakGlass ? BREAK_GLASS_MAX_MINUTES : MAX_MINUTES
  const duration = durationMinutes ?? Math.min(DEFAULT_MINUTES, cap)
  if (!Number.isInteger(duration) || duration < 1 || duration > cap) {
    throw new DurationExceedsCap(`${breakGlass ? 'a break-glass impersonation' : 'an impersonation'} lasts 1 to ${cap} minutes`,
      { maxMinutes: cap })
  }
  const requested: ImpersonationEvent = {
    type: 'impersonation.session.requested',
    data: { ...asked, durationMinutes: duration, critical: facts.targetCritical, breakGlass, requestedAt: now.toISOString() }
  }
  if (breakGlass) return [requested]
  return [requested, started(tokenHash, now, duration, requested.data)]
}

function started (
  tokenHash: string, now: Date, duration: number, asked: Pick<SessionRequest, 'via' | 'critical' | 'breakGlass'>
): ImpersonationEvent {
  return {
    type: 'impersonation.session.started',
    data: {
      tokenHash, startedAt: now.toISOString(), expiresAt: minutes(now, duration),
      via: asked.via, critical: asked.critical, breakGlass: asked.breakGlass
    }
  }
}

const lapsed = (request: SessionRequest, now: Date): boolean =>
  now.getTime() >= Date.parse(minutes(request.requestedAt, APPROVAL_WINDOW_MINUTES))

type Live = Extract<SessionState, { status: 'pending' | 'approved' | 'active' }>

type CommandOf<T extends SessionCommand['type']> = Extract<SessionCommand, { type: T }>
type LiveHandler<T extends SessionCommand['type']> = (command: CommandOf<T>, state: Live, now: Date) => ImpersonationEvent[]

function approve ({ data }: CommandOf<'ApproveImpersonation'>, state: Live, now: Date): ImpersonationEvent[] {
  if (data.approverId === state.request.impersonatorId) throw new SelfApproval()
  if (data.approverId === state.request.targetUserId) throw new TargetApproval()
  if (state.status === 'approved') return []
  if (state.status !== 'pending' || lapsed(state.request, now)) throw new NotPending()
  return [{ type: 'impersonation.session.approved', data: { approverId: data.approverId, via: data.approverVia } }]
}

function deny ({ data }: CommandOf<'DenyImpersonation'>, state: Live, now: Date): ImpersonationEvent[] {
  if (data.deniedBy === state.request.impersonatorId) throw new SelfApproval('withdraw your own request by stopping it')
  if (state.status === 'active' || lapsed(state.request, now)) throw new NotPending()
  const note = data.note === undefined ? {} : { note: data.note }
  return [{ type: 'impersonation.session.denied', data: { reason: 'rejected_by_approver', deniedBy: data.deniedBy, ...note } }]
}

function start ({ data }: CommandOf<'StartImpersonation'>, state: Live, now: Date): ImpersonationEvent[] {
  if (data.startedBy !== state.request.impersonatorId) throw new NotImpersonator()
  if (state.status === 'active') throw new AlreadyStarted()
  if (state.status === 'pending') throw new ApprovalRequired()
  if (lapsed(state.request, now)) throw new SessionEnded('the approved request was not started within 30 minutes', { reason: 'expired' })
  return [started(data.tokenHash, now, state.request.durationMinutes, state.request)]
}

function recordAction ({ data }: CommandOf<'RecordAction'>, state: Live, now: Date): ImpersonationEvent[] {
  if (state.status !== 'active') throw new SessionEnded('the impersonation session has not started')
  if (now.getTime() >= Date.parse(state.expiresAt)) throw sessionEnded({ reason: 'expired', code: null })
  return [{ type: 'impersonation.session.action_recorded', data }]
}

function expire (_: CommandOf<'ExpireImpersonation'>, state: Live, now: Date): ImpersonationEvent[] {
  if (state.status === 'active') {
    const due = now.getTime() >= Date.parse(state.expiresAt)
    if (!due) return []
    return [{ type: 'impersonation.session.expired', data: { at: state.expiresAt, stage: 'active' } }]
  }
  if (!lapsed(state.request, now)) return []
  const at = minutes(state.request.requestedAt, APPROVAL_WINDOW_MINUTES)
  return [{ type: 'impersonation.session.expired', data: { at, stage: 'pending' } }]
}

/** Each command on a live session (pending, approved or active), by type. */
const ON_LIVE: { readonly [T in SessionCommand['type']]: LiveHandler<T> } = {
  RequestImpersonation: () => [],
  ApproveImpersonation: approve,
  DenyImpersonation: deny,
  StartImpersonation: start,
  RecordAction: recordAction,
  StopImpersonation: ({ data }, state) => {
    if (data.stoppedBy !== state.request.impersonatorId) throw new NotImpersonator()
    return [{ type: 'impersonation.session.stopped', data }]
  },
  RevokeImpersonation: ({ data }) => [{ type: 'impersonation.session.revoked', data }],
  ExpireImpersonation: expire
}

function decideOnLive (command: SessionCommand, state: Live, now: Date): ImpersonationEvent[] {
  const handler = handlerOf<LiveHandler<SessionCommand['type']>>(ON_LIVE as never, command.type)
  if (handler === undefined) return unreachable(command as never)
  return handler(command as never, state, now)
}

/** An ended session: ending it again changes nothing, anything else is refused. */
function decideOnEnded (command: SessionCommand, state: Extract<SessionState, { status: 'denied' | 'ended' }>): ImpersonationEvent[] {
  switch (command.type) {
    case 'RequestImpersonation':
    case 'StopImpersonation':
    case 'RevokeImpersonation':
    case 'ExpireImpersonation':
    case 'DenyImpersonation':
      return []
    case 'ApproveImpersonation':
      throw new NotPending()
    case 'StartImpersonation':
    case 'RecordAction':
      throw sessionEnded(state.status === 'ended' ? { reason: state.how, code: state.code } : { reason: 'denied', code: state.reason })
  }
  return unreachable(command)
}

function unreachable (value: never): never {
  throw new Error(`unhandled command ${JSON.stringify(value)}`)
}

export const sessionDecider: Decider<SessionCommand, ImpersonationEvent, SessionState> = {
  initialState: () => ({ status: 'none' }),

  decide (command, state, { now }) {
    switch (state.status) {
      case 'none':
        if (command.type !== 'RequestImpersonation') throw new SessionNotFound()
        return request(command, now)
      case 'denied':
      case 'ended':
        return decideOnEnded(command, state)
      default:
        return decideOnLive(command, state, now)
    }
  },

  evolve (state, event) {
    const handler = handlerOf<SessionEvolver<ImpersonationEvent['type']>>(ON_EVENT as never, event.type)
    return handler === undefined ? state : handler(state, event as never)
  }
}

type EventOf<T extends ImpersonationEvent['type']> = Extract<ImpersonationEvent, { type: T }>
type SessionEvolver<T extends ImpersonationEvent['type']> = (state: SessionState, event: EventOf<T>) => SessionState

function evolveStarted (state: SessionState, { data }: EventOf<'impersonation.session.started'>): SessionState {
  if (state.status !== 'pending' && state.status !== 'approved') return state
  return {
    status: 'active',
    request: state.request,
    approverId: state.status === 'approved' ? state.approverId : null,
    tokenHash: data.tokenHash,
    startedAt: data.startedAt,
    expiresAt: data.expiresAt,
    actions: 0
  }
}

/** Each event on a session, by type. */
const ON_EVENT: { readonly [T in ImpersonationEvent['type']]: SessionEvolver<T> } = {
  // Only a new session is requested: nothing reopens one.
  'impersonation.session.requested': (state, { data }) => (state.status === 'none' ? { status: 'pending', request: data } : state),
  'impersonation.session.approved': (state, { data }) =>
    (state.status === 'pending' ? { status: 'approved', request: state.request, approverId: data.approverId } : state),
  'impersonation.session.started': evolveStarted,
  'impersonation.session.action_recorded': (state) => (state.status === 'active' ? { ...state, actions: state.actions + 1 } : state),
  'impersonation.session.denied': (state, { data }) =>
    (state.status === 'none' ? { status: 'denied', reason: data.reason } : ended(state, 'denied', data.reason)),
  'impersonation.session.stopped': (state) => ended(state, 'stopped'),
  'impersonation.session.revoked': (state, { data }) => ended(state, 'revoked', data.reason),
  'impersonation.session.expired': (state) => ended(state, 'expired')
}

function ended (state: SessionState, how: Extract<SessionState, { status: 'ended' }>['how'], code: string | null = null): SessionState {
  if (state.status !== 'pending' && state.status !== 'approved' && state.status !== 'active') return state
  const active = state.status === 'active'
  return {
    status: 'ended',
    request: state.request,
    how,
    startedAt: active ? state.startedAt : null,
    expiresAt: active ? state.expiresAt : null,
    code,
    tokenHash: active ? state.tokenHash : null
  }
}

/** How a session ended, as its token's holder is told: `reason` is the kind of end, `code` a revocation's or denial's code. */
export interface SessionEnd {
  readonly reason: 'stopped' | 'expired' | 'revoked' | 'denied'
  readonly code: string | null
}

/** How the session has ended by `now` (an active one past its expiry has expired, written or not); undefined while it goes on. */
export function endOf (state: SessionState, now: Date): SessionEnd | undefined {
  switch (state.status) {
    case 'ended': return { reason: state.how, code: state.code }
    case 'denied': return { reason: 'denied', code: state.reason }
    case 'active': return now.getTime() >= Date.parse(state.expiresAt) ? { reason: 'expired', code: null } : undefined
    default: return undefined
  }
}

/** The 401 an ended session's token gets: `impersonation.ended`, saying how (and why, for a revocation). */
export function sessionEnded (end: SessionEnd): SessionEnded {
  const why = end.code === null ? end.reason : `${end.reason} (${end.code.replaceAll('_', ' ')})`
  return new SessionEnded(`the impersonation session has ended: ${why}`,
    { reason: end.reason, ...(end.code === null ? {} : { cause: end.code }) })
}
