/**
 * Keyset cursors, one codec for every list: a cursor is base64url of the
 * JSON `[kind, key]`, where `kind` names the list (and its version) and
 * `key` is where the next page starts. Decoding checks everything a client
 * could have changed (alphabet, padding, UTF-8, JSON, kind, and the key
 * against the list's zod schema, built from src/http/query.ts) before any
 * SQL sees it; whatever fails is one error, InvalidCursor.
 */
import { z } from 'zod'
import { LedgerlineError } from '../domain/errors.ts'
import { pgBigint, pgTimestamp, uuid } from './query.ts'
import { Id } from './schemas.ts'

export class InvalidCursor extends LedgerlineError {
  readonly code = 'http.invalid_cursor'
  readonly status = 400
  constructor (detail = 'cursor is not one this API returned') { super(detail) }
}

/** Far more than any key needs: a longer cursor was not ours. */
const MAX_CURSOR = 512
const BASE64URL = /^[A-Za-z0-9_-]+$/
const utf8 = new TextDecoder('utf-8', { fatal: true })

export interface CursorCodec<Input, Key> {
  encode(key: Input): string
  /** The key; throws InvalidCursor for anything `encode` did not write. */
  decode(cursor: string): Key
}

function parseJson (cursor: string): unknown {
  if (cursor.length > MAX_CURSOR || !BASE64URL.test(cursor)) throw new InvalidCursor()
  const bytes = Buffer.from(cursor, 'base64url')
  // Node skips what is not base64url; a cursor that does not re-encode to itself was not written by encode.
  if (bytes.toString('base64url') !== cursor) throw new InvalidCursor()
  try {
    return JSON.parse(utf8.decode(bytes))
  } catch {
    throw new InvalidCursor()
  }
}

export function cursorCodec<S extends z.ZodType> (kind: string, key: S): CursorCodec<z.input<S>, z.output<S>> {
  return {
    encode: (value) => Buffer.from(JSON.stringify([kind, value])).toString('base64url'),
    decode (cursor) {
      const value = parseJson(cursor)
      if (!Array.isArray(value) || value.length !== 2 || value[0] !== kind) throw new InvalidCursor()
      const parsed = key.safeParse(value[1])
      if (!parsed.success) throw new InvalidCursor()
      return parsed.data
    }
  }
}

/** The audit log: the order a page continues, and the last seq it showed. */
export const auditCursor = cursorCodec('audit.1', z.object({ sort: z.enum(['asc', 'desc']), seq: pgBigint }).strict())

/** A security log: the last entry's time, seq and id (its keyset). */
export const securityLogCursor = cursorCodec('security-log.1', z.object({ occurredAt: pgTimestamp, seq: pgBigint, id: uuid }).strict())

/** Impersonation sessions, newest first: the last session's request time and id. */
export const impersonationCursor = cursorCodec('impersonations.1', z.object({ requestedAt: pgTimestamp, sessionId: Id }).strict())

/** Members, by user id. */
export const memberCursor = cursorCodec('members.1', z.object({ userId: Id }).strict())
