/**
 * The endpoint aggregate (`whep-<endpointId>`). An endpoint is `active`
 * (deliveries go out), `disabled` (deliveries are held: by hand, after days
 * of failures, or because the receiver said 410 Gone) or `deleted`.
 *
 * Invariants: a command on an endpoint that does not exist or was deleted is
 * refused as not found (so another organization's endpoint and a deleted
 * one look the same); disabling a disabled endpoint and enabling an active
 * one change nothing (the probe and a person may race); `gone` is only
 * lifted by a person (`recover`), never by the probe.
 */
import type { Decider } from '../decider.ts'
import { EndpointExists, EndpointNotFound } from './endpoint-errors.ts'
import type { DisableReason, EnabledBy, EndpointEvent } from './endpoint-events.ts'

type Of<Type extends EndpointEvent['type']> = Extract<EndpointEvent, { type: Type }>['data']
export type EndpointSettings = Of<'webhook.endpoint.created'>

export type EndpointState =
  | { status: 'none' }
  | { status: 'active', endpoint: EndpointSettings }
  | { status: 'disabled', endpoint: EndpointSettings, reason: DisableReason }
  | { status: 'deleted', endpoint: EndpointSettings }

export type EndpointCommand =
  | { type: 'CreateEndpoint', data: EndpointSettings }
  | { type: 'UpdateEndpoint', data: Of<'webhook.endpoint.updated'> & { enabled?: boolean } }
  | { type: 'RotateSecret', data: Of<'webhook.endpoint.secret_rotated'> }
  | { type: 'DisableEndpoint', data: Of<'webhook.endpoint.disabled'> }
  | { type: 'EnableEndpoint', data: { by: EnabledBy } }
  | { type: 'DeleteEndpoint', data: Record<string, never> }

export function endpointStreamId (endpointId: string): string {
  return `whep-${endpointId}`
}

type Live = Extract<EndpointState, { status: 'active' | 'disabled' }>

function live (state: EndpointState): Live {
  if (state.status === 'active' || state.status === 'disabled') return state
  throw new EndpointNotFound()
}

/** The fields of an update that differ from the endpoint's, as the event carries them. */
function changed (endpoint: EndpointSettings, data: Of<'webhook.endpoint.updated'>): Of<'webhook.endpoint.updated'> {
  const out: Of<'webhook.endpoint.updated'> = {}
  if (data.url !== undefined && data.url !== endpoint.url) out.url = data.url
  if (data.description !== undefined && data.description !== endpoint.description) out.description = data.description
  if (data.eventTypes !== undefined && data.eventTypes.join('\n') !== endpoint.eventTypes.join('\n')) out.eventTypes = data.eventTypes
  return out
}

function update ({ data }: Extract<EndpointCommand, { type: 'UpdateEndpoint' }>, state: EndpointState): EndpointEvent[] {
  const current = live(state)
  const { enabled, ...settings } = data
  const fields = changed(current.endpoint, settings)
  const events: EndpointEvent[] = Object.keys(fields).length > 0 ? [{ type: 'webhook.endpoint.updated', data: fields }] : []
  if (enabled === false && current.status === 'active') events.push({ type: 'webhook.endpoint.disabled', data: { reason: 'manual' } })
  if (enabled === true && current.status === 'disabled') events.push({ type: 'webhook.endpoint.enabled', data: { by: 'manual' } })
  return events
}

function enable (by: EnabledBy, state: EndpointState): EndpointEvent[] {
  const current = live(state)
  if (current.status === 'active') return []
  // The receiver said it is gone, or a person turned it off: only a person turns it on again.
  if (by === 'probe' && current.reason !== 'failing') return []
  return [{ type: 'webhook.endpoint.enabled', data: { by } }]
}

export function decideEndpoint (command: EndpointCommand, state: EndpointState): EndpointEvent[] {
  switch (command.type) {
    case 'CreateEndpoint':
      if (state.status !== 'none') throw new EndpointExists()
      return [{ type: 'webhook.endpoint.created', data: command.data }]
    case 'UpdateEndpoint': return update(command, state)
    case 'RotateSecret':
      live(state)
      return [{ type: 'webhook.endpoint.secret_rotated', data: command.data }]
    case 'DisableEndpoint': {
      const current = live(state)
      // Already off: a later reason does not overwrite the first (a `gone` stays gone), except that `gone` outranks the rest.
      if (current.status === 'disabled' && !(command.data.reason === 'gone' && current.reason !== 'gone')) return []
      return [{ type: 'webhook.endpoint.disabled', data: command.data }]
    }
    case 'EnableEndpoint': return enable(command.data.by, state)
    case 'DeleteEndpoint':
      live(state)
      return [{ type: 'webhook.endpoint.deleted', data: {} }]
    default: {
      const unknown: never = command
      throw new Error(`unknown command ${(unknown as { type: string }).type}`)
    }
  }
}

export function evolveEndpoint (state: EndpointState, event: EndpointEvent): EndpointState {
  switch (event.type) {
    case 'webhook.endpoint.created':
      return event.data.enabled
        ? { status: 'active', endpoint: event.data }
        : { status: 'disabled', endpoint: event.data, reason: 'manual' }
    case 'webhook.endpoint.updated':
      return state.status === 'none' ? state : { ...state, endpoint: { ...state.endpoint, ...event.data } }
    case 'webhook.endpoint.secret_rotated':
      if (state.status === 'none') return state
      return { ...state, endpoint: { ...state.endpoint, secretFingerprint: event.data.secretFingerprint } }
    case 'webhook.endpoint.disabled':
      return state.status === 'none' ? state : { status: 'disabled', endpoint: state.endpoint, reason: event.data.reason }
    case 'webhook.endpoint.enabled':
      return state.status === 'none' ? state : { status: 'active', endpoint: state.endpoint }
    case 'webhook.endpoint.deleted':
      return state.status === 'none' ? state : { status: 'deleted', endpoint: state.endpoint }
    default: return state
  }
}

export const endpointDecider: Decider<EndpointCommand, EndpointEvent, EndpointState> = {
  decide: (command, state) => decideEndpoint(command, state),
  evolve: evolveEndpoint,
  initialState: () => ({ status: 'none' })
}
