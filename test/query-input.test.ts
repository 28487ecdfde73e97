/**
 * Bad query input is a 400, never a 500 or a cut stream: the reproductions
 * of the query strings and cursors that reached PostgreSQL unchecked (NUL
 * bytes, impossible dates, year 0, offsets PostgreSQL refuses, malformed
 * uuids in cursors), and a JSON export that answered 200 and stopped after `[`.
 */
import t from 'tap'
import { openTestApp } from './helpers/app.ts'
import { settled } from './helpers/assertions.ts'
import { forEachDatabase } from './helpers/databases.ts'

/** A cursor as the API used to write them: base64url of its text. */
const raw = (text: string): string => Buffer.from(text).toString('base64url')

const UUID = '6f1c2d3e-4b5a-5c6d-8e7f-8091a2b3c4d5'

t.test('the reproductions of issue 13.4 answer 400 problem+json', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    await settled(api.runtime)
    const cases: Array<[string, string]> = [
      ...['2024-13-45T00:00:00.000Z', '2024-02-30T00:00:00.000Z', '0000-01-01T00:00:00.000Z'].flatMap((time): Array<[string, string]> => [
        [`/v1/me/security-log?cursor=${raw(`s1.${time}.1.${UUID}`)}`, 'http.invalid_cursor'],
        [`/v1/orgs/${orgId}/impersonations?cursor=${raw(`i1.${time}.session1`)}`, 'http.invalid_cursor']
      ]),
      [`/v1/me/security-log?cursor=${raw(`s1.2024-01-01T00:00:00.000Z.1.${'-'.repeat(36)}`)}`, 'http.invalid_cursor'],
      [`/v1/me/security-log?cursor=${raw('s1.2024-01-01T00:00:00.000Z.1.abcdefab-cdef-abcd-efab-cdefabcdefabcd')}`, 'http.invalid_cursor'],
      ...['actorId', 'targetId', 'targetType', 'traceId', 'impersonatorId'].map((name): [string, string] =>
        [`/v1/orgs/${orgId}/audit-events?${name}=a%00b`, 'http.validation']),
      [`/v1/orgs/${orgId}/audit-events?from=0000-01-01T00:00:00Z`, 'http.validation'],
      [`/v1/orgs/${orgId}/audit-events?from=0001-01-01T00:00:00%2B00:01`, 'http.validation'],
      [`/v1/orgs/${orgId}/audit-events?from=9999-12-31T23:59:59-00:01`, 'http.validation'],
      [`/v1/orgs/${orgId}/audit-digests?before=0000-01-01`, 'http.validation'],
      [`/v1/orgs/${orgId}/audit-events/export?format=json&from=0000-01-01T00:00:00Z`, 'http.validation']
    ]
    for (const [url, code] of cases) {
      const response = await api.call('GET', url)
      t.equal(response.statusCode, 400, `${url}: ${response.statusCode} ${response.body.slice(0, 200)}`)
      t.match(String(response.headers['content-type']), /^application\/problem\+json/, url)
      t.equal(response.statusCode === 400 ? response.json().code : undefined, code, url)
    }
    // An offset PostgreSQL refuses (beyond ±15:59) names a time it takes once in UTC: 0001-01-01T23:59:00Z.
    const farOffset = await api.call('GET', `/v1/orgs/${orgId}/audit-events?from=0001-01-01T00:00:00-23:59&to=2026-03-01`)
    t.equal(farOffset.statusCode, 200, `from=0001-01-01T00:00:00-23:59: ${farOffset.body.slice(0, 200)}`)
    t.equal((await api.call('GET', '/v1/session')).statusCode, 200, 'the server still answers')
  })
})

t.test('a body-less POST or DELETE sent with content-type application/json is accepted, on a real route and an unknown one', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const { orgId } = api.owner
    const json = { 'content-type': 'application/json' }
    const revokeAll = await api.call('POST', `/v1/orgs/${orgId}/impersonations/revoke-all`, { headers: json })
    t.equal(revokeAll.statusCode, 200, `a POST whose body is optional: ${revokeAll.body}`)
    t.same(revokeAll.json(), { revoked: [], position: null }, 'nothing to revoke: nothing written')
    const plain = await api.call('POST', `/v1/orgs/${orgId}/impersonations/revoke-all`)
    t.equal(plain.statusCode, 200, `the same without a content type: ${plain.body}`)
    const withNote = await api.call('POST', `/v1/orgs/${orgId}/impersonations/revoke-all`, { body: { note: 'x'.repeat(501) } })
    t.equal(withNote.json().code, 'http.validation', 'a body that is there is still checked')
    const created = (await api.call('POST', '/v1/tokens', { body: { name: 'spare' } })).json() as { tokenId: string }
    const revoked = await api.call('DELETE', `/v1/tokens/${created.tokenId}`, { headers: { ...json, 'content-length': '0' } })
    t.equal(revoked.statusCode, 200, revoked.body)
    for (const method of ['POST', 'DELETE'] as const) {
      const unknown = await api.call(method, '/v1/no-such-route', { headers: json })
      t.equal(unknown.statusCode, 404, `${method} on an unknown route: ${unknown.body}`)
      t.match(String(unknown.headers['content-type']), /^application\/problem\+json/)
      t.equal(unknown.json().code, 'http.not_found')
    }
    const required = await api.call('POST', '/v1/tokens', { headers: json })
    t.equal(required.statusCode, 400, 'a route whose body is required still says so')
    t.equal(required.json().code, 'http.validation')
    const blank = await api.call('POST', `/v1/orgs/${orgId}/impersonations/revoke-all`, { headers: json, body: '  ' })
    t.equal(blank.json().code, 'http.ctp_invalid_json_body', 'white space is not an empty body: it is invalid JSON')
  })
})
