/**
 * Identity and tenancy events: users, e-mail reservations, organizations with
 * their members and built-in roles, and API/session tokens. Streams:
 * `user-<userId>`, `email-<normalized email>`, `org-<orgId>`, `token-<tokenId>`.
 */
import { z } from 'zod'
import { ActorSchema } from '../envelope.ts'
import { defineEvent } from '../registry.ts'

export const BUILT_IN_ROLES = ['owner', 'admin', 'member', 'viewer'] as const
export type BuiltInRole = typeof BUILT_IN_ROLES[number]
export const PLANS = ['free', 'pro', 'enterprise'] as const
export type Plan = typeof PLANS[number]

const id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)
const email = z.email().max(254)
const name = z.string().trim().min(1).max(200)
const role = z.enum(BUILT_IN_ROLES)
const roles = z.array(role).min(1).max(BUILT_IN_ROLES.length)

export const userRegistered = defineEvent({ type: 'identity.user.registered',
  schema: z.object({ userId: id, email, displayName: name }).strict() })
export const userPasswordSet = defineEvent({ type: 'identity.user.password_set',
  schema: z.object({ passwordHash: z.string().min(20).max(500) }).strict() })
export const userDisabled = defineEvent({ type: 'identity.user.disabled',
  schema: z.object({ reason: z.string().max(500).optional() }).strict() })
export const userEnabled = defineEvent({ type: 'identity.user.enabled', schema: z.object({}).strict() })
export const userStaffFlagsSet = defineEvent({
  type: 'identity.user.staff_flags_set',
  schema: z.object({ platformAdmin: z.boolean(), platformSupport: z.boolean() }).strict()
})
export const emailReserved = defineEvent({ type: 'identity.email.reserved', schema: z.object({ email, userId: id }).strict() })

export const orgCreated = defineEvent({ type: 'org.organization.created',
  schema: z.object({ orgId: id, name, plan: z.enum(PLANS), ownerId: id }).strict() })
export const orgRenamed = defineEvent({ type: 'org.organization.renamed', schema: z.object({ name }).strict() })
export const orgPlanChanged = defineEvent({ type: 'org.organization.plan_changed', schema: z.object({ plan: z.enum(PLANS) }).strict() })
/**
 * The organization's customer at Stripe, who pays for its plan (src/application/billing/). Linked once, on first need
 * or given by an owner; another customer afterwards is refused, since the subscription lives under the first.
 */
export const orgBillingLinked = defineEvent({ type: 'org.organization.billing_linked',
  schema: z.object({ customerId: z.string().regex(/^cus_[A-Za-z0-9]{1,64}$/) }).strict() })
export const orgSettingsChanged = defineEvent({
  type: 'org.organization.settings_changed',
  schema: z.object({ settings: z.record(z.string().max(100), z.union([z.string().max(1000), z.number(), z.boolean(), z.null()])) }).strict()
})
export const orgAuditRetentionSet = defineEvent({
  type: 'org.organization.audit_retention_set',
  schema: z.object({ days: z.number().int().positive().nullable() }).strict()
})
/** Whether platform support staff may impersonate the organization's members (on by default). */
export const orgSupportAccessSet = defineEvent({
  type: 'org.organization.support_access_set',
  schema: z.object({ enabled: z.boolean() }).strict()
})
export const memberInvited = defineEvent({ type: 'org.member.invited', schema: z.object({ inviteId: id, email, roles }).strict() })
/**
 * Invitations (in the organization's stream, so accepting one and adding the
 * member are one append). The token is never in an event: only its SHA-256,
 * as for API tokens. `org.member.invited` is the earlier form, written before
 * invitations had tokens; such an invitation can never be accepted.
 */
export const invitationCreated = defineEvent({
  type: 'org.invitation.created',
  schema: z.object({
    inviteId: id,
    email,
    roles,
    /** Who invited: at acceptance, what they may still give is checked again. */
    invitedBy: ActorSchema,
    /** SHA-256 of the invitation token, hex. */
    tokenHash: z.string().regex(/^[0-9a-f]{64}$/),
    expiresAt: z.iso.datetime()
  }).strict()
})
export const invitationAccepted = defineEvent({ type: 'org.invitation.accepted', schema: z.object({ inviteId: id, userId: id }).strict() })
export const invitationRevoked = defineEvent({ type: 'org.invitation.revoked',
  schema: z.object({ inviteId: id, reason: z.string().max(500).optional() }).strict() })
/** Recorded when an expired invitation is first used (accepted or revoked), not by a timer. */
export const invitationExpired = defineEvent({ type: 'org.invitation.expired', schema: z.object({ inviteId: id }).strict() })
export const memberAdded = defineEvent({ type: 'org.member.added', schema: z.object({ userId: id, roles }).strict() })
export const memberRemoved = defineEvent({ type: 'org.member.removed', schema: z.object({ userId: id }).strict() })
export const memberRoleAssigned = defineEvent({ type: 'org.member.role_assigned', schema: z.object({ userId: id, role }).strict() })
export const memberRoleUnassigned = defineEvent({ type: 'org.member.role_unassigned', schema: z.object({ userId: id, role }).strict() })

export const tokenCreated = defineEvent({
  type: 'identity.token.created',
  schema: z.object({
    tokenId: id,
    userId: id,
    kind: z.enum(['api', 'session']),
    name: name,
    /** The first characters of the token, shown in lists; the token itself is never stored. */
    prefix: z.string().min(4).max(32),
    /** SHA-256 of the token, hex. */
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    expiresAt: z.iso.datetime().optional()
  }).strict()
})
export const tokenRevoked = defineEvent({ type: 'identity.token.revoked',
  schema: z.object({ reason: z.string().max(500).optional() }).strict() })

export const identityEvents = [
  userRegistered, userPasswordSet, userDisabled, userEnabled, userStaffFlagsSet, emailReserved,
  orgCreated, orgRenamed, orgPlanChanged, orgSettingsChanged, orgAuditRetentionSet, orgSupportAccessSet, orgBillingLinked,
  memberInvited, memberAdded, memberRemoved, memberRoleAssigned, memberRoleUnassigned,
  invitationCreated, invitationAccepted, invitationRevoked, invitationExpired,
  tokenCreated, tokenRevoked
]

type DataOf<D> = D extends { type: infer T, schema: infer S extends z.ZodType } ? { type: T, data: z.infer<S> } : never
export type UserEvent = DataOf<
  typeof userRegistered | typeof userPasswordSet | typeof userDisabled | typeof userEnabled | typeof userStaffFlagsSet
>
export type OrgEvent = DataOf<
  typeof orgCreated | typeof orgRenamed | typeof orgPlanChanged | typeof orgSettingsChanged | typeof orgAuditRetentionSet |
  typeof orgSupportAccessSet | typeof orgBillingLinked |
  typeof memberInvited | typeof memberAdded | typeof memberRemoved | typeof memberRoleAssigned | typeof memberRoleUnassigned |
  typeof invitationCreated | typeof invitationAccepted | typeof invitationRevoked | typeof invitationExpired>
