/**
 * The event envelope: metadata carried by every event (DESIGN.md §4) and the
 * deterministic event ids that make a retried command idempotent end to end.
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'

export const ActorSchema = z.object({
  type: z.enum(['user', 'service', 'system', 'ai']),
  id: z.string().min(1).max(200)
}).strict()
export type Actor = z.infer<typeof ActorSchema>

const uuid = z.uuid()
const shortText = z.string().max(500)

export const EventMetadataSchema = z.object({
  eventId: uuid,
  occurredAt: z.iso.datetime({ offset: true }),
  orgId: z.string().min(1).max(200).optional(),
  actor: ActorSchema,
  impersonatorId: z.string().min(1).max(200).optional(),
  ip: z.string().max(64).optional(),
  userAgent: shortText.optional(),
  traceId: z.string().regex(/^[0-9a-f]{32}$/),
  requestId: z.string().max(200).optional(),
  commandId: uuid,
  causationId: z.string().max(200).optional(),
  correlationId: z.string().max(200).optional(),
  /** Version of the event's data schema when it was written (see registry.ts). */
  schemaVersion: z.number().int().positive().optional()
}).strict()
export type EventMetadata = z.infer<typeof EventMetadataSchema>

/** What a command carries for the events it will produce; `now` is the only clock the domain sees. */
export interface CommandMetadata {
  commandId: string
  now: Date
  actor: Actor
  orgId?: string
  impersonatorId?: string
  ip?: string
  userAgent?: string
  traceId: string
  requestId?: string
  causationId?: string
  correlationId?: string
}

/** Namespace of Ledgerline's UUIDv5 event ids (a fixed, random UUID). */
const EVENT_ID_NAMESPACE = Buffer.from('6f0d3c52a4e84c1c9b7a5d2e8f4a1b37', 'hex')

/** UUIDv5 (RFC 9562 §5.5) of `name` in Ledgerline's event namespace. */
export function uuidV5 (name: string): string {
  const hash = createHash('sha1').update(EVENT_ID_NAMESPACE).update(name, 'utf8').digest()
  const bytes = hash.subarray(0, 16)
  bytes[6] = (bytes[6]! & 0x0f) | 0x50
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** The id of the `index`-th event produced by a command: the same on every retry. */
export function eventIdFor (commandId: string, index: number): string {
  return uuidV5(`${commandId}/${index}`)
}

/** A random W3C trace id (32 lowercase hex digits, not all zero). */
export function newTraceId (): string {
  // A v4 UUID's 122 random bits, without its dashes: random enough for W3C, and no hashing per request.
  return crypto.randomUUID().replaceAll('-', '')
}

export function metadataFor (command: CommandMetadata, index: number): EventMetadata {
  const eventId = eventIdFor(command.commandId, index)
  const metadata: EventMetadata = {
    eventId,
    occurredAt: command.now.toISOString(),
    actor: command.actor,
    traceId: command.traceId,
    commandId: command.commandId
  }
  for (const key of ['orgId', 'impersonatorId', 'ip', 'userAgent', 'requestId', 'causationId', 'correlationId'] as const) {
    const value = command[key]
    if (value !== undefined) metadata[key] = value
  }
  return metadata
}

/** Metadata for work that no request started: CLI, reactors, schedulers. */
export function systemCommand (actorId: string, now = new Date()): CommandMetadata {
  return {
    commandId: crypto.randomUUID(),
    now,
    actor: { type: 'system', id: actorId },
    traceId: newTraceId()
  }
}
