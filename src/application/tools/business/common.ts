/**
 * What Ledgerline's own tools share: the resource they ask `can()` about
 * (the organization, as the HTTP routes of the same capability do, with the
 * input's facts as attributes, so a condition can read them:
 * `{"ne": [{"ref": "resource.userId"}, {"ref": "principal.id"}]}`), and the
 * schemas of their answers.
 */
import { z } from 'zod'
import type { Resource } from '../../../domain/rbac/policy.ts'

export type Attribute = string | number | boolean | null | readonly string[]

/** The organization, with the call's facts; unset ones are left out (a condition on one reads it as absent). */
export function orgResource (orgId: string, attributes: Readonly<Record<string, Attribute | undefined>> = {}): Resource {
  const resource: Record<string, unknown> = { type: 'organization', id: orgId }
  for (const [key, value] of Object.entries(attributes)) if (value !== undefined) resource[key] = value
  return resource as Resource
}

/** A write's answer: where its last event landed (send it back as X-Consistent-With), null when nothing changed. */
export const WrittenOutput = z.object({ position: z.string().nullable() }).strict()

/** The same stamp on every example: examples are documentation, not data. */
export const EXAMPLE_TIME = '2026-03-02T09:30:00.000Z'
export const EXAMPLE_ORG = 'org_example'
export const EXAMPLE_USER = 'usr_example'
