/**
 * The event schema registry: validation on append, upcasting and parsing on
 * read, and the rules for registering a type.
 */
import t from 'tap'
import { z } from 'zod'
import { forEachDatabase } from '../../test/helpers/databases.ts'
import { createPostgresEventStore } from '../eventstore/postgres.ts'
import { START, type NewEvent } from '../eventstore/types.ts'
import { metadataFor, systemCommand } from './envelope.ts'
import { InvalidEventData, LedgerlineError, StoredEventUnreadable, UnknownEventType } from './errors.ts'
import { EventRegistry, defineEvent } from './registry.ts'
import { caught } from '../../test/helpers/assertions.ts'

/** v1 of a member event: a single `name`. */
const memberV1 = defineEvent({
  type: 'member.joined',
  schema: z.object({ name: z.string().min(1), role: z.enum(['admin', 'viewer']) }).strict()
})

/** v2 splits the name and adds tags; v1 data is upcast. */
const memberV2 = defineEvent({
  type: 'member.joined',
  version: 2,
  schema: z.object({
    givenName: z.string().min(1), familyName: z.string(), role: z.enum(['admin', 'viewer']), tags: z.array(z.string())
  }).strict(),
  upcasters: {
    1: (data) => {
      const { name, role } = data as { name: string, role: string }
      const [givenName = '', ...rest] = name.split(' ')
      return { givenName, familyName: rest.join(' '), role, tags: [] }
    }
  }
})

/** v3 renames role to roles; two upcasters chained. */
const memberV3 = defineEvent({
  type: 'member.joined',
  version: 3,
  schema: z.object({
    givenName: z.string().min(1), familyName: z.string(), roles: z.array(z.enum(['admin', 'viewer'])), tags: z.array(z.string())
  }).strict(),
  upcasters: {
    1: memberV2.upcasters![1]!,
    2: (data) => {
      const { role, ...rest } = data as { role: string }
      return { ...rest, roles: [role] }
    }
  }
})

const nested = defineEvent({
  type: 'invoice.issued',
  schema: z.object({
    amount: z.number().int().positive(),
    customer: z.object({ id: z.string().min(1), email: z.email() }),
    lines: z.array(z.object({ sku: z.string(), quantity: z.number().int().positive() }))
  })
})

t.test('validate returns the parsed data for good data', async (t) => {
  const registry = new EventRegistry([memberV1, nested])
  t.strictSame(registry.validate('member.joined', { name: 'Ada Lovelace', role: 'admin' }), { name: 'Ada Lovelace', role: 'admin' })
  const normalized = registry.validate('invoice.issued', {
    amount: 10, customer: { id: 'c1', email: 'a@example.com', extra: 'dropped' }, lines: []
  })
  t.strictSame(normalized, { amount: 10, customer: { id: 'c1', email: 'a@example.com' }, lines: [] },
    'non-strict schemas strip unknown keys: the normalized data is what gets stored')
})

