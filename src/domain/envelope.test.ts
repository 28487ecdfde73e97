/**
 * The event envelope: UUIDv5 event ids, the metadata every event carries, and
 * trace ids.
 */
import fc from 'fast-check'
import t from 'tap'
import { EventMetadataSchema, eventIdFor, metadataFor, newTraceId, systemCommand, uuidV5, type CommandMetadata } from './envelope.ts'

/** RFC 9562 layout with version 5 and variant 10xx. */
const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/**
 * Computed independently, with Python's uuid.uuid5 in the namespace
 * 6f0d3c52-a4e8-4c1c-9b7a-5d2e8f4a1b37. Event ids already in the log depend
 * on these values: a change to the namespace or the name encoding would make
 * a retried command write its events a second time.
 */
const KNOWN: Array<[string, string]> = [
  ['', '7ec0e0e0-d52b-583f-b5c7-af899b26c6b2'],
  ['hello', '72c155e1-31fb-528d-b7d4-ebaffcaf46c3'],
  ['ledgerline', '68197252-1c05-5baf-a5b8-5c13c2c6a03e'],
  ['zürich ✓ 🚀', 'a8c3f411-768b-5e66-bb1c-0d3469e31444']
]

const COMMAND_ID = '00000000-0000-4000-8000-000000000000'

function command (overrides: Partial<CommandMetadata> = {}): CommandMetadata {
  return {
    commandId: '9b2f7c1e-4d3a-4b8e-9f6a-1c2d3e4f5a6b',
    now: new Date('2026-04-05T06:07:08.009Z'),
    actor: { type: 'user', id: 'user-ada' },
    traceId: '0af7651916cd43dd8448eb211c80319c',
    ...overrides
  }
}

const OPTIONAL = ['orgId', 'impersonatorId', 'ip', 'userAgent', 'requestId', 'causationId', 'correlationId'] as const

t.test('uuidV5 gives RFC 9562 version-5 ids that match an independent implementation', async (t) => {
  for (const [name, expected] of KNOWN) {
    const id = uuidV5(name)
    t.equal(id, expected, `uuidV5(${JSON.stringify(name)})`)
    t.match(id, UUID_V5, 'version nibble 5, variant bits 10')
  }
  t.equal(uuidV5('hello'), uuidV5('hello'), 'the same name gives the same id')
  t.not(uuidV5('hello'), uuidV5('Hello'), 'names are case-sensitive')
  t.not(uuidV5('e\u0301'), uuidV5('\u00e9'), 'names are hashed as given, not Unicode-normalized')
})

t.test('uuidV5 has the v5 shape and is deterministic for any name', async (t) => {
  const details = fc.check(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (name) => {
    const id = uuidV5(name)
    return UUID_V5.test(id) && uuidV5(name) === id
  }), { numRuns: 500 })
  t.notOk(details.failed, fc.defaultReportMessage(details) ?? '500 names: shape and determinism hold')
})

t.test('uuidV5 never collides on distinct names within a run', async (t) => {
  const seen = new Map<string, string>()
  let collision: string | undefined
  const arbitrary = fc.uniqueArray(fc.string({ unit: 'binary', maxLength: 40 }), { minLength: 2, maxLength: 100 })
  const details = fc.check(fc.property(arbitrary, (names) => {
    const ids = new Set(names.map(uuidV5))
    for (const name of names) {
      const id = uuidV5(name)
      const earlier = seen.get(id)
      if (earlier !== undefined && earlier !== name) collision ??= `${JSON.stringify(earlier)} and ${JSON.stringify(name)} both gave ${id}`
      seen.set(id, name)
    }
    return ids.size === names.length
  }), { numRuns: 300 })
  t.notOk(details.failed, fc.defaultReportMessage(details) ?? 'distinct names in one sample give distinct ids')
  t.equal(collision, undefined, `no two distinct names across the whole run share an id (${seen.size} names)`)
  t.ok(seen.size > 1000, 'the run hashed enough names to mean something')
})

t.test('eventIdFor is the UUIDv5 of "<command id>/<index>", different per index and per command', async (t) => {
  t.equal(eventIdFor(COMMAND_ID, 0), 'ccca3636-0d24-5f93-87f0-52c01df17fcf', 'matches Python\'s uuid5 of "<command id>/0"')
  t.equal(eventIdFor(COMMAND_ID, 1), '9fa9981b-e7a4-5a57-a67a-bfe850e33300', 'and of "<command id>/1"')
  t.equal(eventIdFor(COMMAND_ID, 3), uuidV5(`${COMMAND_ID}/3`))
  t.equal(eventIdFor(COMMAND_ID, 2), eventIdFor(COMMAND_ID, 2), 'the same on every call: a retried command re-appends the same ids')
  const ids = Array.from({ length: 1000 }, (_, index) => eventIdFor(COMMAND_ID, index))
  t.equal(new Set(ids).size, 1000, 'a thousand indexes of one command: a thousand ids')
  t.ok(ids.every((id) => UUID_V5.test(id)))

  const details = fc.check(fc.property(fc.uuid(), fc.uuid(), fc.nat(10_000), fc.nat(10_000), (a, b, i, j) => {
    const same = a === b && i === j
    return (eventIdFor(a, i) === eventIdFor(b, j)) === same
  }), { numRuns: 1000 })
  t.notOk(details.failed, fc.defaultReportMessage(details) ?? 'two (command, index) pairs share an id exactly when they are equal')
})

