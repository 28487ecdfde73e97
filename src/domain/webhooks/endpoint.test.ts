/**
 * The endpoint decider: one example per rule, then a property over random
 * command sequences (the probe never lifts `gone` or a person's `manual`;
 * a deleted endpoint takes nothing).
 */
import fc from 'fast-check'
import t from 'tap'
import { fold } from '../decider.ts'
import { LedgerlineError } from '../errors.ts'
import { spec } from '../testing.ts'
import { endpointDecider, type EndpointCommand, type EndpointSettings } from './endpoint.ts'
import type { EndpointEvent } from './endpoint-events.ts'

const endpoints = spec(endpointDecider)
const settings: EndpointSettings = {
  endpointId: 'ep_1', orgId: 'org_a', url: 'https://siem.example/hook', description: '', eventTypes: ['rbac.*'], enabled: true,
  secretFingerprint: 'sha256:0123456789abcdef'
}
const created: EndpointEvent = { type: 'webhook.endpoint.created', data: settings }
const disabled = (reason: 'manual' | 'failing' | 'gone'): EndpointEvent => ({ type: 'webhook.endpoint.disabled', data: { reason } })

t.test('an endpoint is created once', async (t) => {
  endpoints.given([]).when({ type: 'CreateEndpoint', data: settings }).then(t, [created])
  endpoints.given([created]).when({ type: 'CreateEndpoint', data: settings }).thenThrows(t, 'webhook.endpoint_exists')
})

t.test('an update carries only what changed; enabled turns it off and on', async (t) => {
  endpoints.given([created]).when({ type: 'UpdateEndpoint', data: { url: settings.url, description: 'SIEM' } })
    .then(t, [{ type: 'webhook.endpoint.updated', data: { description: 'SIEM' } }])
  endpoints.given([created]).when({ type: 'UpdateEndpoint', data: { eventTypes: ['rbac.*'] } }).then(t, [], 'the same filters: nothing')
  endpoints.given([created]).when({ type: 'UpdateEndpoint', data: { enabled: false } }).then(t, [disabled('manual')])
  endpoints.given([created, disabled('gone')]).when({ type: 'UpdateEndpoint', data: { enabled: true } })
    .then(t, [{ type: 'webhook.endpoint.enabled', data: { by: 'manual' } }])
})

t.test('the probe lifts only a failing endpoint; a person lifts any', async (t) => {
  const probe: EndpointCommand = { type: 'EnableEndpoint', data: { by: 'probe' } }
  endpoints.given([created, disabled('failing')]).when(probe).then(t, [{ type: 'webhook.endpoint.enabled', data: { by: 'probe' } }])
  endpoints.given([created, disabled('gone')]).when(probe).then(t, [], 'the receiver said it is gone')
  endpoints.given([created, disabled('manual')]).when(probe).then(t, [], 'a person turned it off')
  endpoints.given([created, disabled('gone')]).when({ type: 'EnableEndpoint', data: { by: 'recover' } })
    .then(t, [{ type: 'webhook.endpoint.enabled', data: { by: 'recover' } }])
  endpoints.given([created]).when(probe).then(t, [], 'already on')
})

t.test('disabling a disabled endpoint changes nothing, except that gone outranks the rest', async (t) => {
  const disable = (reason: 'failing' | 'gone'): EndpointCommand => ({ type: 'DisableEndpoint', data: { reason } })
  endpoints.given([created, disabled('failing')]).when(disable('failing')).then(t, [])
  endpoints.given([created, disabled('gone')]).when(disable('failing')).then(t, [])
  endpoints.given([created, disabled('failing')]).when(disable('gone')).then(t, [disabled('gone')])
})

t.test('a deleted or unknown endpoint is not found for every command', async (t) => {
  const deleted: EndpointEvent = { type: 'webhook.endpoint.deleted', data: {} }
  for (const history of [[], [created, deleted]]) {
    endpoints.given(history).when({ type: 'DeleteEndpoint', data: {} }).thenThrows(t, 'webhook.endpoint_not_found')
    endpoints.given(history).when({ type: 'UpdateEndpoint', data: { description: 'x' } }).thenThrows(t, 'webhook.endpoint_not_found')
    endpoints.given(history).when({ type: 'EnableEndpoint', data: { by: 'manual' } }).thenThrows(t, 'webhook.endpoint_not_found')
  }
})

t.test('property: over random commands, the probe never enables a gone or manually disabled endpoint', async (t) => {
  const command = fc.oneof(
    fc.constantFrom<EndpointCommand>(
      { type: 'EnableEndpoint', data: { by: 'probe' } }, { type: 'EnableEndpoint', data: { by: 'manual' } },
      { type: 'DisableEndpoint', data: { reason: 'failing' } }, { type: 'DisableEndpoint', data: { reason: 'gone' } },
      { type: 'UpdateEndpoint', data: { enabled: false } }, { type: 'UpdateEndpoint', data: { enabled: true } },
      { type: 'DeleteEndpoint', data: {} }))
  fc.assert(fc.property(fc.array(command, { maxLength: 30 }), (commands) => {
    let history: EndpointEvent[] = [created]
    for (const next of commands) {
      const state = fold(endpointDecider, history)
      let events: EndpointEvent[]
      try {
        events = endpointDecider.decide(next, state, { now: new Date(), actor: { type: 'system', id: 'test' } })
      } catch (error) {
        if (!(error instanceof LedgerlineError)) throw error
        continue
      }
      if (next.type === 'EnableEndpoint' && next.data.by === 'probe' && events.length > 0) {
        if (state.status !== 'disabled' || state.reason !== 'failing') return false
      }
      history = [...history, ...events]
    }
    return true
  }))
  t.pass('held for every sequence')
})
