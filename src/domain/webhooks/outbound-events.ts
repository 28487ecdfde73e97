/**
 * Outbound webhook messages (`whmsg-<messageId>`): one organization event
 * for one endpoint, and every attempt to deliver it. The message id derives
 * from (endpoint, source event), and the first event is appended with
 * `no_stream`, so the fan-out run again over the same log writes nothing.
 *
 *   created ─┬─ attempt.recorded … (failed, timeout, refused) ─ attempt.recorded (delivered | gone)
 *            ├─ attempt.recorded × 8, none delivered ─ exhausted (Svix's schedule is over; a resend or recovery reopens it)
 *            └─ held (the endpoint is disabled, or older messages of it wait: no attempt spent) ─ attempt.recorded …
 *                 (the probe or the backlog sends it)
 *
 * The payload is what the receiver gets, exactly (Standard Webhooks:
 * `{type, timestamp, data}`), so every attempt sends the same bytes and a
 * resend years later too. It is built from the public representation of the
 * event (src/domain/webhooks/outbound-payload.ts): never token hashes,
 * password material or secrets.
 */
import { z } from 'zod'
import { defineEvent } from '../registry.ts'

export const MessageId = z.string().regex(/^msg_[A-Za-z0-9]{1,60}$/)
const id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)
const at = z.iso.datetime()

/** What an attempt came to: `delivered` (2xx), `gone` (410), `refused` (the SSRF guard), `timeout`, `failed` (anything else). */
export const ATTEMPT_OUTCOMES = ['delivered', 'failed', 'gone', 'refused', 'timeout'] as const
export type AttemptOutcome = typeof ATTEMPT_OUTCOMES[number]

export const messageCreated = defineEvent({
  type: 'webhook.message.created',
  schema: z.object({
    messageId: MessageId,
    endpointId: id,
    orgId: z.string().min(1).max(200),
    eventType: z.string().min(1).max(100),
    /** The organization event it carries. */
    sourceEventId: z.uuid(),
    payload: z.object({ type: z.string(), timestamp: at, data: z.record(z.string(), z.json()) }).strict()
  }).strict()
})

export const messageHeld = defineEvent({
  type: 'webhook.message.held',
  // `behind_older`: the endpoint is active, but older messages of it are held or being sent again by its backlog, which
  // sends this one after them (added beside the first reason: every stored event still reads).
  schema: z.object({ reason: z.enum(['endpoint_disabled', 'behind_older']) }).strict()
})

export const attemptRecorded = defineEvent({
  type: 'webhook.attempt.recorded',
  schema: z.object({
    endpointId: id,
    orgId: z.string().min(1).max(200),
    /** 1 for the first attempt of this message, whichever job made it. */
    attempt: z.number().int().min(1).max(100_000),
    outcome: z.enum(ATTEMPT_OUTCOMES),
    /** The receiver's HTTP status; null when no answer came. */
    status: z.number().int().min(100).max(599).nullable(),
    durationMs: z.number().int().min(0).max(86_400_000),
    /** The first 1 KiB of the answer, as text. */
    excerpt: z.string().max(1024),
    errorCode: z.string().regex(/^[a-z0-9_]+(\.[a-z0-9_]+)*$/).max(100).nullable(),
    attemptedAt: at
  }).strict()
})

/**
 * Every attempt its delivery job was allowed (Svix's 8) failed: the message ends here, not `pending` for ever. A resend or
 * a recovery by hand sends it again (its next attempt reopens it).
 */
export const messageExhausted = defineEvent({
  type: 'webhook.message.exhausted',
  schema: z.object({
    /** The message's attempts so far, all failed. */
    attempts: z.number().int().min(1).max(100_000),
    /** The last attempt's error code. */
    errorCode: z.string().regex(/^[a-z0-9_]+(\.[a-z0-9_]+)*$/).max(100).nullable()
  }).strict()
})

export const messageEvents = [messageCreated, messageHeld, attemptRecorded, messageExhausted]
export const MESSAGE_EVENT_TYPES: readonly string[] = messageEvents.map((definition) => definition.type)

type DataOf<D> = D extends { type: infer T, schema: infer S extends z.ZodType } ? { type: T, data: z.infer<S> } : never
export type MessageEvent = DataOf<typeof messageEvents[number]>
export type CreatedMessage = z.infer<typeof messageCreated.schema>
export type RecordedAttempt = z.infer<typeof attemptRecorded.schema>
export type HoldReason = z.infer<typeof messageHeld.schema>['reason']
