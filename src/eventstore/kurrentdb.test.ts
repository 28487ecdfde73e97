/**
 * Unit tests of the KurrentDB adapter's pure mapping helpers. The adapter
 * itself needs a server: the shared conformance suite covers it when
 * KURRENTDB_URL is set.
 */
import t from 'tap'
import { pageSize } from './validation.ts'
import { StreamNotFoundError, UnavailableError, UnknownError } from '@kurrent/kurrentdb-client'
import { DuplicateEventId, StoreUnavailable } from './errors.ts'
import { IDEMPOTENCY_WINDOW, earlierAppend, serializedByKey } from './kurrentdb/appending.ts'
import { isConnectionFailure } from './kurrentdb/connection.ts'
import { actualVersion, toLogPosition, toReadPosition, toStreamState } from './kurrentdb/mapping.ts'
import type { StoredEvent } from './kurrentdb/mapping.ts'
import { matchesFilter, serverFilter, settlePage, typeRegex } from './kurrentdb/reading.ts'
import { START } from './types.ts'
import type { LogPosition } from './types.ts'

const at = (major: bigint, minor = major): LogPosition => ({ major, minor })

t.test('expected versions map to stream states (revision = version - 1)', async (t) => {
  t.equal(toStreamState('any'), 'any')
  t.equal(toStreamState('no_stream'), 'no_stream')
  t.equal(toStreamState('stream_exists'), 'stream_exists')
  t.equal(toStreamState(0n), 'no_stream', 'version 0 means the stream has no events')
  t.equal(toStreamState(1n), 0n)
  t.equal(toStreamState(42n), 41n)
  t.throws(() => toStreamState(-1n), RangeError)
  t.throws(() => toStreamState('latest' as never), RangeError)
})

t.test('actual stream states map back to versions', async (t) => {
  t.equal(actualVersion('no_stream'), 0n)
  t.equal(actualVersion(0n), 1n)
  t.equal(actualVersion(41n), 42n)
  t.equal(actualVersion(-1n), 0n, 'the legacy "no stream" revision')
})

t.test('log positions are (commit, prepare)', async (t) => {
  t.same(toLogPosition({ commit: 10n, prepare: 7n }), at(10n, 7n))
  t.throws(() => toLogPosition(undefined), /without a log position/)
  t.equal(toReadPosition(START), 'start')
  t.same(toReadPosition(at(10n, 7n)), { commit: 10n, prepare: 7n })
})

t.test('page sizes follow the PostgreSQL adapter', async (t) => {
  t.equal(pageSize(undefined, 1000), 1000)
  t.equal(pageSize(undefined, Number.MAX_SAFE_INTEGER), 10_000)
  t.equal(pageSize(25, 1000), 25)
  t.equal(pageSize(50_000, 1000), 10_000)
  t.throws(() => pageSize(0, 1000), RangeError)
  t.throws(() => pageSize(1.5, 1000), RangeError)
})

t.test('the type regex matches exactly the given types', async (t) => {
  const regex = new RegExp(typeRegex(['org.created', 'role(granted)+']))
  t.ok(regex.test('org.created'))
  t.ok(regex.test('role(granted)+'))
  t.notOk(regex.test('orgXcreated'), 'dots are literal')
  t.notOk(regex.test('org.created.v2'), 'anchored at the end')
  t.notOk(regex.test('x.org.created'), 'anchored at the start')
  t.notOk(new RegExp(typeRegex([])).test('anything'))
})

t.test('the server filters on the stream prefix, else the types, else system events', async (t) => {
  t.match(serverFilter({ streamPrefix: 'org-', types: ['a'] }), { filterOn: 'streamName', prefixes: ['org-'] })
  t.match(serverFilter({ types: ['a'] }), { filterOn: 'eventType', regex: '^(?:a)$' })
  t.match(serverFilter({ streamPrefix: '' }), { filterOn: 'eventType', regex: '^[^$].*' })
  t.match(serverFilter({}), { filterOn: 'eventType', regex: '^[^$].*' })
})

t.test('client-side filtering finishes what the server could not', async (t) => {
  const event = { type: 'org.created', streamId: 'org-1' }
  t.ok(matchesFilter(event, {}))
  t.notOk(matchesFilter({ type: '$metadata', streamId: 'org-1' }, {}), 'system event type')
  t.notOk(matchesFilter({ type: 'org.created', streamId: '$ce-org' }, {}), 'system stream')
  t.ok(matchesFilter(event, { streamPrefix: 'org-', types: ['org.created'] }))
  t.notOk(matchesFilter(event, { streamPrefix: 'org-', types: ['org.renamed'] }))
  t.notOk(matchesFilter(event, { streamPrefix: 'user-' }))
  t.notOk(matchesFilter(event, { types: [] }), 'no types means no events, as in PostgreSQL')
})

