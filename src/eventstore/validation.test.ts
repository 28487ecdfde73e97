/**
 * The checks every adapter runs before writing: the stream id grammar and
 * prepareAppend's edge cases. A failure here rejects the whole append.
 */
import t from 'tap'
import { z } from 'zod'
import { forEachDatabase } from '../../test/helpers/databases.ts'
import { metadataFor, systemCommand, type EventMetadata } from '../domain/envelope.ts'
import { InvalidEventData, LedgerlineError, UnknownEventType } from '../domain/errors.ts'
import { EventTooLarge, InvalidStreamId } from './errors.ts'
import { EventRegistry, defineEvent } from '../domain/registry.ts'
import { createPostgresEventStore } from './postgres.ts'
import type { NewEvent } from './types.ts'
import { MAX_EVENTS_PER_APPEND, MAX_EVENT_BYTES, assertStreamId, prepareAppend, streamCategory } from './validation.ts'
import { caught } from '../../test/helpers/assertions.ts'

const registry = new EventRegistry([
  defineEvent({ type: 'test.note.written', schema: z.object({ text: z.string() }) }),
  defineEvent({ type: 'test.bag.filled', schema: z.record(z.string(), z.string()) }),
  defineEvent({ type: 'test.shape.changed', version: 3, schema: z.object({ n: z.number() }), upcasters: { 1: (d) => d, 2: (d) => d } })
])

function note (text: string, index = 0, command = systemCommand('validation-test')): NewEvent {
  const metadata = metadataFor(command, index)
  return { id: metadata.eventId, type: 'test.note.written', data: { text }, metadata }
}

function notes (count: number): NewEvent[] {
  const command = systemCommand('validation-test')
  return Array.from({ length: count }, (_, index) => note(`n${index}`, index, command))
}

function issuePaths (error: unknown): string[] {
  return error instanceof InvalidEventData ? error.issues.map((issue) => issue.path) : [`not InvalidEventData: ${String(error)}`]
}

t.test('assertStreamId accepts <category>-<id> within the grammar and its limits', async (t) => {
  const good = [
    'org-1',
    'a-b',
    'org_unit-Ab.9_~:@+x',
    'org-a-b-c',
    'user-ada@example.com',
    'invoice-2026:04:05+1',
    `${'c'.repeat(50)}-1`,
    `org-${'x'.repeat(200)}`,
    `${'c'.repeat(50)}-${'x'.repeat(200)}`
  ]
  for (const id of good) t.doesNotThrow(() => assertStreamId(id), `${id.length > 60 ? `${id.slice(0, 20)}… (${id.length} chars)` : id}`)
})

t.test('assertStreamId rejects everything else with InvalidStreamId', async (t) => {
  const bad = [
    ['', 'empty'],
    ['org', 'no dash'],
    ['org_1', 'no dash, underscore instead'],
    ['org-', 'empty id'],
    ['-1', 'empty category'],
    ['Org-1', 'upper case in the category'],
    ['1org-1', 'category starting with a digit'],
    ['_org-1', 'category starting with an underscore'],
    ['org.x-1', 'a dot in the category'],
    ['or g-1', 'a space in the category'],
    ['org-a b', 'a space in the id'],
    ['org-a/b', 'a slash in the id'],
    ['org-a#b', 'a hash in the id'],
    ['org-é', 'a non-ASCII letter in the id'],
    ['org-1\n', 'a trailing newline'],
    ['\norg-1', 'a leading newline'],
    ['org-1\u0000', 'U+0000'],
    [`${'c'.repeat(51)}-1`, 'a 51-character category'],
    [`org-${'x'.repeat(201)}`, 'a 201-character id']
  ]
  for (const [id, label] of bad) {
    const error = caught(() => assertStreamId(id!))
    t.ok(error instanceof InvalidStreamId, label!)
  }
  for (const value of [42, null, undefined, { toString: () => 'org-1' }]) {
    t.ok(caught(() => assertStreamId(value as unknown as string)) instanceof InvalidStreamId,
      `${String(value)} (not a string) is refused as such`)
  }
  const long = caught(() => assertStreamId('x'.repeat(1000))) as InvalidStreamId
  t.equal(long.code, 'store.invalid_stream_id')
  t.equal(long.status, 400)
  t.equal((long.details.streamId as string).length, 300, 'the id echoed in the problem details is cut to 300 characters')
})

