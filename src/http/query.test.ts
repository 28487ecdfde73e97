import fc from 'fast-check'
import t from 'tap'
import { auditCursor, cursorCodec, InvalidCursor, securityLogCursor } from '../domain/cursor.ts'
import { canonicalTimestamp, instantKey, pageLimit, pgBigint, pgText, pgTimestamp } from './query.ts'
import { z } from 'zod'

t.test('timestamps: plain dates are midnight UTC, offsets become UTC, ' +
  'impossible days and years outside 1 to 9999 are refused', async (t) => {
  t.equal(canonicalTimestamp('2026-03-01'), '2026-03-01T00:00:00Z')
  t.equal(canonicalTimestamp('2024-02-29T23:30:00-01:00'), '2024-03-01T00:30:00Z')
  t.equal(canonicalTimestamp('0001-01-01T00:00:00-23:59'), '0001-01-01T23:59:00Z', 'an offset PostgreSQL refuses, as the UTC time it names')
  t.equal(canonicalTimestamp('2026-03-01T12:00:00.123456789Z'), '2026-03-01T12:00:00.123456789Z', 'the fraction is kept')
  t.equal(canonicalTimestamp('0001-01-01T00:00:00Z'), '0001-01-01T00:00:00Z', 'the first instant')
  t.equal(canonicalTimestamp('9999-12-31T23:59:59.999Z'), '9999-12-31T23:59:59.999Z', 'the last')
  for (const bad of ['2024-13-45', '2024-02-30', '2023-02-29', '0000-01-01', '0000-12-31T23:00:00-02:00', '0001-01-01T00:00:00+00:01',
    '9999-12-31T23:59:59-00:01', '10000-01-01', '2024-01-01T24:00:00Z', '2024-01-01T00:60:00Z', '2024-01-01T00:00:60Z',
    '2024-01-01T00:00:00+24:00', '2024-01-01T00:00:00', '2024-01-01T00:00Z0',
    '2024-1-01', ' 2024-01-01', '2024-01-01T00:00:00.Z', '2024-01-01T00:00:00.1234567890Z', '']) {
    t.equal(canonicalTimestamp(bad), undefined, JSON.stringify(bad))
  }
  t.equal(pgTimestamp.safeParse('2024-02-30').success, false)
})

t.test('a canonical timestamp names the instant Date names, and instantKey orders them as the instants', async (t) => {
  const within = fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true })
  fc.assert(fc.property(within, fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }), (date, offsetMinutes) => {
    const local = new Date(date.getTime() + offsetMinutes * 60_000)
    const sign = offsetMinutes < 0 ? '-' : '+'
    const abs = Math.abs(offsetMinutes)
    const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
    if (local.getUTCFullYear() < 1 || local.getUTCFullYear() > 9999) return
    const text = local.toISOString().slice(0, 23) + zone
    const canonical = canonicalTimestamp(text)
    if (canonical === undefined) throw new Error(`${text} refused`)
    if (new Date(canonical).getTime() !== date.getTime()) throw new Error(`${text} → ${canonical}, not ${date.toISOString()}`)
  }), { numRuns: 500 })
  t.ok(instantKey('2026-01-01T00:00:00Z') < instantKey('2026-01-01T00:00:00.5Z'))
  t.ok(instantKey('2026-01-01T00:00:00.0001Z') > instantKey('2026-01-01T00:00:00.000Z'))
})

t.test('text refuses NUL bytes and overlong values; bigint stays in range; page sizes are digits only', async (t) => {
  t.equal(pgText(5).safeParse('a\u0000b').success, false)
  t.equal(pgText(5).safeParse('abcdef').success, false)
  t.equal(pgText(5).safeParse('é').success, true)
  t.equal(pgBigint.safeParse('9223372036854775807').success, true)
  for (const bad of ['9223372036854775808', '99999999999999999999', '-1', '01', '1.0', '2024-13-45', '']) {
    t.equal(pgBigint.safeParse(bad).success, false, bad)
  }
  const limit = pageLimit(200, 50)
  t.equal(limit.parse(undefined), 50)
  t.equal(limit.parse('200'), 200)
  for (const bad of ['0', '201', '-1', '1e2', '0x10', ' 5', '5.0', '9'.repeat(30), '']) t.equal(limit.safeParse(bad).success, false, bad)
})

t.test('one cursor codec: what it encodes decodes; anything else is InvalidCursor', async (t) => {
  const cursor = auditCursor.encode({ sort: 'asc', seq: '42' })
  t.same(auditCursor.decode(cursor), { sort: 'asc', seq: '42' })
  const key = { occurredAt: '2026-03-01T10:00:00.123Z', seq: '7', id: '6f1c2d3e-4b5a-5c6d-8e7f-8091a2b3c4d5' }
  t.same(securityLogCursor.decode(securityLogCursor.encode(key)), key)
  const b64 = (text: string): string => Buffer.from(text).toString('base64url')
  const refused = [
    '', '!!!', `${cursor}=`, `${cursor}A`, 'A'.repeat(600), b64('{'), b64('null'), b64('[]'), b64('["audit.1"]'),
    b64('["audit.1",{"sort":"asc","seq":"1"},1]'), b64('["security-log.1",{"sort":"asc","seq":"1"}]'),
    b64('["audit.1",{"sort":"up","seq":"1"}]'), b64('["audit.1",{"sort":"asc","seq":"99999999999999999999"}]'),
    b64('["audit.1",{"sort":"asc","seq":"1","x":1}]'), securityLogCursor.encode({ ...key, occurredAt: '2024-02-30T00:00:00.000Z' }),
    securityLogCursor.encode({ ...key, id: '-'.repeat(36) }), Buffer.from([0xff, 0xfe]).toString('base64url')
  ]
  for (const bad of refused) {
    t.throws(() => auditCursor.decode(bad) && securityLogCursor.decode(bad), InvalidCursor, JSON.stringify(bad).slice(0, 80))
  }
  const codec = cursorCodec('any.1', z.object({ n: pgBigint }).strict())
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
    try {
      codec.decode(Buffer.from(text).toString('base64url'))
    } catch (error) {
      if (!(error instanceof InvalidCursor)) throw error
    }
  }), { numRuns: 500 })
})
