/**
 * The parameter walk of the garbage tests (test/http-garbage-params.test.ts
 * and test/http-garbage-cursors.test.ts): every query parameter, path
 * parameter and cursor of every GET route, one hostile value at a time. The
 * two files split the parameters so each runs in its own process.
 */
import type { Test } from 'tap'
import { fromInject, judge, pct, type Route, type World } from './garbage.ts'

// ---------------------------------------------------------------------------
// Every query parameter, path parameter and cursor of every GET route, one
// hostile value at a time (the routes and their parameters from /openapi.json)
// ---------------------------------------------------------------------------

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64url')

/** Values PostgreSQL refuses or that sit at the edge of what it takes, and values no parameter means. */
const HOSTILE = [
  '\u0000', 'a\u0000b', `${'a'.repeat(100)}\u0000`, '\ud800', '\uffff', 'é'.repeat(300), 'x'.repeat(10_000),
  '2024-13-45', '2024-02-30', '2023-02-29', '0000-01-01', '10000-01-01',
  '2024-13-45T00:00:00Z', '2024-02-30T12:00:00Z', '0000-01-01T00:00:00Z',
  '10000-01-01T00:00:00Z', '+010000-01-01T00:00:00Z', '0001-01-01T00:00:00+00:01', '9999-12-31T23:59:59-00:01', '0001-01-01T00:00:00-23:59',
  '2024-01-01T24:00:00Z', '2024-01-01T23:59:60Z', '2024-01-01T00:00:00+24:00', '2024-01-01T00:00:00.1234567890Z',
  '2024-01-01 00:00:00', '1709251200',
  '-1', '0', '1', '00', '-0', '1.5', '1e3', '0x10', ' 5', '5 ', 'NaN', 'Infinity', '9'.repeat(30),
  '9223372036854775807', '9223372036854775808', '-9223372036854775809',
  'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz', '-'.repeat(36), '6f1c2d3e-4b5a-5c6d-8e7f-8091a2b3c4d5x', '6F1C2D3E-4B5A-5C6D-8E7F-8091A2B3C4D5',
  '', ' ', '*', '%', '..', '[]', '{}', 'null', 'true', "' OR 1=1 --", 'rbac.*', '.*', 'a..b'
]

/** Cursors that are not base64url, that decode to garbage JSON, or to JSON of the right shape holding impossible values. */
function hostileCursors (): string[] {
  const kinds: Array<[string, Record<string, string>]> = [
    ['audit.1', { sort: 'asc', seq: '1' }],
    ['security-log.1', { occurredAt: '2024-01-01T00:00:00.000Z', seq: '1', id: '6f1c2d3e-4b5a-5c6d-8e7f-8091a2b3c4d5' }],
    ['impersonations.1', { requestedAt: '2024-01-01T00:00:00.000Z', sessionId: 'ims_1' }], ['members.1', { userId: 'usr_1' }],
    ['tool-calls.1', { requestedAt: '2024-01-01T00:00:00.000Z', callId: '6f1c2d3e-4b5a-5c6d-8e7f-8091a2b3c4d5' }],
    ['webhook-sources.1', { createdAt: '2024-01-01T00:00:00.000Z', sourceId: 'whs_1' }],
    ['webhook-messages.1', { receivedAt: '2024-01-01T00:00:00.000Z', streamId: 'whin-stripe-evt_1' }],
    ['webhook-endpoints.1', { createdAt: '2024-01-01T00:00:00.000Z', endpointId: 'ep_1' }],
    ['webhook-attempts.1', { at: '2024-01-01T00:00:00.000Z', messageId: 'msg_1', attempt: '1' }],
    ['ai-budgets.1', { burn: '1.5', orgId: 'org_1' }]
  ]
  const impossible = ['2024-13-45T00:00:00.000Z', '2024-02-30T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '\u0000', '99999999999999999999',
    '-1', 'not-a-uuid', '-'.repeat(36), 'x'.repeat(300), '']
  const shaped = kinds.flatMap(([kind, key]) => Object.keys(key).flatMap((field) => [
    ...impossible.map((value) => b64(JSON.stringify([kind, { ...key, [field]: value }]))),
    b64(JSON.stringify([kind, { ...key, [field]: 12 }])), b64(JSON.stringify([kind, { ...key, [field]: null }])),
    b64(JSON.stringify([kind, { ...key, [field]: [] }]))
  ]).concat([b64(JSON.stringify([kind, { ...key, extra: 1 }])), b64(JSON.stringify([kind])), b64(JSON.stringify([kind, key, 1])),
    b64(JSON.stringify(['other.9', key]))]))
  return [
    ...shaped,
    '!!!', 'a', 'ab=', '====', '%00', 'A'.repeat(5_000), b64('garbage'), b64('{}'), b64('[]'), b64('null'), b64('"x"'), b64('[1,2]'),
    b64('['.repeat(5_000)),
    Buffer.from([0xff, 0xfe, 0xc0, 0xaf]).toString('base64url'), b64('{"__proto__":{"x":1}}'),
    // The textual cursors of before: a1/s1/i1/m1, with impossible values in them.
    b64('a1.d.99999999999999999999'), b64('s1.2024-13-45T00:00:00.000Z.1.6f1c2d3e-4b5a-5c6d-8e7f-8091a2b3c4d5'),
    b64('i1.0000-01-01T00:00:00.000Z.x'), b64('m1:\u0000')
  ]
}

