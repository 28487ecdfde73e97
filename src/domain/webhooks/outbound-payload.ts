/**
 * What a receiver is told about an event: Standard Webhooks' `{type,
 * timestamp, data}`, with `data` the event's public representation — who
 * did it (the actor, and the impersonator when there was one), in which
 * organization, on what (the stream's id, as the audit log's target), and
 * the event's own fields without anything secret: values under keys naming
 * a secret or a hash are dropped, as the audit log leaves out token hashes
 * and password material, and credential-looking strings are redacted.
 */
import { redactInput, type Json } from '../tools/redact.ts'
import type { RecordedEvent } from '../../eventstore/types.ts'

/** Keys whose values never leave: hashes and secrets are useless to a receiver and dangerous in its logs. */
const DROPPED = /hash|secret|password|token|signature|fingerprint|private[-_]?key/i

function publicFields (value: unknown): Json {
  if (Array.isArray(value)) return value.map(publicFields)
  if (typeof value !== 'object' || value === null) return value as Json
  const out: Record<string, Json> = {}
  for (const [key, inner] of Object.entries(value)) if (!DROPPED.test(key)) out[key] = publicFields(inner)
  return out
}

export interface WebhookPayload {
  readonly type: string
  readonly timestamp: string
  readonly data: Record<string, Json>
}

export function payloadOf (event: RecordedEvent): WebhookPayload {
  const { metadata } = event
  const fields = redactInput(publicFields(event.data)).value
  const data: Record<string, Json> = {
    eventId: event.id,
    orgId: metadata.orgId ?? null,
    actor: { type: metadata.actor.type, id: metadata.actor.id },
    ...(metadata.impersonatorId === undefined ? {} : { impersonatorId: metadata.impersonatorId }),
    target: event.streamId,
    fields
  }
  return { type: event.type, timestamp: new Date(metadata.occurredAt).toISOString(), data }
}
