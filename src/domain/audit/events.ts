/**
 * Audit-only events: what changes no aggregate but must be traced — sign-ins
 * and their failures, a token used from an address it was not used from
 * before, and reads of the audit log or of other sensitive records. No
 * decider folds them; they exist for the audit projection.
 *
 * Streams (category `access`, "the access trail of <id>"), appended with
 * expected version `any`, so they never contend with an aggregate's
 * optimistic concurrency:
 * - `access-<userId>`: the user's sign-ins, failed sign-ins on their address,
 *   and their tokens' new addresses;
 * - `access-<sha256 of the normalized address>`: failed sign-ins on an address
 *   no user holds (hashed like `email-…` streams: no address in a stream id;
 *   one stream per address, so credential stuffing does not queue every
 *   failure behind one stream's lock);
 * - `access-<orgId>`: searches and exports of the organization's audit log,
 *   sensitive reads in it, and refused sensitive actions (coalesced).
 *
 * Event ids derive from the command id like every other event, so a retried
 * command does not log twice. Secrets never appear: a failed sign-in keeps the
 * address tried (only platform staff read the platform's log) and why it
 * failed, never the password. The caller was always told the same 401.
 */
import { z } from 'zod'
import { defineEvent } from '../registry.ts'
import { ACTION_NAME } from '../rbac/permissions.ts'

const id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)
const email = z.string().min(1).max(254)
/** An IPv4 or IPv6 address as the request saw it (at most 64 characters, like `metadata.ip`). */
const ip = z.string().min(1).max(64)
/** The filters a search or export ran with, as the caller gave them (no secret is a filter). */
const filters = z.record(z.string().max(64), z.union([z.string().max(1000), z.number(), z.boolean(), z.null()]))
  .refine((value) => Object.keys(value).length <= 32, 'at most 32 filters')

export const SIGN_IN_FAILURES = ['invalid_credentials', 'disabled'] as const

export const signedIn = defineEvent({
  type: 'identity.session.signed_in',
  schema: z.object({ userId: id, tokenId: id, method: z.enum(['password']) }).strict()
})

export const signInFailed = defineEvent({
  type: 'identity.session.sign_in_failed',
  schema: z.object({
    /** Normalized. */
    email,
    /** The user holding the address, when one does. */
    userId: id.optional(),
    /** `invalid_credentials`: no such address, no password, or a wrong one; `disabled`: the right password of a disabled user. */
    reason: z.enum(SIGN_IN_FAILURES)
  }).strict()
})

export const tokenUsedFromNewIp = defineEvent({
  type: 'identity.token.used_from_new_ip',
  schema: z.object({
    tokenId: id,
    userId: id,
    ip,
    /** How many other addresses this node had seen the token used from (its creation's included). */
    previousIpCount: z.number().int().min(0)
  }).strict()
})

export const auditLogSearched = defineEvent({
  type: 'audit.log.searched',
  schema: z.object({ orgId: id, filters }).strict()
})

/** A search of the platform's own log (sign-ups, sign-ins, tokens) by a platform admin: in the platform's log. */
export const platformLogSearched = defineEvent({
  type: 'audit.platform_log.searched',
  schema: z.object({ filters }).strict()
})

export const auditLogExported = defineEvent({
  type: 'audit.log.exported',
  schema: z.object({
    orgId: id,
    format: z.enum(['csv', 'ndjson', 'json']),
    filters,
    /** Rows written, when known before the event is appended (an export is traced when it starts). */
    rows: z.number().int().min(0).optional()
  }).strict()
})

export const sensitiveRead = defineEvent({
  type: 'audit.record.sensitive_read',
  schema: z.object({
    orgId: id,
    /** The catalogue action that allowed the read, `<resource>:<verb>`. */
    action: z.string().regex(ACTION_NAME),
    /** What was read, as grants name it: `<type>` or `<type>/<id>`. */
    resource: z.string().regex(/^[a-z][a-z0-9_]{0,63}(\/[A-Za-z0-9_.:-]{1,200})?$/)
  }).strict()
})

/**
 * Refused attempts at a sensitive action (the catalogue's sensitive and
 * owner-only ones) and every refused escalation, coalesced per organization,
 * actor and action (src/application/audit/denials.ts): the first refusal of
 * a window is one event with count 1, the rest of the window one more event
 * with their count.
 */
export const accessDenied = defineEvent({
  type: 'authz.access.denied',
  schema: z.object({
    orgId: id,
    /** The catalogue action refused, `<resource>:<verb>`. */
    action: z.string().regex(ACTION_NAME),
    /** What it was refused on, as grants name it: `<type>` or `<type>/<id>`. */
    resource: z.string().regex(/^[a-z][a-z0-9_]{0,63}(\/[A-Za-z0-9_.:-]{1,200})?$/),
    /** `forbidden`: the caller's roles do not allow the action; `escalation`: granting more than the caller holds. */
    reason: z.enum(['forbidden', 'escalation']),
    /** Refusals this event stands for, from firstAt to lastAt. */
    count: z.number().int().positive(),
    firstAt: z.iso.datetime(),
    lastAt: z.iso.datetime()
  }).strict()
})

export const auditEvents = [
  signedIn, signInFailed, tokenUsedFromNewIp, auditLogSearched, platformLogSearched, auditLogExported, sensitiveRead, accessDenied
]

type DataOf<D> = D extends { type: infer T, schema: infer S extends z.ZodType } ? { type: T, data: z.infer<S> } : never
/** An audit-only event as the application appends it. */
export type AuditOnlyEvent = DataOf<typeof signedIn | typeof signInFailed | typeof tokenUsedFromNewIp | typeof auditLogSearched
  | typeof platformLogSearched | typeof auditLogExported | typeof sensitiveRead | typeof accessDenied>