t.test('streamCategory is what precedes the first dash', async (t) => {
  t.equal(streamCategory('org-1'), 'org')
  t.equal(streamCategory('org_unit-a-b-c'), 'org_unit')
})

t.test('prepareAppend serializes valid events, normalized, with the schema version', async (t) => {
  const command = systemCommand('validation-test')
  const first = note('hello', 0, command)
  const prepared = prepareAppend(registry, 'note-1', [first, { ...note('x', 1, command), data: { text: 'world', dropped: true } }])
  t.equal(prepared.length, 2)
  t.equal(prepared[0]!.id, first.id)
  t.equal(prepared[0]!.type, 'test.note.written')
  t.strictSame(JSON.parse(prepared[0]!.data), { text: 'hello' })
  t.strictSame(JSON.parse(prepared[1]!.data), { text: 'world' }, 'the data stored is the data the schema parsed')
  t.strictSame(JSON.parse(prepared[0]!.metadata), { ...first.metadata, schemaVersion: 1 })

  const shape = metadataFor(command, 2)
  const stale: EventMetadata = { ...shape, schemaVersion: 9 }
  const [versioned] = prepareAppend(registry, 'shape-1',
    [{ id: shape.eventId, type: 'test.shape.changed', data: { n: 1 }, metadata: stale }])
  t.equal(JSON.parse(versioned!.metadata).schemaVersion, 3, 'the registry\'s version wins over whatever the caller put there')
})

t.test('prepareAppend checks the stream id and the size of the append', async (t) => {
  t.ok(caught(() => prepareAppend(registry, 'Bad id', notes(1))) instanceof InvalidStreamId, 'the stream id first')
  t.strictSame(issuePaths(caught(() => prepareAppend(registry, 'note-1', []))), [''], 'an empty append is refused')
  t.ok(caught(() => prepareAppend(registry, 'note-1', 'nope' as unknown as NewEvent[])) instanceof InvalidEventData,
    'so is something not an array')
  t.equal(prepareAppend(registry, 'note-1', notes(MAX_EVENTS_PER_APPEND)).length, MAX_EVENTS_PER_APPEND,
    `${MAX_EVENTS_PER_APPEND} events are allowed`)
  const tooMany = caught(() => prepareAppend(registry, 'note-1', notes(MAX_EVENTS_PER_APPEND + 1))) as InvalidEventData
  t.ok(tooMany instanceof InvalidEventData, 'one more is not')
  t.match(tooMany.issues[0]!.message, /at most 10000 events/)
})

t.test('prepareAppend checks event ids: UUIDs, equal to metadata.eventId, never repeated in one append', async (t) => {
  const [a, b] = notes(2)
  for (const id of ['not-a-uuid', '', '6f0d3c52a4e84c1c9b7a5d2e8f4a1b37', `{${a!.id}}`, 42]) {
    const error = caught(() => prepareAppend(registry, 'note-1', [a!, { ...b!, id: id as string }]))
    t.strictSame(issuePaths(error), ['1.id'], `${JSON.stringify(id)} is not a UUID`)
  }

  const mismatch = caught(() => prepareAppend(registry, 'note-1', [a!, { ...b!, id: crypto.randomUUID() }]))
  t.ok(mismatch instanceof InvalidEventData)
  t.strictSame(issuePaths(mismatch), ['1.metadata.eventId'], 'metadata.eventId must equal the event id')
  const otherCommand = note('x')
  t.strictSame(issuePaths(caught(() => prepareAppend(registry, 'note-1', [{ ...a!, metadata: otherCommand.metadata }]))),
    ['0.metadata.eventId'],
    'metadata from another event is caught')

  const upper = prepareAppend(registry, 'note-1', [{ ...a!, id: a!.id.toUpperCase() }])
  t.equal(upper[0]!.id, a!.id, 'ids are compared and stored in lower case')

  t.strictSame(issuePaths(caught(() => prepareAppend(registry, 'note-1', [a!, b!, a!]))), ['2.id'], 'an id repeated in one append')
  t.strictSame(issuePaths(caught(() => prepareAppend(registry, 'note-1', [a!, { ...a!, id: a!.id.toUpperCase() }]))), ['1.id'],
    'also when it differs only in case')
})