t.test('metadataFor copies the optional fields only when they are set', async (t) => {
  const bare = metadataFor(command(), 2)
  t.strictSame(bare, {
    eventId: eventIdFor('9b2f7c1e-4d3a-4b8e-9f6a-1c2d3e4f5a6b', 2),
    occurredAt: '2026-04-05T06:07:08.009Z',
    actor: { type: 'user', id: 'user-ada' },
    traceId: '0af7651916cd43dd8448eb211c80319c',
    commandId: '9b2f7c1e-4d3a-4b8e-9f6a-1c2d3e4f5a6b'
  }, 'only the required fields, occurredAt from now')
  t.notOk('now' in bare, 'the command clock is not copied as such')

  const explicitUndefined = metadataFor(command({ orgId: undefined, ip: undefined, correlationId: undefined }), 0)
  t.strictSame(Object.keys(explicitUndefined).sort(), ['actor', 'commandId', 'eventId', 'occurredAt', 'traceId'],
    'a field set to undefined is left out, not copied as undefined')

  const full = metadataFor(command({
    orgId: 'org-acme', impersonatorId: 'user-support', ip: '2001:db8::1', userAgent: 'curl/8.5',
    requestId: 'req-1', causationId: 'evt-0', correlationId: 'corr-0'
  }), 0)
  t.strictSame(OPTIONAL.map((key) => full[key]), ['org-acme', 'user-support', '2001:db8::1', 'curl/8.5', 'req-1', 'evt-0', 'corr-0'],
    'every optional field set is copied')
  t.equal(full.schemaVersion, undefined, 'schemaVersion is the store\'s to set')

  for (const key of OPTIONAL) {
    const one = metadataFor(command({ [key]: 'value-1' }), 0)
    t.strictSame(Object.keys(one).filter((k) => (OPTIONAL as readonly string[]).includes(k)), [key], `${key} alone is copied alone`)
  }
})

t.test('metadataFor output validates against EventMetadataSchema', async (t) => {
  t.ok(EventMetadataSchema.safeParse(metadataFor(command(), 0)).success, 'bare')
  t.ok(EventMetadataSchema.safeParse(metadataFor(command({ orgId: 'org-1', ip: '10.0.0.1', userAgent: 'x' }), 5)).success,
    'with optional fields')
  t.ok(EventMetadataSchema.safeParse(metadataFor(systemCommand('cli-migrate'), 0)).success, 'from systemCommand')

  const optionalValue = fc.option(fc.string({ minLength: 1, maxLength: 60 }), { nil: undefined })
  const commandArbitrary = fc.record({
    commandId: fc.uuid(),
    now: fc.date({ min: new Date('1970-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }),
    actor: fc.record({
      type: fc.constantFrom('user' as const, 'service' as const, 'system' as const, 'ai' as const),
      id: fc.string({ minLength: 1, maxLength: 200 })
    }),
    traceId: fc.stringMatching(/^[0-9a-f]{32}$/),
    orgId: optionalValue,
    impersonatorId: optionalValue,
    ip: fc.option(fc.ipV4(), { nil: undefined }),
    userAgent: optionalValue,
    requestId: optionalValue,
    causationId: optionalValue,
    correlationId: optionalValue
  })
  const details = fc.check(fc.property(commandArbitrary, fc.nat(10_000), (cmd, index) => {
    const metadata = metadataFor(cmd, index)
    const parsed = EventMetadataSchema.safeParse(metadata)
    if (!parsed.success) return false
    const copied = OPTIONAL.filter((key) => key in metadata)
    const set = OPTIONAL.filter((key) => cmd[key] !== undefined)
    return JSON.stringify(copied) === JSON.stringify(set) &&
      set.every((key) => metadata[key] === cmd[key]) &&
      metadata.occurredAt === cmd.now.toISOString() &&
      metadata.eventId === eventIdFor(cmd.commandId, index)
  }), { numRuns: 500 })
  t.notOk(details.failed, fc.defaultReportMessage(details) ??
    'any valid command metadata gives valid event metadata, optional fields copied exactly when set')

  t.notOk(EventMetadataSchema.safeParse({ ...metadataFor(command(), 0), extra: 1 }).success,
    'the schema is strict: so metadataFor must not add keys')
  t.notOk(EventMetadataSchema.safeParse(metadataFor(command({ traceId: 'ABC' }), 0)).success, 'a bad trace id is caught by the schema')
})

t.test('newTraceId is 32 lowercase hex digits, not all zero, fresh each call', async (t) => {
  const ids = Array.from({ length: 2000 }, newTraceId)
  t.ok(ids.every((id) => /^[0-9a-f]{32}$/.test(id)), 'every id is 32 lowercase hex digits')
  t.notOk(ids.includes('0'.repeat(32)), 'none is the invalid all-zero W3C trace id')
  t.equal(new Set(ids).size, ids.length, 'no repeats in 2000')
  t.ok(ids.every((id) => EventMetadataSchema.shape.traceId.safeParse(id).success), 'each is accepted as metadata.traceId')
})

t.test('systemCommand describes work no request started', async (t) => {
  const now = new Date('2026-01-02T03:04:05.000Z')
  const cmd = systemCommand('scheduler', now)
  t.strictSame(cmd.actor, { type: 'system', id: 'scheduler' })
  t.equal(cmd.now, now)
  t.match(cmd.commandId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a random UUIDv4 command id')
  t.not(systemCommand('scheduler').commandId, systemCommand('scheduler').commandId, 'a new one each time')
  t.match(cmd.traceId, /^[0-9a-f]{32}$/)
})
