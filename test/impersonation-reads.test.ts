/**
 * A stop, an approval, a denial or a revocation reads the session's stream
 * once. The route (or CLI command) calls one use case, which reads the
 * session's state through the commands' state cache and hands it to the
 * command; the command then decides on that state without reading the
 * stream again. Counted on the store, per stream: over HTTP on the node that
 * wrote the session (its state is cached), the same with the session evicted
 * from the cache (as on a node that never saw it), and the CLI's revocation
 * through its use case on an empty cache.
 */
import t, { type Test } from 'tap'
import { stateCache } from '../src/application/cache.ts'
import { addMember } from '../src/application/identity/commands.ts'
import { systemCaller } from '../src/application/impersonation/access.ts'
import { sessionState } from '../src/application/impersonation/commands.ts'
import { revokeSession } from '../src/application/impersonation/use-cases.ts'
import { systemCommand } from '../src/domain/envelope.ts'
import { sessionStreamId } from '../src/domain/impersonation/session.ts'
import type { EventStore } from '../src/eventstore/types.ts'
import { settled } from './helpers/assertions.ts'
import { openTestApp, type CallOptions, type TestApp } from './helpers/app.ts'
import { forEachDatabase } from './helpers/databases.ts'
import { register } from './helpers/http.ts'

const REASON = 'customer asked for help with their settings (SUP-9)'

/** Counts `readStream` calls per stream on `store` (the runtime's own: routes read through it). */
function countReads (store: EventStore): (streamId: string) => number {
  const counts = new Map<string, number>()
  const read = store.readStream
  Object.assign(store, {
    readStream: (streamId: string, options?: Parameters<EventStore['readStream']>[1]) => {
      counts.set(streamId, (counts.get(streamId) ?? 0) + 1)
      return read(streamId, options)
    }
  })
  return (streamId) => counts.get(streamId) ?? 0
}

/** Lets the runtime's state cache forget a stream until it learns it again, as a node that never saw it. */
function evictable (api: TestApp): (streamId: string) => void {
  const states = api.runtime.impersonation.states
  const forgotten = new Set<string>()
  const { get, set } = states
  Object.assign(states, {
    get: (streamId: string) => (forgotten.has(streamId) ? undefined : get(streamId)),
    set: (streamId: string, entry: Parameters<typeof set>[1]) => {
      forgotten.delete(streamId)
      set(streamId, entry)
    }
  })
  return (streamId) => { forgotten.add(streamId) }
}

/** How many times `act` read the stream (and what it answered). */
async function readsOf (reads: (streamId: string) => number, streamId: string, act: () => Promise<{ statusCode: number, body: string }>) {
  const before = reads(streamId)
  const response = await act()
  return { reads: reads(streamId) - before, response }
}

forEachDatabase(t, async (t: Test, db) => {
  const api = await openTestApp(t, db.sql)
  const { orgId } = api.owner
  const ada = await register(api, 'ada@a.example')
  const ben = await register(api, 'ben@a.example')
  const mia = await register(api, 'mia@a.example')
  for (const [user, roles] of [[ada, ['admin']], [ben, ['admin']], [mia, ['member']]] as const) {
    await addMember(api.runtime.identity, systemCommand('test'), orgId, { userId: user.userId, roles: [...roles] })
  }
  await settled(api.runtime)
  const reads = countReads(api.runtime.impersonation.store)
  const evict = evictable(api)
  const url = `/v1/orgs/${orgId}/impersonations`

  /** Ada impersonates Mia (an ordinary session, started at once). */
  const started = async (): Promise<string> => {
    const response = await api.call('POST', url, { token: ada.token, body: { targetUserId: mia.userId, reason: REASON } })
    t.equal(response.statusCode, 201, response.body)
    return response.json().sessionId
  }
  /** Ada asks to impersonate the owner (break-glass: pending until someone approves). */
  const requested = async (): Promise<string> => {
    const body = { targetUserId: api.owner.userId, reason: REASON, ticket: 'SUP-9' }
    const response = await api.call('POST', url, { token: ada.token, body })
    t.equal(response.statusCode, 202, response.body)
    return response.json().sessionId
  }

  /** Posts `…/:sessionId/<verb>`, counting the reads of the session's stream it made. */
  const counted = (sessionId: string, verb: string, options: CallOptions) =>
    readsOf(reads, sessionStreamId(sessionId), () => api.call('POST', `${url}/${sessionId}/${verb}`, options))

  for (const cache of ['cached', 'evicted'] as const) {
    await t.test(`over HTTP, the session's state ${cache}: one read each`, async (t) => {
      const cold = (sessionId: string): void => { if (cache === 'evicted') evict(sessionStreamId(sessionId)) }

      const stopped = await started()
      cold(stopped)
      const stop = await counted(stopped, 'stop', { token: ada.token })
      t.equal(stop.response.statusCode, 200, stop.response.body)
      t.equal(stop.reads, 1, `stop read the session stream ${stop.reads} time(s)`)

      const approved = await requested()
      cold(approved)
      const approve = await counted(approved, 'approve', { token: ben.token })
      t.equal(approve.response.statusCode, 200, approve.response.body)
      t.equal(approve.reads, 1, `approve read the session stream ${approve.reads} time(s)`)
      // Withdrawn by its requester, which frees Ada for the next session.
      t.equal((await api.call('POST', `${url}/${approved}/stop`, { token: ada.token })).statusCode, 200)

      const denied = await requested()
      cold(denied)
      const deny = await counted(denied, 'deny', { token: ben.token, body: { reason: 'not now' } })
      t.equal(deny.response.statusCode, 200, deny.response.body)
      t.equal(deny.reads, 1, `deny read the session stream ${deny.reads} time(s)`)

      const revoked = await started()
      cold(revoked)
      const revoke = await counted(revoked, 'revoke', { body: { reason: 'done' } })
      t.equal(revoke.response.statusCode, 200, revoke.response.body)
      t.equal(revoke.reads, 1, `revoke read the session stream ${revoke.reads} time(s)`)

      t.match(await sessionState(api.runtime.impersonation, stopped), { status: 'ended', how: 'stopped' }, 'each did what it says')
      t.match(await sessionState(api.runtime.impersonation, approved), { status: 'ended', how: 'stopped', request: { via: 'member' } })
      t.match(await sessionState(api.runtime.impersonation, denied), { status: 'ended', how: 'denied' })
      t.match(await sessionState(api.runtime.impersonation, revoked), { status: 'ended', how: 'revoked' })
    })
  }

  await t.test('the CLI\'s revocation, through its use case, on a node that never saw the session: one read', async (t) => {
    const sessionId = await started()
    const services = { ...api.runtime.impersonation, states: stateCache() }
    const revoke = await readsOf(reads, sessionStreamId(sessionId), async () => {
      const written = await revokeSession(services, systemCommand('cli'), systemCaller('cli'), sessionId, 'on-call: stop everything')
      return { statusCode: written.position === null ? 204 : 200, body: JSON.stringify(written) }
    })
    t.equal(revoke.response.statusCode, 200, 'it revoked')
    t.equal(revoke.reads, 1, `revoke read the session stream ${revoke.reads} time(s)`)
    t.match(await sessionState(api.runtime.impersonation, sessionId), { status: 'ended', how: 'revoked' })
  })
})