t.test('validate rejects bad data with InvalidEventData listing the issue paths', async (t) => {
  const registry = new EventRegistry([memberV1, nested])
  const error = caught(() => registry.validate('invoice.issued', {
    amount: -1,
    customer: { id: '', email: 'not an email' },
    lines: [{ sku: 'a', quantity: 1 }, { sku: 'b', quantity: 0 }, { sku: 7, quantity: 1 }]
  }))
  t.ok(error instanceof InvalidEventData)
  const invalid = error as InvalidEventData
  t.equal(invalid.code, 'store.invalid_event_data')
  t.equal(invalid.status, 400)
  t.equal(invalid.type, 'invoice.issued')
  t.strictSame(invalid.issues.map((issue) => issue.path).sort(),
    ['amount', 'customer.email', 'customer.id', 'lines.1.quantity', 'lines.2.sku'], 'every issue, nested paths joined with dots')
  t.ok(invalid.issues.every((issue) => typeof issue.message === 'string' && issue.message !== ''), 'each with a message')
  t.strictSame(invalid.details, { eventType: 'invoice.issued', issues: invalid.issues },
    'the issues are in the problem details, under eventType (never the RFC 9457 type member)')

  const extra = caught(() => registry.validate('member.joined', { name: 'Ada', role: 'admin', admin: true })) as InvalidEventData
  t.ok(extra instanceof InvalidEventData, 'a strict schema rejects unknown keys')
  t.strictSame(extra.issues.map((issue) => issue.path), [''], 'reported at the root')

  for (const bad of [null, undefined, 'text', 42, []]) {
    t.ok(caught(() => registry.validate('member.joined', bad)) instanceof InvalidEventData,
      `${JSON.stringify(bad) ?? 'undefined'} is rejected`)
  }

  const many = caught(() => registry.validate('invoice.issued', {
    amount: 1, customer: { id: 'c', email: 'c@example.com' }, lines: Array.from({ length: 30 }, () => ({ sku: 1, quantity: 1 }))
  })) as InvalidEventData
  t.equal(many.issues.length, 20, 'at most 20 issues are listed')
  t.equal(many.issues[0]!.path, 'lines.0.sku')
})

t.test('an unknown type throws UnknownEventType on validate but passes through parse untouched', async (t) => {
  const registry = new EventRegistry([memberV1])
  const error = caught(() => registry.validate('member.left', { name: 'Ada' }))
  t.ok(error instanceof UnknownEventType)
  t.equal((error as UnknownEventType).code, 'store.unknown_event_type')
  t.equal((error as UnknownEventType).type, 'member.left')
  t.ok(caught(() => registry.versionOf('member.left')) instanceof UnknownEventType, 'versionOf too')

  const data = { anything: ['goes', 1, null], name: '' }
  t.equal(registry.parse('member.left', data), data, 'parse hands back the very same value')
  t.equal(registry.parse('member.left', data, 7), data, 'whatever version it was written at')
  t.strictSame(data, { anything: ['goes', 1, null], name: '' }, 'and did not touch it')
})

t.test('parse validates known types against the current schema', async (t) => {
  const registry = new EventRegistry([memberV1])
  t.strictSame(registry.parse('member.joined', { name: 'Ada', role: 'viewer' }), { name: 'Ada', role: 'viewer' })
  const error = caught(() => registry.parse('member.joined', { name: 'Ada', role: 'owner' }))
  t.ok(error instanceof StoredEventUnreadable, 'stored data that no longer fits the schema is reported, not returned')
  t.equal((error as StoredEventUnreadable).status, 500, 'as a server-side failure, never the caller\'s')
  t.strictSame((error as StoredEventUnreadable).issues.map((issue) => issue.path), ['role'])
  t.strictSame(registry.parse('member.joined', { name: 'Ada', role: 'owner' }, 2), { name: 'Ada', role: 'owner' },
    'data written by a newer schema version than this build knows passes through untouched')
})