t.test('prepareAppend checks types, data and metadata', async (t) => {
  const [a] = notes(1)
  const unknown = caught(() => prepareAppend(registry, 'note-1', [{ ...a!, type: 'test.note.erased' }]))
  t.ok(unknown instanceof UnknownEventType, 'an unknown type')
  t.strictSame(issuePaths(caught(() => prepareAppend(registry, 'note-1', [{ ...a!, data: { text: 7 } }]))), ['text'],
    'data that fails its schema')

  const badTrace = caught(() => prepareAppend(registry, 'note-1', [{ ...a!, metadata: { ...a!.metadata, traceId: 'XYZ' } }]))
  t.ok(badTrace instanceof InvalidEventData, 'metadata that fails EventMetadataSchema')
  t.match(issuePaths(badTrace)[0], /metadata\.traceId$/)
  const extra = caught(() => prepareAppend(registry, 'note-1', [{ ...a!, metadata: { ...a!.metadata, secret: 'x' } as EventMetadata }]))
  t.ok(extra instanceof InvalidEventData, 'metadata with keys the schema does not know')
  const noActor = { ...a!.metadata } as Partial<EventMetadata>
  delete noActor.actor
  t.ok(caught(() => prepareAppend(registry, 'note-1', [{ ...a!, metadata: noActor as EventMetadata }])) instanceof InvalidEventData,
    'metadata without an actor')

  const command = systemCommand('validation-test')
  const bad = caught(() => prepareAppend(registry, 'note-1',
    [note('ok', 0, command), note('ok', 1, command), { ...note('x', 2, command), data: {} }]))
  t.ok(bad instanceof InvalidEventData, 'one bad event rejects the whole append')
})

t.test('prepareAppend refuses U+0000, but not a literal backslash followed by u0000', async (t) => {
  const refused = (data: unknown, type = 'test.note.written'): boolean => {
    const [a] = notes(1)
    const error = caught(() => prepareAppend(registry, 'note-1', [{ ...a!, type, data }]))
    if (error !== undefined && !(error instanceof InvalidEventData)) throw error
    return error instanceof InvalidEventData && error.issues.some((issue) => issue.message.startsWith('text must not contain U+0000'))
  }
  t.ok(refused({ text: '\u0000' }), 'U+0000 alone')
  t.ok(refused({ text: 'before\u0000after' }), 'U+0000 inside text')
  t.ok(refused({ text: '\n\u0000' }), 'U+0000 right after another escape')
  t.ok(refused({ text: '\\\u0000' }), 'U+0000 after a literal backslash')
  t.ok(refused({ text: '\\\\\\\u0000' }), 'U+0000 after three literal backslashes')
  t.ok(refused({ 'key\u0000': 'value' }, 'test.bag.filled'), 'U+0000 in an object key')

  t.notOk(refused({ text: '\\u0000' }), 'a backslash followed by the five characters u0000 is ordinary text')
  t.notOk(refused({ text: '\\\\u0000' }), 'so are two backslashes followed by u0000')
  t.notOk(refused({ text: 'C:\\u0000\\file' }), 'a Windows-ish path')
  t.notOk(refused({ text: '\u0001\u001f\u2028' }), 'other control and separator characters are allowed')

  const [a] = notes(1)
  const inMetadata = caught(() => prepareAppend(registry, 'note-1', [{ ...a!, metadata: { ...a!.metadata, userAgent: 'curl\u0000' } }]))
  t.ok(inMetadata instanceof InvalidEventData, 'U+0000 in the metadata is refused as well')
})

// Regression: a U+0000 in the metadata was once reported at `<index>.data`.
t.test('U+0000 in the metadata is reported at the metadata, not the data', async (t) => {
  const [a] = notes(1)
  const error = caught(() => prepareAppend(registry, 'note-1', [{ ...a!, metadata: { ...a!.metadata, userAgent: 'curl\u0000' } }]))
  t.match(issuePaths(error)[0], /^0\.metadata/, 'the issue path names the metadata')
})

