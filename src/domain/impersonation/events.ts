/**
 * Impersonation sessions (`impersonation-<sessionId>`): a member of staff or
 * of the organization acts as one of its members, for a reason, for at most
 * an hour, every step traced.
 *
 * Glossary:
 * - impersonator: who acts; target: whose identity they act with;
 * - via `support`: platform support staff, in an organization that has not
 *   turned support access off; via `member`: a holder of
 *   `impersonation:start` in the organization, only for its members;
 * - critical target: an owner, or a member whose roles give owner-only or
 *   role-administration powers; impersonating one is break-glass: a ticket,
 *   a second approver, at most 15 minutes.
 *
 * A request that a guard refuses is recorded too (`denied` as the session's
 * only event), so attempts are as visible in the audit log as sessions.
 *
 * Reasons: what a person says is `reason` everywhere a person says it (the
 * request, the HTTP bodies of deny and revoke, the CLI's `--reason`). In the
 * events that end a session, `reason` is the stable code of the end (one of
 * DENIAL_REASONS or REVOCATION_REASONS) and the person's words are `note`;
 * a refused request keeps its requester's words as `requestReason`.
 */
import { z } from 'zod'
import { defineEvent } from '../registry.ts'

const id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)
const via = z.enum(['support', 'member'])
export type ImpersonationVia = z.infer<typeof via>

/** Why a request was refused, or a pending one ended unapproved. Stable codes: metrics and the audit log group by them. */
export const DENIAL_REASONS = [
  'self', 'target_not_member', 'target_disabled', 'target_is_staff', 'already_impersonating', 'impersonator_busy',
  'support_access_disabled', 'break_glass_required', 'rejected_by_approver'
] as const
export type DenialReason = typeof DENIAL_REASONS[number]

/** How an impersonation ended before it expired. */
export const REVOCATION_REASONS = [
  'revoked', 'impersonator_lost_permission', 'target_unavailable', 'target_became_critical', 'support_access_disabled'
] as const

export const Reason = z.string().trim().min(10, 'say why, in at least 10 characters').max(500)
export const Ticket = z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9._:#/-]{1,99}$/, 'a ticket reference such as SUP-1234')

export const sessionRequested = defineEvent({
  type: 'impersonation.session.requested',
  schema: z.object({
    sessionId: id,
    orgId: id,
    impersonatorId: id,
    targetUserId: id,
    via,
    reason: Reason,
    ticket: Ticket.optional(),
    durationMinutes: z.number().int().min(1).max(60),
    critical: z.boolean(),
    breakGlass: z.boolean(),
    requestedAt: z.iso.datetime()
  }).strict()
})

export const sessionApproved = defineEvent({
  type: 'impersonation.session.approved',
  schema: z.object({ approverId: id, via: z.enum(['member', 'platform']) }).strict()
})

export const sessionStarted = defineEvent({
  type: 'impersonation.session.started',
  schema: z.object({
    /** SHA-256 of the impersonation token, hex; the token is shown once, to the impersonator. */
    tokenHash: z.string().regex(/^[0-9a-f]{64}$/),
    startedAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
    /** Copied from the request, so a start is read (and counted) on its own. */
    via,
    critical: z.boolean(),
    breakGlass: z.boolean()
  }).strict()
})

export const actionRecorded = defineEvent({
  type: 'impersonation.session.action_recorded',
  schema: z.object({
    method: z.string().regex(/^[A-Z]{3,7}$/),
    /** The route pattern, e.g. `/v1/orgs/:orgId/members`: what was done, without the ids. */
    route: z.string().min(1).max(300),
    /** The catalogue action the route needs, when it declares one. */
    action: z.string().max(100).optional(),
    outcome: z.enum(['allowed', 'blocked'])
  }).strict()
})

export const sessionStopped = defineEvent({
  type: 'impersonation.session.stopped',
  schema: z.object({ stoppedBy: id }).strict()
})

export const sessionExpired = defineEvent({
  type: 'impersonation.session.expired',
  schema: z.object({ at: z.iso.datetime(), stage: z.enum(['pending', 'active']) }).strict()
})

export const sessionRevoked = defineEvent({
  type: 'impersonation.session.revoked',
  schema: z.object({
    /** A user, or `system` when a re-check ended it. */
    revokedBy: z.string().min(1).max(200),
    reason: z.enum(REVOCATION_REASONS),
    note: z.string().trim().max(500).optional()
  }).strict()
})

/**
 * v2 keeps the requester's own words when a guard refuses the request
 * (`requestReason`, `ticket`): v1 kept only the refusal's code. Every v1
 * event is a valid v2 event; the version tells an older reader that a
 * field it does not know may be there.
 */
export const sessionDenied = defineEvent({
  type: 'impersonation.session.denied',
  version: 2,
  upcasters: { 1: (data) => data },
  schema: z.object({
    /** The refusal's stable code. */
    reason: z.enum(DENIAL_REASONS),
    /** The request's facts when the request itself was refused (no `requested` before it). */
    orgId: id.optional(),
    impersonatorId: id.optional(),
    targetUserId: id.optional(),
    via: via.optional(),
    /** Why the requester asked, in their words (v2; a request refused by a guard). */
    requestReason: Reason.optional(),
    ticket: Ticket.optional(),
    /** The approver who rejected a pending request, and their words. */
    deniedBy: id.optional(),
    note: z.string().trim().max(500).optional()
  }).strict()
})

/**
 * The impersonator's reservation (`impersonator-<userId>`): a request that
 * would open a session first appends this with the version it read, so of
 * two racing requests (on any nodes) one holds it and the other is refused.
 * It names the session holding it; nothing releases it: the next request
 * judges that session's standing (src/domain/impersonation/reservation.ts).
 */
export const impersonatorReserved = defineEvent({
  type: 'impersonation.impersonator.reserved',
  schema: z.object({ sessionId: id, orgId: id, reservedAt: z.iso.datetime() }).strict()
})

export const impersonationEvents = [
  sessionRequested, sessionApproved, sessionStarted, actionRecorded, sessionStopped, sessionExpired, sessionRevoked, sessionDenied,
  impersonatorReserved
]

type DataOf<D> = D extends { type: infer T, schema: infer S extends z.ZodType } ? { type: T, data: z.infer<S> } : never
export type ImpersonationEvent = DataOf<typeof sessionRequested | typeof sessionApproved | typeof sessionStarted | typeof actionRecorded |
  typeof sessionStopped | typeof sessionExpired | typeof sessionRevoked | typeof sessionDenied>
export type ReservationEvent = DataOf<typeof impersonatorReserved>
