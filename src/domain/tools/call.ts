/**
 * The tool call aggregate (`toolcall-<callId>`): the rules every caller's
 * call goes through, whoever runs the pipeline (src/application/tools/).
 *
 * Invariants (src/domain/tools/call.test.ts checks them over random command
 * sequences): nothing starts before its input was accepted and its caller
 * authorized (a request is followed by a denial, a refusal, an approval
 * request or a start, and the pipeline issues those in that order); a call
 * that needs approval starts only after its caller approved it, before the
 * approval expired; only the caller approves or denies, as they called
 * (impersonated by the same impersonator, or not impersonated); a second
 * attempt starts only for a tool that was idempotent when called, and never
 * more than `maxAttempts`; an ended call (succeeded, failed, timed out,
 * denied) takes no command.
 *
 * Time arrives as the decision's `now`; the backoff's delay as the caller's
 * `retryInMs`, which the decider honours only when a retry is allowed.
 */
import type { Decider } from '../decider.ts'
import { handlerOf } from '../dispatch.ts'
import {
  ToolApprovalExpired, ToolApprovalNotYours, ToolCallClosed, ToolCallExists, ToolCallNotFound, ToolCallNotPending, ToolCallNotRunning
} from './errors.ts'
import type { ToolCallEvent, ToolDenialReason } from './events.ts'

type Of<Type extends ToolCallEvent['type']> = Extract<ToolCallEvent, { type: Type }>['data']
export type RequestedCall = Of<'ai.tool.call.requested'>

export const ENDED = ['succeeded', 'failed', 'timed_out', 'denied'] as const
export type EndedStatus = typeof ENDED[number]

export type ToolCallState =
  | { status: 'none' }
  | { status: 'requested', call: RequestedCall }
  | { status: 'awaiting_approval', call: RequestedCall, expiresAt: string }
  | { status: 'approved', call: RequestedCall, approvedBy: string }
  | { status: 'running', call: RequestedCall, attempt: number }
  | { status: 'retrying', call: RequestedCall, attempt: number, retryAt: string }
  | { status: EndedStatus, call: RequestedCall, attempt: number }

/** Who acts on a pending call: the caller, impersonated by `impersonatorId` when set. */
export interface CallerIdentity { readonly by: string, readonly impersonatorId?: string | undefined }

export type ToolCallCommand =
  | { type: 'RequestCall', data: RequestedCall }
  | { type: 'RefuseInput', data: { code: string, message: string } }
  | { type: 'DenyCall', data: CallerIdentity & { reason: ToolDenialReason, action?: string } }
  | { type: 'AskApproval', data: { expiresAt: string } }
  | { type: 'ApproveCall', data: CallerIdentity }
  | { type: 'StartAttempt', data: Record<string, never> }
  | { type: 'SucceedAttempt', data: { attempt: number, durationMs: number, outputBytes: number } }
  | { type: 'FailAttempt', data: { attempt: number, code: string, message: string, durationMs: number, retryInMs: number | null } }
  | { type: 'TimeOutAttempt', data: { attempt: number, retryInMs: number | null } }

export function toolCallStreamId (callId: string): string {
  return `toolcall-${callId}`
}

type State<S extends ToolCallState['status']> = Extract<ToolCallState, { status: S }>
type CommandOf<T extends ToolCallCommand['type']> = Extract<ToolCallCommand, { type: T }>

function closed (state: ToolCallState): never {
  if (state.status === 'none') throw new ToolCallNotFound()
  const { status } = state
  if ((ENDED as readonly string[]).includes(status)) throw new ToolCallClosed(`the tool call has ${status}`, { status })
  throw new ToolCallNotPending(`the tool call is ${status}`, { status })
}

/** Whether `who` is the call's caller as they called: the same user, impersonated by the same impersonator or not at all. */
export function isCaller (call: RequestedCall, who: CallerIdentity): boolean {
  return who.by === call.callerId && who.impersonatorId === call.impersonatorId
}

