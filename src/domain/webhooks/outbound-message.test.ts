/**
 * The outbound message decider: held for a disabled endpoint or behind older
 * messages; exhausted only while it still waits for an attempt, after at
 * least one; a later attempt (a resend, a recovery) reopens it.
 */
import t from 'tap'
import { spec } from '../testing.ts'
import type { MessageEvent, RecordedAttempt } from './outbound-events.ts'
import { messageDecider, messageIdOf } from './outbound-message.ts'

const messages = spec(messageDecider)
const messageId = messageIdOf('ep_1', '00000000-0000-4000-8000-000000000001')
const created: MessageEvent = {
  type: 'webhook.message.created',
  data: {
    messageId, endpointId: 'ep_1', orgId: 'org_a', eventType: 'ai.test.happened', sourceEventId: '00000000-0000-4000-8000-000000000001',
    payload: { type: 'ai.test.happened', timestamp: '2026-01-01T00:00:00.000Z', data: {} }
  }
}
const attempt = (n: number, outcome: RecordedAttempt['outcome']): MessageEvent => ({
  type: 'webhook.attempt.recorded',
  data: {
    endpointId: 'ep_1', orgId: 'org_a', attempt: n, outcome, status: outcome === 'delivered' ? 200 : 500, durationMs: 3, excerpt: '',
    errorCode: outcome === 'delivered' ? null : 'http.500', attemptedAt: '2026-01-01T00:00:00.000Z'
  }
})
const failedEight = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => attempt(n, 'failed'))
const exhaust = { type: 'ExhaustMessage', data: { errorCode: 'http.500' } } as const
const exhausted: MessageEvent = { type: 'webhook.message.exhausted', data: { attempts: 8, errorCode: 'http.500' } }

t.test('a pending message is held with the reason given; a held, delivered or missing one is not', async (t) => {
  messages.given([created]).when({ type: 'HoldMessage', data: { reason: 'behind_older' } })
    .then(t, [{ type: 'webhook.message.held', data: { reason: 'behind_older' } }])
  messages.given([created, { type: 'webhook.message.held', data: { reason: 'endpoint_disabled' } }])
    .when({ type: 'HoldMessage', data: { reason: 'behind_older' } }).then(t, [], 'held already')
  messages.given([created, attempt(1, 'delivered')]).when({ type: 'HoldMessage', data: { reason: 'endpoint_disabled' } }).then(t, [])
  messages.given([]).when({ type: 'HoldMessage', data: { reason: 'endpoint_disabled' } }).thenThrows(t, 'webhook.message_not_found')
})

t.test('a message whose attempts all failed is exhausted once, with their count and the last error', async (t) => {
  messages.given([created, ...failedEight]).when(exhaust).then(t, [exhausted])
  messages.given([created, ...failedEight, exhausted]).when(exhaust).then(t, [], 'exhausted already')
  messages.given([created]).when(exhaust).then(t, [], 'never attempted: nothing to give up on')
  messages.given([created, attempt(1, 'failed'), attempt(2, 'delivered')]).when(exhaust).then(t, [], 'delivered')
  messages.given([created, attempt(1, 'gone')]).when(exhaust).then(t, [], 'gone')
  messages.given([created, attempt(1, 'failed'), { type: 'webhook.message.held', data: { reason: 'behind_older' } }])
    .when(exhaust).then(t, [], 'held: a backlog sends it')
})

t.test('an attempt after exhaustion reopens the message: a resend that fails can exhaust it again, one that succeeds delivers it',
  async (t) => {
    const again = [created, ...failedEight, exhausted, attempt(9, 'failed')]
    messages.given(again).when(exhaust).then(t, [{ type: 'webhook.message.exhausted', data: { attempts: 9, errorCode: 'http.500' } }])
    messages.given([created, ...failedEight, exhausted, attempt(9, 'delivered')]).when(exhaust).then(t, [])
  })
