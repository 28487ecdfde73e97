/**
 * Keyset cursors: one codec and one error for every list, and every list's
 * cursor declared here. A cursor is base64url of the JSON `[kind, key]`,
 * where `kind` names the list (and its version) and `key` is where the next
 * page starts. Decoding checks everything a client could have changed
 * (alphabet, padding, UTF-8, JSON, kind, and the key against the list's zod
 * schema) before any SQL sees it; whatever fails is one error, InvalidCursor
 * (`http.invalid_cursor`, 400). The read models take the decoded keys
 * (`CursorKey<typeof …>`); the routes encode and decode.
 */
import { z } from 'zod'
import { domainError } from './errors.ts'
import { Id, pgBigint, pgTimestamp, uuid } from './values.ts'

export class InvalidCursor extends domainError('http.invalid_cursor', 400, 'cursor is not one this API returned') {}

/** Far more than any key needs: a longer cursor was not ours. */
const MAX_CURSOR = 512
const BASE64URL = /^[A-Za-z0-9_-]+$/
const utf8 = new TextDecoder('utf-8', { fatal: true })

export interface CursorCodec<Input, Key> {
  encode(key: Input): string
  /** The key; throws InvalidCursor for anything `encode` did not write. */
  decode(cursor: string): Key
}

/** The key a codec's cursors decode to. */
export type CursorKey<C> = C extends CursorCodec<unknown, infer Key> ? Key : never

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

/** An organization's invitations, newest first: the last one's creation time and id. */
export const invitationCursor = cursorCodec('invitations.1', z.object({ createdAt: pgTimestamp, inviteId: Id }).strict())

/** The caller's organizations, by organization id. */
export const orgCursor = cursorCodec('orgs.1', z.object({ orgId: Id }).strict())
