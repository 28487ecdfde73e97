/**
 * Responses kept for Idempotency-Key are sealed under the caller, their key
 * and a server secret: the database and a guessable key alone open nothing,
 * not even a kept token; a server whose secret differs (the signing key was
 * rotated) answers 409 idempotency.response_unreadable and writes nothing.
 */
import { createDecipheriv, createHash } from 'node:crypto'
import { pino } from 'pino'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { buildApp } from '../src/http/app.ts'
import { openRuntime } from '../src/runtime.ts'
import { openTestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { problem } from './helpers/http.ts'

/** The seal key as it was derived before the server secret: from the caller and their key only. */
function keyWithoutSecret (userId: string, header: string): Buffer {
  const hash = createHash('sha256')
  for (const part of ['ledgerline-idempotency-seal', userId, header]) hash.update(part).update('\0')
  return hash.digest()
}

function opens (key: Buffer, sealed: Buffer): boolean {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12))
    decipher.setAuthTag(sealed.subarray(12, 28))
    Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()])
    return true
  } catch {
    return false
  }
}

t.test('a kept response is sealed under a server secret', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const api = await openTestApp(t, sql)
    const headers = { 'idempotency-key': '1' }
    const created = await api.call('POST', '/v1/tokens', { body: { name: 'kept' }, headers })
    t.equal(created.statusCode, 201, created.body)
    const replay = await api.call('POST', '/v1/tokens', { body: { name: 'kept' }, headers })
    t.equal(replay.headers['idempotent-replayed'], 'true')
    t.equal(replay.body, created.body, 'the same server replays it byte for byte')

    const { rows } = await sql.query<{ sealed_response: Uint8Array }>('SELECT sealed_response FROM idempotency_keys')
    t.equal(rows.length, 1)
    const sealed = Buffer.from(rows[0]!.sealed_response)
    const token = created.json().token as string
    t.notOk(sealed.includes(Buffer.from(token)), 'the token is not in the row')
    t.notOk(opens(keyWithoutSecret(api.owner.userId, '1'), sealed), 'the caller\'s id and a guessable key do not open it')

    // Another server on the same database, with another signing key: it cannot read what the first kept.
    const other = await openRuntime(loadConfig({ NODE_ENV: 'test' }), pino({ level: 'silent' }), { sql })
    t.teardown(() => other.close())
    const app = await buildApp(other)
    t.teardown(() => app.close())
    const { rows: before } = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM events')
    const refused = await app.inject({ method: 'POST', url: '/v1/tokens',
      headers: { ...headers, authorization: `Bearer ${api.owner.token}` }, payload: { name: 'kept' } })
    problem(t, refused, 409, 'idempotency.response_unreadable')
    const { rows: after } = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM events')
    t.same(after, before, 'nothing written')
  })
})
