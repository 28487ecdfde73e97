/**
 * Audit retention, explicit: how long an organization's audit rows are kept.
 *
 * | plan       | default | an organization may set (days) |
 * |------------|---------|--------------------------------|
 * | free       | 30      | 7 to 30                        |
 * | pro        | 365     | 7 to 365                       |
 * | enterprise | 365     | 7 to 2,555 (7 years)           |
 *
 * The setting is an event of the organization (`org.organization.audit_retention_set`,
 * null going back to the plan's default). A plan that shrinks caps it: the
 * retention in force is the smaller of the setting and the plan's maximum.
 * The platform's own log (events outside any organization) keeps 365 days.
 *
 * Rows go by purge events (`audit.log.purged` in the `audit-<org>` stream):
 * the purger appends one naming the last sequence number it removes and that
 * row's hash, and the audit projection deletes through it. A rebuild replays
 * the same purges, so it applies the same retention; the purge is itself a
 * row of the log it purges; and the hash it names anchors the chain that
 * remains.
 */
import { z } from 'zod'
import { domainError } from '../errors.ts'
import type { Plan } from '../identity/events.ts'
import { defineEvent } from '../registry.ts'

export const RETENTION_DAYS: Readonly<Record<Plan, { readonly default: number, readonly max: number }>> = Object.freeze({
  free: { default: 30, max: 30 },
  pro: { default: 365, max: 365 },
  enterprise: { default: 365, max: 7 * 365 }
})
export const MIN_RETENTION_DAYS = 7
export const PLATFORM_RETENTION_DAYS = 365

export class RetentionOutOfRange extends domainError('audit.retention_out_of_range', 400,
  'the retention must be within what the plan allows') {}

/** The retention in force: the organization's setting capped by its plan, or the plan's default. */
export function retentionDays (plan: Plan, setting: number | null | undefined): number {
  const limits = RETENTION_DAYS[plan]
  return setting === null || setting === undefined ? limits.default : Math.min(setting, limits.max)
}

/** What is in force and what the plan allows, as the API and the CLI show it. */
export function retentionView (
  plan: Plan, setting: number | null
): { days: number, setting: number | null, plan: Plan, default: number, min: number, max: number } {
  const limits = RETENTION_DAYS[plan]
  return { days: retentionDays(plan, setting), setting, plan, default: limits.default, min: MIN_RETENTION_DAYS, max: limits.max }
}

/** Refuses a setting the plan does not allow (null: back to the default, always allowed). */
export function requireRetentionAllowed (plan: Plan, days: number | null): void {
  if (days === null) return
  const { max } = RETENTION_DAYS[plan]
  if (!Number.isInteger(days) || days < MIN_RETENTION_DAYS || days > max) {
    throw new RetentionOutOfRange(undefined, { days, min: MIN_RETENTION_DAYS, max, plan })
  }
}

/** The stream of an audit log's purges: `audit-<orgId>`, or `audit-platform` for the platform's log. */
export function auditStreamId (orgId: string | null): string {
  return `audit-${orgId ?? 'platform'}`
}

export const auditPurged = defineEvent({
  type: 'audit.log.purged',
  schema: z.object({
    orgId: z.string().min(1).max(200).nullable(),
    /** Rows with this sequence number and below are gone. */
    throughSeq: z.number().int().positive(),
    /** The hash of the last row removed: the prev_hash the first row kept must carry. */
    throughHash: z.string().regex(/^[0-9a-f]{64}$/),
    /** The cutoff: every row removed occurred before it. */
    before: z.iso.datetime({ offset: true }),
    retentionDays: z.number().int().positive(),
    rows: z.number().int().nonnegative()
  }).strict()
})

export const retentionEvents = [auditPurged]