/** Raw query-string encodings that percent-decoding itself trips on. */
const RAW_QUERY_VALUES = ['%', '%zz', '%FF%FE', '%C0%AF', '%ED%A0%80', '%E0%A4%A', '%00%00', 'a%00']

/** Which parameters a walk takes: the cursors, or every other one. */
export type Parameters = 'cursors' | 'others'

export async function hostileValues (t: Test, w: World, which: Parameters): Promise<void> {
  const gets = w.routes.filter((route) => route.method === 'GET')
  const cursors = hostileCursors()
  const realPath = (route: Route, override: Record<string, string> = {}): string => route.url.replace(/:(\w+)/g, (_whole, name: string) =>
    override[name] ?? (name === 'orgId' ? w.orgIds[0]! : name === 'userId' ? w.memberId : name === 'tokenId' ? w.admin.tokenId
      : name === 'role' ? 'viewer' : 'nonexistent'))
  let requests = 0
  let invalidCursors = 0
  const walked: string[] = []
  for (const route of gets) {
    for (const parameter of route.operation.parameters ?? []) {
      if (parameter.in !== 'query' && parameter.in !== 'path') continue
      const isCursor = parameter.name === 'cursor'
      if (isCursor !== (which === 'cursors')) continue
      walked.push(`${route.url} ${parameter.in}:${parameter.name}`)
      const encoded = [...HOSTILE.map(pct), ...(parameter.in === 'query' ? RAW_QUERY_VALUES : []), ...(isCursor ? cursors : [])]
      for (const value of encoded) {
        const url = parameter.in === 'path'
          ? realPath(route, { [parameter.name]: value })
          : `${realPath(route)}?${parameter.name}=${value}`
        const headers = { authorization: `Bearer ${w.admin.token}` }
        const response = await w.app.inject({ method: 'GET', url, headers })
        requests++
        const reason = judge({ method: 'GET', url, validToken: true, route }, fromInject(response), headers)
        if (reason !== undefined) t.fail(`${route.url} ${parameter.in}:${parameter.name}: ${reason}`)
        if (isCursor && response.statusCode === 400 && response.json().code === 'http.invalid_cursor') invalidCursors++
      }
    }
  }
  if (which === 'cursors') {
    t.ok(walked.length >= 8, `the walk found the cursors: ${walked.join('; ')}`)
    t.ok(invalidCursors >= cursors.length, `hostile cursors were refused as http.invalid_cursor (${invalidCursors})`)
  } else {
    t.ok(walked.some((entry) => entry.endsWith('query:from')) && walked.some((entry) => entry.endsWith('query:before')),
      'the walk found time filters')
    t.ok(walked.some((entry) => entry.includes(' path:')), 'and path parameters')
  }
  t.comment(`${requests} requests over ${walked.length} parameters of ${gets.length} GET routes`)
  t.equal((await w.app.inject('/healthz')).statusCode, 200, '/healthz still answers')
  t.equal((await w.app.inject({ url: '/v1/session', headers: { authorization: `Bearer ${w.admin.token}` } })).statusCode, 200,
    'and GET /v1/session')
}