t.test('a v2 schema with an upcaster upcasts v1 data on read', async (t) => {
  const registry = new EventRegistry([memberV2])
  t.equal(registry.versionOf('member.joined'), 2)
  t.strictSame(registry.parse('member.joined', { name: 'Ada King Lovelace', role: 'admin' }, 1),
    { givenName: 'Ada', familyName: 'King Lovelace', role: 'admin', tags: [] }, 'written at v1: upcast')
  t.strictSame(registry.parse('member.joined', { name: 'Ada', role: 'admin' }),
    { givenName: 'Ada', familyName: '', role: 'admin', tags: [] }, 'no version recorded: taken as v1')
  const current = { givenName: 'Grace', familyName: 'Hopper', role: 'viewer', tags: ['navy'] }
  t.strictSame(registry.parse('member.joined', current, 2), current, 'written at v2: not upcast')
  t.ok(caught(() => registry.parse('member.joined', current, 1)) instanceof Error,
    'v2 data claimed as v1 goes through the upcaster and fails')
  t.ok(caught(() => registry.validate('member.joined', { name: 'Ada', role: 'admin' })) instanceof InvalidEventData,
    'appends are validated against v2 only: v1 data is not upcast on the way in')

  const v3 = new EventRegistry([memberV3])
  t.strictSame(v3.parse('member.joined', { name: 'Ada Lovelace', role: 'admin' }, 1),
    { givenName: 'Ada', familyName: 'Lovelace', roles: ['admin'], tags: [] }, 'v1 to v3: both upcasters, in order')
  t.strictSame(v3.parse('member.joined', { givenName: 'Ada', familyName: '', role: 'viewer', tags: ['x'] }, 2),
    { givenName: 'Ada', familyName: '', roles: ['viewer'], tags: ['x'] }, 'v2 to v3: only the last one')

  const broken = new EventRegistry([defineEvent({ ...memberV2, upcasters: { 1: () => ({ givenName: '' }) } })])
  const error = caught(() => broken.parse('member.joined', { name: 'Ada', role: 'admin' }, 1))
  t.ok(error instanceof StoredEventUnreadable, 'what an upcaster returns is checked against the current schema')
})

t.test('registering v2 without an upcaster from each older version throws', async (t) => {
  t.throws(() => new EventRegistry([defineEvent({ type: 'member.joined', version: 2, schema: z.object({}) })]),
    { message: 'event type member.joined v2 lacks an upcaster from v1' })
  t.throws(
    () => new EventRegistry([defineEvent({ type: 'member.joined', version: 3, schema: z.object({}), upcasters: { 2: (data) => data } })]),
    { message: 'event type member.joined v3 lacks an upcaster from v1' }, 'a gap in the chain')
  t.throws(
    () => new EventRegistry([defineEvent({ type: 'member.joined', version: 3, schema: z.object({}), upcasters: { 1: (data) => data } })]),
    { message: 'event type member.joined v3 lacks an upcaster from v2' }, 'the last step missing')
  const registry = new EventRegistry()
  t.throws(() => registry.register(defineEvent({ type: 'member.joined', version: 2, schema: z.object({}) })))
  t.notOk(registry.has('member.joined'), 'a refused definition is not registered')
})

t.test('registering a type twice throws', async (t) => {
  t.throws(() => new EventRegistry([memberV1, memberV2]), { message: 'event type member.joined is registered twice' })
  const registry = new EventRegistry([memberV1])
  t.throws(() => registry.register(defineEvent({ type: 'member.joined', schema: memberV1.schema })),
    'even with the same schema, as another definition')
  t.equal(registry.versionOf('member.joined'), 1, 'the first definition stays')
  t.doesNotThrow(() => registry.register(memberV1), 'the same definition object again is a no-op (modules that register on import)')
  t.strictSame(registry.types, ['member.joined'])
  t.equal(registry.register(nested), registry, 'register chains')
  t.strictSame(registry.types.sort(), ['invoice.issued', 'member.joined'])
  t.ok(registry.has('invoice.issued'))
  t.notOk(registry.has('invoice.voided'))
})

// Regression (registry.ts once did this): register checks that a version has its upcasters but not
// that it is a positive integer. `version: 0` (or 1.5) registers fine, then
// every append of the type fails with InvalidEventData on
// metadata.schemaVersion (EventMetadataSchema wants a positive integer):
// a typo found only at run time, on each write. Projections refuse such
// versions at definition (projection.ts); the registry should too.
t.test('registering a version that is not a positive integer throws', async (t) => {
  for (const version of [0, -1, 1.5]) {
    const definition = defineEvent({ type: 'member.joined', version, schema: z.object({}), upcasters: { 1: (data: unknown) => data } })
    t.throws(() => new EventRegistry([definition]), `version ${version} is refused`)
  }
})