t.test('a readAll page ends where the read went, filtered-out events included', async (t) => {
  const e = (n: bigint) => ({ position: at(n) })
  const from = at(100n)

  const over = settlePage({ from, head: at(900n), limit: 2, matched: [e(110n), e(120n), e(130n)], full: true, lastScanned: at(130n) })
  t.same(over, { events: [e(110n), e(120n)], position: at(120n), isEnd: false }, 'more matched than the limit: stop at the last kept')

  const full = settlePage({ from, head: at(900n), limit: 3, matched: [e(110n)], full: true, lastScanned: at(500n) })
  t.same(full, { events: [e(110n)], position: at(500n), isEnd: false }, 'full page: resume after the last event examined')

  const short = settlePage({ from, head: at(900n), limit: 3, matched: [e(110n)], full: false, lastScanned: at(110n) })
  t.same(short, { events: [e(110n)], position: at(900n), isEnd: true }, 'end reached: move up to the head read before')

  const newer = settlePage({ from, head: at(200n), limit: 3, matched: [e(300n)], full: false, lastScanned: at(300n) })
  t.same(newer.position, at(300n), 'events appended after the head was read')

  const empty = settlePage({ from, head: at(50n), limit: 3, matched: [], full: false, lastScanned: undefined })
  t.same(empty, { events: [], position: from, isEnd: true }, 'never moves backwards')
})

t.test('a re-append is recognised from the stream\'s recent events', async (t) => {
  const stored = (id: string, revision: bigint): StoredEvent => ({
    id, type: 't', streamId: 'org-1', revision, created: new Date(0), data: {}, metadata: {},
    position: { commit: 1000n + revision, prepare: 1000n + revision }
  })
  const a = '00000000-0000-4000-8000-00000000000a'
  const b = '00000000-0000-4000-8000-00000000000b'
  const c = '00000000-0000-4000-8000-00000000000c'
  const recent = [stored(c, 4n), stored(b.toUpperCase(), 3n), stored(a, 2n)] // backwards, as read

  t.equal(earlierAppend('org-1', ['00000000-0000-4000-8000-0000000000ff'], recent), undefined)
  t.same(earlierAppend('org-1', [a, b], recent), { nextExpectedVersion: 4n, position: at(1003n), replayed: true },
    'all found: the version and position of the last of them')
  t.throws(() => earlierAppend('org-1', [b, '00000000-0000-4000-8000-0000000000ff'], recent), DuplicateEventId)
  t.throws(() => earlierAppend('org-1', [c, b, '00000000-0000-4000-8000-0000000000ff'], recent),
    new DuplicateEventId('org-1', b), 'names the smallest id found')
  t.equal(IDEMPOTENCY_WINDOW, 1000)
})

t.test('connection failures are told apart from other errors', async (t) => {
  t.ok(isConnectionFailure(new UnavailableError()))
  t.ok(isConnectionFailure(new UnknownError()))
  t.ok(isConnectionFailure(new Error('connect ECONNREFUSED 127.0.0.1:2113')))
  t.ok(isConnectionFailure(Object.assign(new Error('14 UNAVAILABLE: No connection established'),
    { code: 14, details: 'No connection established', metadata: undefined })), 'a raw gRPC error')
  t.notOk(isConnectionFailure(new StreamNotFoundError(undefined, 'org-1')))
  t.notOk(isConnectionFailure(new StoreUnavailable('already mapped')))
  t.notOk(isConnectionFailure(new TypeError('bug')))
  t.notOk(isConnectionFailure('ECONNREFUSED'))
})

t.test('work for one key runs one at a time, other keys in parallel, failures do not block', async (t) => {
  const run = serializedByKey()
  const log: string[] = []
  const step = (label: string, ms: number) => async () => {
    log.push(`${label}:start`)
    await new Promise((resolve) => setTimeout(resolve, ms))
    log.push(`${label}:end`)
    return label
  }
  const results = await Promise.allSettled([
    run('org-1', step('a', 30)),
    run('org-1', async () => { throw new Error('b failed') }),
    run('org-1', step('c', 1)),
    run('org-2', step('d', 1))
  ])
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
  t.ok(log.indexOf('a:end') < log.indexOf('c:start'), 'c waited for a (and b) on the same key')
  t.ok(log.indexOf('d:end') < log.indexOf('a:end'), 'd, on another key, did not wait')
})
