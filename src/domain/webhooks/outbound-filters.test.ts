/**
 * Filters, URLs, message ids and payloads of outbound webhooks: examples,
 * then fast-check properties over random event types and filters.
 */
import fc from 'fast-check'
import t from 'tap'
import type { RecordedEvent } from '../../eventstore/types.ts'
import { checkEndpointUrl, checkFilters, filterMatches, matchesAny, subscribable } from './outbound-filters.ts'
import { messageIdOf } from './outbound-message.ts'
import { payloadOf } from './outbound-payload.ts'

const KNOWN = ['rbac.role.created', 'rbac.role.assigned', 'impersonation.session.started', 'ai.tool.call.requested', 'audit.log.exported']

t.test('exact, prefix and * filters', async (t) => {
  t.ok(filterMatches('rbac.*', 'rbac.role.created'))
  t.ok(filterMatches('rbac.role.*', 'rbac.role.created'))
  t.notOk(filterMatches('rbac.*', 'rbacx.role.created'), 'a prefix ends at a dot')
  t.notOk(filterMatches('rbac.role', 'rbac.role.created'), 'an exact type is exact')
  t.ok(filterMatches('*', 'ai.tool.call.requested'))
  t.notOk(matchesAny([], 'rbac.role.created'))
  t.ok(matchesAny(['ai.*', 'rbac.role.created'], 'rbac.role.created'))
})

t.test('what may be subscribed: role changes, impersonations, tool calls, audit, budgets; never webhooks, jobs or identity', async (t) => {
  for (const type of KNOWN) t.ok(subscribable(type), type)
  for (const type of ['webhook.message.created', 'job.scheduled', 'identity.token.created', 'org.member.added']) {
    t.notOk(subscribable(type), type)
  }
})

t.test('a filter matching no subscribable type is refused, naming it', async (t) => {
  t.doesNotThrow(() => checkFilters(['*', 'rbac.*', 'ai.tool.call.requested'], KNOWN))
  t.throws(() => checkFilters(['rbac.*', 'billing.*', 'rbac.role.exploded'], KNOWN),
    { code: 'webhook.unknown_event_type', details: { filters: ['billing.*', 'rbac.role.exploded'] } })
})

t.test('URLs at write time', async (t) => {
  t.equal(checkEndpointUrl('https://siem.example/hook?x=1', { allowPlainHttp: false }), 'https://siem.example/hook?x=1')
  t.equal(checkEndpointUrl('http://127.0.0.1:8080/h', { allowPlainHttp: true }), 'http://127.0.0.1:8080/h')
  for (const url of ['http://siem.example/hook', 'ftp://siem.example/', 'https://a:b@siem.example/', 'https://siem.example/#x', 'hook',
    `https://siem.example/${'a'.repeat(2048)}`, 'javascript:alert(1)', 'file:///etc/passwd']) {
    t.throws(() => checkEndpointUrl(url, { allowPlainHttp: false }), { code: 'webhook.url_invalid' }, url.slice(0, 60))
  }
})

t.test('property: a prefix filter matches exactly the types that start with it', async (t) => {
  const segment = fc.stringMatching(/^[a-z][a-z0-9_]{0,5}$/)
  const type = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('.'))
  fc.assert(fc.property(type, type, (prefix, candidate) =>
    filterMatches(`${prefix}.*`, candidate) === candidate.startsWith(`${prefix}.`) && filterMatches(candidate, candidate)))
  t.pass('held')
})

t.test('property: message ids derive from (endpoint, event): the same pair the same id, another pair another', async (t) => {
  fc.assert(fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), fc.uuid(), fc.uuid(), (endpointId, a, b) => {
    const id = messageIdOf(endpointId, a)
    return /^msg_[0-9a-f]{32}$/.test(id) && id === messageIdOf(endpointId, a) && (a === b) === (id === messageIdOf(endpointId, b))
  }))
  t.pass('held')
})

t.test('a payload is {type, timestamp, data} with the actor, the organization and the fields, secrets left out', async (t) => {
  const event = {
    id: '7d444840-9dc0-11d1-b245-5ffdce74fad2', type: 'impersonation.session.started', streamId: 'impersonation-s1', streamVersion: 3n,
    position: { major: 1n, minor: 9n }, recordedAt: new Date(),
    data: {
      startedAt: '2026-01-01T00:00:00.000Z', tokenHash: 'abc', nested: { password: 'p', secret: 's', kept: 1 }, note: 'll_abcdefghijkl'
    },
    metadata: {
      eventId: '7d444840-9dc0-11d1-b245-5ffdce74fad2', occurredAt: '2026-01-01T01:00:00+01:00', orgId: 'org_a',
      actor: { type: 'user', id: 'ada' }, impersonatorId: 'sam', traceId: '0'.repeat(31) + '1',
      commandId: '7d444840-9dc0-11d1-b245-5ffdce74fad3'
    }
  } as RecordedEvent
  t.same(payloadOf(event), {
    type: 'impersonation.session.started', timestamp: '2026-01-01T00:00:00.000Z',
    data: {
      eventId: event.id, orgId: 'org_a', actor: { type: 'user', id: 'ada' }, impersonatorId: 'sam', target: 'impersonation-s1',
      fields: { startedAt: '2026-01-01T00:00:00.000Z', nested: { kept: 1 }, note: '[redacted]' }
    }
  })
})