function requireCaller (call: RequestedCall, who: CallerIdentity): void {
  if (!isCaller(call, who)) throw new ToolApprovalNotYours()
}

function pending (state: ToolCallState, now: Date): State<'awaiting_approval'> {
  if (state.status !== 'awaiting_approval') return closed(state)
  if (now.getTime() >= Date.parse(state.expiresAt)) throw new ToolApprovalExpired(undefined, { expiresAt: state.expiresAt })
  return state
}

function deny ({ data }: CommandOf<'DenyCall'>, state: ToolCallState, now: Date): ToolCallEvent[] {
  const { reason, by, action } = data
  const denied: ToolCallEvent = { type: 'ai.tool.call.denied', data: { reason, by, ...(action === undefined ? {} : { action }) } }
  if (reason === 'approval_denied') {
    requireCaller(pending(state, now).call, data)
    return [denied]
  }
  if (reason === 'approval_expired') {
    if (state.status !== 'awaiting_approval') return closed(state)
    const { expiresAt } = state
    if (now.getTime() < Date.parse(expiresAt)) throw new ToolCallNotPending('the approval has not expired', { expiresAt })
    return [denied]
  }
  if (state.status !== 'requested' && state.status !== 'awaiting_approval') return closed(state)
  return [denied]
}

function start (state: ToolCallState, now: Date): ToolCallEvent[] {
  const started = (call: RequestedCall, attempt: number): ToolCallEvent[] =>
    [{ type: 'ai.tool.call.started', data: { attempt, timeoutMs: call.timeoutMs } }]
  switch (state.status) {
    case 'requested':
      if (state.call.approval === 'required') throw new ToolCallNotPending('the tool call needs its caller\'s approval first')
      return started(state.call, 1)
    case 'approved': return started(state.call, 1)
    case 'retrying':
      if (now.getTime() < Date.parse(state.retryAt)) throw new ToolCallNotRunning('the next attempt is not due', { retryAt: state.retryAt })
      return started(state.call, state.attempt + 1)
    default: return closed(state)
  }
}

function running (state: ToolCallState, attempt: number): State<'running'> {
  if (state.status === 'running' && state.attempt === attempt) return state
  if (state.status === 'running' || state.status === 'retrying') throw new ToolCallNotRunning(undefined, { attempt })
  return closed(state)
}

/** When the next attempt is due: only for a tool idempotent when called, with attempts left, and a delay given. */
function retryAt (state: State<'running'>, retryInMs: number | null, now: Date): string | null {
  const allowed = retryInMs !== null && state.call.idempotent && state.attempt < state.call.maxAttempts
  return allowed ? new Date(now.getTime() + Math.max(0, retryInMs)).toISOString() : null
}

type Decide<T extends ToolCallCommand['type']> = (command: CommandOf<T>, state: ToolCallState, now: Date) => ToolCallEvent[]

const ON_COMMAND: { readonly [T in ToolCallCommand['type']]: Decide<T> } = {
  RequestCall: ({ data }, state) => {
    if (state.status !== 'none') throw new ToolCallExists(undefined, { callId: data.callId })
    return [{ type: 'ai.tool.call.requested', data }]
  },
  RefuseInput: ({ data }, state) => {
    if (state.status !== 'requested' && state.status !== 'approved') return closed(state)
    const { code, message } = data
    return [{ type: 'ai.tool.call.failed', data: { attempt: 0, code, message: message.slice(0, 500), durationMs: 0, retryAt: null } }]
  },
  DenyCall: deny,
  AskApproval: ({ data }, state) => {
    if (state.status !== 'requested') return closed(state)
    if (state.call.approval !== 'required') throw new ToolCallNotPending('the tool call needs no approval')
    return [{ type: 'ai.tool.call.approval_requested', data: { approverId: state.call.callerId, expiresAt: data.expiresAt } }]
  },
  ApproveCall: ({ data }, state, now) => {
    requireCaller(pending(state, now).call, data)
    return [{ type: 'ai.tool.call.approved', data: { by: data.by } }]
  },
  StartAttempt: (_command, state, now) => start(state, now),
  SucceedAttempt: ({ data }, state) => {
    running(state, data.attempt)
    return [{ type: 'ai.tool.call.succeeded', data }]
  },
  FailAttempt: ({ data }, state, now) => {
    const { retryInMs, ...rest } = data
    const retry = retryAt(running(state, data.attempt), retryInMs, now)
    return [{ type: 'ai.tool.call.failed', data: { ...rest, message: rest.message.slice(0, 500), retryAt: retry } }]
  },
  TimeOutAttempt: ({ data }, state, now) => {
    const current = running(state, data.attempt)
    const retry = retryAt(current, data.retryInMs, now)
    return [{ type: 'ai.tool.call.timed_out', data: { attempt: data.attempt, timeoutMs: current.call.timeoutMs, retryAt: retry } }]
  }
}

