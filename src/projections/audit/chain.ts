/**
 * The audit hash chain: each row of an organization's log (or of the
 * platform's) carries the hash of the row before it, so that altering,
 * removing or reordering a row breaks every hash after it.
 *
 *   hash = SHA-256( prev_hash ‖ "\n" ‖ canonical JSON of the row )
 *
 * The canonical JSON has the row's fields (not its hashes) in a fixed order,
 * with nested objects' keys sorted, times as ISO text and absent values as
 * null. The first row's prev_hash is 64 zeros.
 */
import { createHash } from 'node:crypto'

export const GENESIS = '0'.repeat(64)

export interface AuditRow {
  readonly id: string
  readonly orgId: string | null
  readonly seq: number
  readonly occurredAt: string
  readonly action: string
  readonly actorType: string
  readonly actorId: string
  readonly actorLabel: string | null
  readonly impersonatorId: string | null
  readonly targetType: string | null
  readonly targetId: string | null
  readonly diff: unknown
  readonly ip: string | null
  readonly userAgent: string | null
  readonly traceId: string | null
  readonly requestId: string | null
  readonly position: string
}

/** JSON with object keys sorted at every depth: one text per value. */
export function canonicalJson (value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null)
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const record = value as Record<string, unknown>
  const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort()
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`
}

const FIELDS: ReadonlyArray<keyof AuditRow> = [
  'id', 'orgId', 'seq', 'occurredAt', 'action', 'actorType', 'actorId', 'actorLabel', 'impersonatorId',
  'targetType', 'targetId', 'diff', 'ip', 'userAgent', 'traceId', 'requestId', 'position'
]

/** The row as hashed: its fields in a fixed order. */
export function canonicalRow (row: AuditRow): string {
  return `[${FIELDS.map((field) => canonicalJson(row[field])).join(',')}]`
}

export function chainHash (prevHash: string, row: AuditRow): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonicalRow(row)).digest('hex')
}
