/**
 * Outbound webhook endpoints (`whep-<endpointId>`): where an organization
 * wants its events sent, which ones, and whether they are sent now. Every
 * change is an event, so the audit log shows who subscribed what and when.
 *
 *   created ─┬─ updated (url, description, filters)
 *            ├─ secret_rotated (the old secret signs too for 24 h)
 *            ├─ disabled (manual, failing for days, or gone: the receiver answered 410) ─ enabled (manual, probe, recover)
 *            └─ deleted (takes no command after)
 *
 * Not in these events: the secrets. They live in the secret store
 * (src/application/webhooks/secrets.ts); events carry their fingerprints.
 */
import { z } from 'zod'
import { defineEvent } from '../registry.ts'

const fingerprint = z.string().min(1).max(100)
const at = z.iso.datetime()
/** An exact event type (`rbac.role.created`), a prefix (`rbac.*`), or everything (`*`). */
export const EventTypeFilter = z.string()
  .regex(/^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$/, 'an event type, a prefix such as rbac.*, or *')
  .max(100)
export const EventTypeFilters = z.array(EventTypeFilter).min(1).max(50)

export const DISABLE_REASONS = ['manual', 'failing', 'gone'] as const
export type DisableReason = typeof DISABLE_REASONS[number]
export const ENABLED_BY = ['manual', 'probe', 'recover'] as const
export type EnabledBy = typeof ENABLED_BY[number]

export const endpointCreated = defineEvent({
  type: 'webhook.endpoint.created',
  schema: z.object({
    endpointId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    orgId: z.string().min(1).max(200),
    url: z.string().min(1).max(2048),
    description: z.string().max(500),
    eventTypes: EventTypeFilters,
    enabled: z.boolean(),
    secretFingerprint: fingerprint
  }).strict()
})

/** Only the fields that changed. */
export const endpointUpdated = defineEvent({
  type: 'webhook.endpoint.updated',
  schema: z.object({
    url: z.string().min(1).max(2048).optional(),
    description: z.string().max(500).optional(),
    eventTypes: EventTypeFilters.optional()
  }).strict()
})

export const endpointSecretRotated = defineEvent({
  type: 'webhook.endpoint.secret_rotated',
  schema: z.object({ secretFingerprint: fingerprint, previousFingerprint: fingerprint, previousExpiresAt: at }).strict()
})

export const endpointDisabled = defineEvent({
  type: 'webhook.endpoint.disabled',
  schema: z.object({
    reason: z.enum(DISABLE_REASONS),
    /** For `failing`: since when every attempt failed (its last success, or its first failure). */
    failingSince: at.optional(),
    /** For `gone`: the message whose delivery was answered 410. */
    messageId: z.string().max(100).optional()
  }).strict()
})

export const endpointEnabled = defineEvent({
  type: 'webhook.endpoint.enabled',
  schema: z.object({ by: z.enum(ENABLED_BY) }).strict()
})

export const endpointDeleted = defineEvent({
  type: 'webhook.endpoint.deleted',
  schema: z.object({}).strict()
})

export const endpointEvents = [endpointCreated, endpointUpdated, endpointSecretRotated, endpointDisabled, endpointEnabled, endpointDeleted]
export const ENDPOINT_EVENT_TYPES: readonly string[] = endpointEvents.map((definition) => definition.type)

type DataOf<D> = D extends { type: infer T, schema: infer S extends z.ZodType } ? { type: T, data: z.infer<S> } : never
export type EndpointEvent = DataOf<typeof endpointEvents[number]>