// PostgreSQL's jsonb refuses a lone UTF-16 surrogate as it refuses U+0000
// (22P02: JSON.stringify writes it as a \udXXX escape with no partner), so
// prepareAppend must refuse it as InvalidEventData (400) rather than let the
// append fail inside the database (500). A regression test: it once did not.
t.test('prepareAppend refuses text with a lone surrogate, which jsonb cannot hold', async (t) => {
  const cases: Array<[string, string]> = [
    ['a\ud800b', 'a lone high surrogate'], ['\udc00', 'a lone low surrogate'], ['\udc00\ud800', 'a pair in the wrong order']
  ]
  for (const [text, label] of cases) {
    const [a] = notes(1)
    t.ok(caught(() => prepareAppend(registry, 'note-1', [{ ...a!, data: { text } }])) instanceof InvalidEventData, label)
  }
  t.doesNotThrow(() => prepareAppend(registry, 'note-1', [note('launch \ud83d\ude80')]), 'a proper pair (an emoji) is fine')
})

t.test('prepareAppend enforces MAX_EVENT_BYTES on UTF-8 bytes of data plus metadata', async (t) => {
  const command = systemCommand('validation-test')
  const [empty] = prepareAppend(registry, 'note-1', [note('', 0, command)])
  const overhead = Buffer.byteLength(empty!.data) + Buffer.byteLength(empty!.metadata)
  const fits = 'x'.repeat(MAX_EVENT_BYTES - overhead)
  t.doesNotThrow(() => prepareAppend(registry, 'note-1', [note(fits, 0, command)]), 'exactly at the limit')
  const error = caught(() => prepareAppend(registry, 'note-1', [note(`${fits}x`, 0, command)]))
  t.ok(error instanceof EventTooLarge, 'one byte over')
  t.equal((error as EventTooLarge).bytes, MAX_EVENT_BYTES + 1)
  t.equal((error as EventTooLarge).limit, MAX_EVENT_BYTES)
  t.equal((error as EventTooLarge).status, 413)

  const wide = 'é'.repeat(Math.ceil(MAX_EVENT_BYTES / 2))
  t.ok(wide.length < MAX_EVENT_BYTES, 'fewer characters than the limit')
  t.ok(caught(() => prepareAppend(registry, 'note-1', [note(wide)])) instanceof EventTooLarge, 'but more bytes: refused')
})

t.test('the PostgreSQL store applies these checks before touching the database', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const store = createPostgresEventStore(sql, registry)
    t.teardown(() => store.close())

    const command = systemCommand('validation-test')
    const mixed = [note('fine', 0, command), { ...note('x', 1, command), data: { text: 'bad\u0000' } }]
    const nul = await store.append('note-a', mixed).catch((e: unknown) => e)
    t.ok(nul instanceof InvalidEventData, 'U+0000 is refused as InvalidEventData')
    t.equal(await store.streamVersion('note-a'), 0n, 'and no event of that append was written')

    const [a] = notes(1)
    const dup = await store.append('note-b', [a!, a!]).catch((e: unknown) => e)
    t.strictSame(issuePaths(dup), ['1.id'], 'a repeated id in one append')
    t.equal(await store.streamVersion('note-b'), 0n)

    t.ok(await store.readStream('Note-1').catch((e: unknown) => e) instanceof InvalidStreamId, 'reads check the stream id too')
    t.ok(await store.streamVersion('note').catch((e: unknown) => e) instanceof InvalidStreamId)

    // End to end: see the lone-surrogate test above.
    const surrogate = await store.append('note-c', [note('a\ud800')]).catch((e: unknown) => e)
    t.ok(surrogate instanceof LedgerlineError && surrogate.code === 'store.invalid_event_data',
      `a lone surrogate is refused as InvalidEventData (got ${surrogate instanceof Error
        ? `${surrogate.message}, code ${String((surrogate as { code?: unknown }).code)}`
        : 'no error'})`)
    t.equal(await store.streamVersion('note-c'), 0n, 'nothing was written')
  })
})