t.test('old events are upcast on read through the PostgreSQL store', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const streamId = `member-${crypto.randomUUID()}`
    const writerV1 = createPostgresEventStore(sql, new EventRegistry([memberV1]))
    t.teardown(() => writerV1.close())
    const joined = (data: unknown, index: number, command = systemCommand('registry-test')): NewEvent => {
      const metadata = metadataFor(command, index)
      return { id: metadata.eventId, type: 'member.joined', data, metadata }
    }
    await writerV1.append(streamId, [joined({ name: 'Ada Lovelace', role: 'admin' }, 0), joined({ name: 'Grace', role: 'viewer' }, 1)])
    const asWritten = await writerV1.readStream(streamId)
    t.strictSame(asWritten.map((event) => event.metadata.schemaVersion), [1, 1], 'the store records the version the data was written at')
    t.strictSame(asWritten.map((event) => event.data), [{ name: 'Ada Lovelace', role: 'admin' }, { name: 'Grace', role: 'viewer' }])

    const readerV2 = createPostgresEventStore(sql, new EventRegistry([memberV2]))
    t.teardown(() => readerV2.close())
    const v2 = { givenName: 'Alan', familyName: 'Turing', role: 'viewer', tags: ['bletchley'] }
    await readerV2.append(streamId, [joined(v2, 0)], { expectedVersion: 2n })
    const upcast = await readerV2.readStream(streamId)
    t.strictSame(upcast.map((event) => event.data), [
      { givenName: 'Ada', familyName: 'Lovelace', role: 'admin', tags: [] },
      { givenName: 'Grace', familyName: '', role: 'viewer', tags: [] },
      v2
    ], 'v1 events are read as v2; the v2 event is read as written')
    t.strictSame(upcast.map((event) => event.metadata.schemaVersion), [1, 1, 2], 'the stored metadata is unchanged')
    // readAll shows a commit once no older transaction is running anywhere on the server: wait for that.
    let all = await readerV2.readAll(START, { streamPrefix: streamId })
    for (const deadline = Date.now() + 20_000; all.events.length < 3 && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      all = await readerV2.readAll(START, { streamPrefix: streamId })
    }
    t.strictSame(all.events.map((event) => event.data), upcast.map((event) => event.data), 'readAll upcasts too')

    const { rows } = await sql.query<{ data: unknown }>('SELECT data FROM events WHERE stream_id = $1 ORDER BY stream_version', [streamId])
    const stored = rows.map((row) => typeof row.data === 'string' ? JSON.parse(row.data) as unknown : row.data)
    t.strictSame(stored[0], { name: 'Ada Lovelace', role: 'admin' }, 'the log itself is never rewritten')

    const refused = await readerV2.append(streamId, [joined({ name: 'Edsger', role: 'viewer' }, 0)]).catch((e: unknown) => e)
    t.ok(refused instanceof InvalidEventData, 'a v2 store refuses v1-shaped data')
    t.equal(await readerV2.streamVersion(streamId), 3n)

    const readerV3 = createPostgresEventStore(sql, new EventRegistry([memberV3]))
    t.teardown(() => readerV3.close())
    t.strictSame((await readerV3.readStream(streamId)).map((event) => event.data), [
      { givenName: 'Ada', familyName: 'Lovelace', roles: ['admin'], tags: [] },
      { givenName: 'Grace', familyName: '', roles: ['viewer'], tags: [] },
      { givenName: 'Alan', familyName: 'Turing', roles: ['viewer'], tags: ['bletchley'] }
    ], 'a v3 reader upcasts v1 and v2 events alike')

    const unaware = createPostgresEventStore(sql, new EventRegistry())
    t.teardown(() => unaware.close())
    const raw = await unaware.readStream(streamId)
    t.strictSame(raw.map((event) => event.data)[0], { name: 'Ada Lovelace', role: 'admin' },
      'a store that does not know the type reads it as stored')
    const write = await unaware.append(streamId, [joined(v2, 0)]).catch((e: unknown) => e)
    t.ok(write instanceof UnknownEventType && write instanceof LedgerlineError, 'but cannot append it')
  })
})
