/**
 * The message aggregate (`whmsg-<messageId>`): one event for one endpoint.
 * `pending` until an attempt delivers it (`delivered`) or the receiver says
 * it is gone; `exhausted` when its delivery job spent every attempt of the
 * schedule; `held` while its endpoint is disabled or older messages of the
 * endpoint wait to be sent (no attempt is spent on it); an attempt from the
 * probe, the backlog or a resend takes it out of `held` or `exhausted`.
 * Attempts are numbered per message, whichever job made them.
 *
 * The message id derives from the endpoint and the source event, so the
 * fan-out that meets the same event twice names the same message.
 */
import type { Decider } from '../decider.ts'
import { uuidV5 } from '../envelope.ts'
import { MessageNotFound } from './endpoint-errors.ts'
import type { CreatedMessage, HoldReason, MessageEvent, RecordedAttempt } from './outbound-events.ts'

export type MessageState =
  | { status: 'none' }
  | { status: 'pending' | 'held' | 'delivered' | 'gone' | 'exhausted', message: CreatedMessage, attempts: number }

export type MessageCommand =
  | { type: 'CreateMessage', data: CreatedMessage & { held: boolean } }
  | { type: 'HoldMessage', data: { reason: HoldReason } }
  | { type: 'RecordAttempt', data: Omit<RecordedAttempt, 'attempt' | 'endpointId' | 'orgId'> }
  | { type: 'ExhaustMessage', data: { errorCode: string | null } }

export function messageStreamId (messageId: string): string {
  return `whmsg-${messageId}`
}

/** `msg_` and 32 hex digits of a UUIDv5 of (endpoint, source event): the same message whoever derives it. */
export function messageIdOf (endpointId: string, sourceEventId: string): string {
  return `msg_${uuidV5(`webhook-message/${endpointId}/${sourceEventId}`).replaceAll('-', '')}`
}

function existing (state: MessageState): Exclude<MessageState, { status: 'none' }> {
  if (state.status === 'none') throw new MessageNotFound()
  return state
}

export function decideMessage (command: MessageCommand, state: MessageState): MessageEvent[] {
  switch (command.type) {
    case 'CreateMessage': {
      if (state.status !== 'none') return []
      const { held, ...message } = command.data
      const created: MessageEvent = { type: 'webhook.message.created', data: message }
      return held ? [created, { type: 'webhook.message.held', data: { reason: 'endpoint_disabled' } }] : [created]
    }
    case 'HoldMessage': {
      const current = existing(state)
      return current.status === 'pending' ? [{ type: 'webhook.message.held', data: { reason: command.data.reason } }] : []
    }
    case 'ExhaustMessage': {
      // Only a message still waiting for an attempt ends so: a delivered, gone or held one (a backlog has it) does not.
      const current = existing(state)
      if (current.status !== 'pending' || current.attempts === 0) return []
      return [{ type: 'webhook.message.exhausted', data: { attempts: current.attempts, errorCode: command.data.errorCode } }]
    }
    case 'RecordAttempt': {
      const { message, attempts } = existing(state)
      const { endpointId, orgId } = message
      return [{ type: 'webhook.attempt.recorded', data: { ...command.data, endpointId, orgId, attempt: attempts + 1 } }]
    }
    default: {
      const unknown: never = command
      throw new Error(`unknown command ${(unknown as { type: string }).type}`)
    }
  }
}

export function evolveMessage (state: MessageState, event: MessageEvent): MessageState {
  switch (event.type) {
    case 'webhook.message.created': return { status: 'pending', message: event.data, attempts: 0 }
    case 'webhook.message.held': return state.status === 'none' ? state : { ...state, status: 'held' }
    case 'webhook.message.exhausted': return state.status === 'none' ? state : { ...state, status: 'exhausted' }
    case 'webhook.attempt.recorded': {
      if (state.status === 'none') return state
      // A resend of a delivered message that fails leaves it delivered: it was.
      const { outcome } = event.data
      const status = state.status === 'delivered' || outcome === 'delivered' ? 'delivered' : outcome === 'gone' ? 'gone' : 'pending'
      return { ...state, status, attempts: event.data.attempt }
    }
    default: return state
  }
}

export const messageDecider: Decider<MessageCommand, MessageEvent, MessageState> = {
  decide: (command, state) => decideMessage(command, state),
  evolve: evolveMessage,
  initialState: () => ({ status: 'none' })
}
