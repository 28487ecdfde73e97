/**
 * Two deciders of inbound processing:
 *
 * - the message (`whin-…`): `webhook.received` is appended by the receiving
 *   route alone (with `no_stream`, no decision needed); processing records
 *   its outcome here. The same outcome twice is recorded once, so processing
 *   a message again (a retried job, a replay) writes nothing unless it
 *   decides otherwise than last time (a customer linked since: skipped, then
 *   applied).
 * - the object (`whobj-stripe-<objectId>`): Stripe sends an object's events
 *   in no particular order and more than once. An event is applied only if it
 *   is newer, by (`created`, then event id), than every one applied to the
 *   object before; one applied already is applied (nothing new), an older one
 *   is refused (`webhook.older_than_applied`) and the message skipped.
 */
import type { Decider } from '../decider.ts'
import { WebhookMessageNotFound, WebhookOlderThanApplied } from './inbound-errors.ts'
import type { InboundMessageEvent, ObjectAppliedData, ObjectEvent, ProcessedData, ReceivedData } from './inbound-events.ts'

export const objectStreamId = (objectId: string): string => `whobj-stripe-${objectId}`

export type MessageState =
  | { status: 'none' }
  | { status: 'received', received: ReceivedData, outcome: ProcessedData | null }

export type MessageCommand = { type: 'RecordOutcome', data: ProcessedData }

const sameOutcome = (a: ProcessedData | null, b: ProcessedData): boolean =>
  a !== null && a.outcome === b.outcome && a.reason === b.reason && a.orgId === b.orgId

export const messageDecider: Decider<MessageCommand, InboundMessageEvent, MessageState> = {
  decide (command, state) {
    if (state.status === 'none') throw new WebhookMessageNotFound()
    return sameOutcome(state.outcome, command.data) ? [] : [{ type: 'webhook.processed', data: command.data }]
  },
  evolve (state, event) {
    if (event.type === 'webhook.received') return { status: 'received', received: event.data, outcome: null }
    return state.status === 'none' ? state : { ...state, outcome: event.data }
  },
  initialState: () => ({ status: 'none' })
}

/** Where an event stands in its object's order: by `created` (seconds), then by event id. */
export interface ObjectMark { readonly created: number, readonly eventId: string }

export function compareMarks (a: ObjectMark, b: ObjectMark): number {
  if (a.created !== b.created) return a.created < b.created ? -1 : 1
  return a.eventId === b.eventId ? 0 : (a.eventId < b.eventId ? -1 : 1)
}

export interface ObjectState {
  /** The newest event applied, with what it set; null before the first. */
  readonly latest: ObjectAppliedData | null
  /** Every event id applied, so processing one again is recognized as done rather than as older. */
  readonly applied: Readonly<Record<string, true>>
}

export type ObjectCommand = { type: 'ApplyObjectEvent', data: ObjectAppliedData }

export const objectDecider: Decider<ObjectCommand, ObjectEvent, ObjectState> = {
  decide ({ data }, state) {
    if (Object.hasOwn(state.applied, data.eventId)) return []
    if (state.latest !== null && compareMarks(data, state.latest) < 0) {
      throw new WebhookOlderThanApplied(undefined, { objectId: data.objectId, applied: state.latest.eventId })
    }
    return [{ type: 'webhook.object.applied', data }]
  },
  evolve (state, event) {
    const applied = { ...state.applied }
    Object.defineProperty(applied, event.data.eventId, { value: true, enumerable: true, writable: true, configurable: true })
    return { latest: event.data, applied }
  },
  initialState: () => ({ latest: null, applied: {} })
}