type EventOf<T extends ToolCallEvent['type']> = Extract<ToolCallEvent, { type: T }>
type Evolve<T extends ToolCallEvent['type']> = (state: ToolCallState, event: EventOf<T>) => ToolCallState

const callOf = (state: ToolCallState): RequestedCall | undefined => (state.status === 'none' ? undefined : state.call)
const attemptOf = (state: ToolCallState): number => ('attempt' in state ? state.attempt : 0)

/** An attempt's end: waiting for the next attempt when one is due, else ended with `status`. */
type AttemptEnd = EventOf<'ai.tool.call.failed' | 'ai.tool.call.timed_out'>
const attemptEnded = (status: 'failed' | 'timed_out') => (state: ToolCallState, { data }: AttemptEnd): ToolCallState => {
  const call = callOf(state)
  if (call === undefined) return state
  const { attempt, retryAt: due } = data
  return due === null ? { status, call, attempt } : { status: 'retrying', call, attempt, retryAt: due }
}

const ON_EVENT: { readonly [T in ToolCallEvent['type']]: Evolve<T> } = {
  'ai.tool.call.requested': (state, { data }) => (state.status === 'none' ? { status: 'requested', call: data } : state),
  'ai.tool.call.approval_requested': (state, { data }) =>
    (state.status === 'requested' ? { status: 'awaiting_approval', call: state.call, expiresAt: data.expiresAt } : state),
  'ai.tool.call.approved': (state, { data }) =>
    (state.status === 'awaiting_approval' ? { status: 'approved', call: state.call, approvedBy: data.by } : state),
  'ai.tool.call.denied': (state) => {
    const call = callOf(state)
    return call === undefined ? state : { status: 'denied', call, attempt: attemptOf(state) }
  },
  'ai.tool.call.started': (state, { data }) => {
    const call = callOf(state)
    return call === undefined ? state : { status: 'running', call, attempt: data.attempt }
  },
  'ai.tool.call.succeeded': (state, { data }) => {
    const call = callOf(state)
    return call === undefined ? state : { status: 'succeeded', call, attempt: data.attempt }
  },
  'ai.tool.call.failed': attemptEnded('failed'),
  'ai.tool.call.timed_out': attemptEnded('timed_out')
}

function unreachable (value: never): never {
  throw new Error(`unhandled command ${JSON.stringify(value)}`)
}

export const toolCallDecider: Decider<ToolCallCommand, ToolCallEvent, ToolCallState> = {
  initialState: () => ({ status: 'none' }),
  decide (command, state, { now }) {
    if (state.status === 'none' && command.type !== 'RequestCall') throw new ToolCallNotFound()
    const decide = handlerOf<Decide<ToolCallCommand['type']>>(ON_COMMAND as never, command.type)
    return decide === undefined ? unreachable(command as never) : decide(command as never, state, now)
  },
  evolve (state, event) {
    const evolve = handlerOf<Evolve<ToolCallEvent['type']>>(ON_EVENT as never, event.type)
    return evolve === undefined ? state : evolve(state, event as never)
  }
}
