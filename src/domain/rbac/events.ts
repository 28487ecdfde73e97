/**
 * Custom roles, event-sourced in the organization's stream (`org-<orgId>`),
 * beside the members they are assigned to: "refused while assigned" and "no
 * escalation" are then decided on one state, under one expected version.
 */
import { z } from 'zod'
import { defineEvent } from '../registry.ts'
import { parseCondition, parseConditionInput, type Condition } from './conditions.ts'

export const RoleId = z.string().regex(/^role_[a-z0-9]{1,40}$/, 'a custom role id: role_ then letters and digits')
const name = z.string().trim().min(1).max(100)
const description = z.string().max(1000)
const userId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)

export const GrantSchema = z.object({
  // The shape only: whether the catalogue has the action is the command's question (`rbac.unknown_action`),
  // so a stored grant stays readable when the host's actions change.
  actions: z.array(z.string().regex(/^(\*|[a-z][a-z0-9_]{0,39}:(\*|[a-z][a-z0-9_]{0,39}))$/,
    '<resource>:<verb>, <resource>:* or *')).min(1).max(50),
  resource: z.string().regex(/^(\*|[a-z][a-z0-9_]{0,63}(\/[A-Za-z0-9_.:-]{1,200}\*?)?)$/,
    '*, a resource type, or <type>/<id> (a trailing * matches a prefix)'),
  effect: z.enum(['allow', 'deny']),
  when: z.custom<Condition>((value) => {
    try {
      parseCondition(value)
      return true
    } catch {
      return false
    }
  }, 'a valid condition').optional()
}).strict()
export type GrantData = z.infer<typeof GrantSchema>
export const Grants = z.array(GrantSchema).max(100)

/**
 * Grants as the API and the CLI take them. The condition is checked by
 * parseConditionInput, for `rbac.invalid_condition` errors that name the
 * clause (a union of sixteen operators would answer "invalid input"); the
 * OpenAPI document still shows its grammar, the `Condition` component that
 * ConditionSchema registers.
 */
export const GrantInput = GrantSchema.extend({ when: z.unknown().meta({ $ref: '#/components/schemas/Condition',
  description: 'when the grant applies; without it, always' }).optional() })
export const GrantsInput = z.array(GrantInput).max(100)

/** Validated input grants with their conditions parsed (throws `rbac.invalid_condition` naming the clause). */
export function parseGrants (input: ReadonlyArray<z.infer<typeof GrantInput>>): GrantData[] {
  return input.map(({ when, ...grant }) => (when === undefined ? grant : { ...grant, when: parseConditionInput(when) }))
}

export const roleCreated = defineEvent({ type: 'rbac.role.created', schema: z.object({ roleId: RoleId, name, description,
  grants: Grants }).strict() })
export const roleRenamed = defineEvent({ type: 'rbac.role.renamed', schema: z.object({ roleId: RoleId, name }).strict() })
export const roleDescribed = defineEvent({ type: 'rbac.role.described', schema: z.object({ roleId: RoleId, description }).strict() })
export const roleGrantsSet = defineEvent({ type: 'rbac.role.grants_set', schema: z.object({ roleId: RoleId, grants: Grants }).strict() })
export const roleDeleted = defineEvent({ type: 'rbac.role.deleted', schema: z.object({ roleId: RoleId }).strict() })
export const roleAssigned = defineEvent({ type: 'rbac.role.assigned', schema: z.object({ roleId: RoleId, userId }).strict() })
export const roleUnassigned = defineEvent({ type: 'rbac.role.unassigned', schema: z.object({ roleId: RoleId, userId }).strict() })

export const rbacEvents = [roleCreated, roleRenamed, roleDescribed, roleGrantsSet, roleDeleted, roleAssigned, roleUnassigned]

type DataOf<D> = D extends { type: infer T, schema: infer S extends z.ZodType } ? { type: T, data: z.infer<S> } : never
export type RbacEvent = DataOf<
  typeof roleCreated | typeof roleRenamed | typeof roleDescribed | typeof roleGrantsSet | typeof roleDeleted | typeof roleAssigned |
  typeof roleUnassigned
>
