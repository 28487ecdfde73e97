import fc from 'fast-check'
import t from 'tap'
import { fold } from '../decider.ts'
import type { WebhookSourceEvent } from './inbound-events.ts'
import { sourceDecider, type SourceCommand, type SourceState } from './inbound-source.ts'

const ctx = { now: new Date(0), actor: { type: 'user' as const, id: 'usr_1' } }
const secret = (n: number) => ({ secretId: `sec_${n}`, fingerprint: `sha256:${n.toString(16).padStart(16, '0')}` })
const create: SourceCommand = {
  type: 'CreateSource', data: { sourceId: 'whs_1', orgId: 'org_1', name: 'CRM', description: null, ...secret(1) }
}
const rotate = (n: number): SourceCommand => ({ type: 'RotateSecret', data: { ...secret(n), previous: [] } })
const disable: SourceCommand = { type: 'DisableSource', data: {} }

/** Runs the commands in order, skipping refused ones; answers every event and the final state. */
function run (commands: readonly SourceCommand[]): { events: WebhookSourceEvent[], state: SourceState } {
  let state = sourceDecider.initialState()
  const events: WebhookSourceEvent[] = []
  for (const command of commands) {
    try {
      for (const event of sourceDecider.decide(command, state, ctx)) {
        events.push(event)
        state = sourceDecider.evolve(state, event)
      }
    } catch (error) {
      if (!/^webhook\./.test((error as { code?: string }).code ?? '')) throw error
    }
  }
  return { events, state }
}

t.test('a source is created once, rotated while enabled, and disabled for good', async (t) => {
  t.throws(() => sourceDecider.decide(rotate(2), sourceDecider.initialState(), ctx), { code: 'webhook.source_not_found' })
  const { events, state } = run([create, create, rotate(2), disable, disable])
  t.same(events.map((event) => event.type), ['webhook.source.created', 'webhook.source.secret_rotated', 'webhook.source.disabled'],
    'creating again and disabling again write nothing')
  t.match(state, { status: 'disabled', secrets: [secret(1), secret(2)] })
  t.throws(() => sourceDecider.decide(rotate(3), state, ctx), { code: 'webhook.source_disabled' }, 'a disabled source gets no new secret')
})

t.test('any sequence of commands: folding the events gives the state, and secrets only grow while enabled', async (t) => {
  const command = fc.oneof(fc.constant(create), fc.integer({ min: 2, max: 50 }).map(rotate), fc.constant(disable))
  t.doesNotThrow(() => fc.assert(fc.property(fc.array(command, { maxLength: 30 }), (commands) => {
    const { events, state } = run(commands)
    const folded = fold(sourceDecider, events)
    const rotations = events.filter((event) => event.type === 'webhook.source.secret_rotated').length
    const disabledAt = events.findIndex((event) => event.type === 'webhook.source.disabled')
    const rotatedAfter = disabledAt >= 0 && events.slice(disabledAt).some((event) => event.type === 'webhook.source.secret_rotated')
    return JSON.stringify(folded) === JSON.stringify(state) && !rotatedAfter &&
      (state.status === 'none' || state.secrets.length === rotations + 1)
  })))
})
