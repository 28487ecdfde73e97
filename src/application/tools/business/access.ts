/**
 * Roles and access: the roles of the organization (as GET …/roles), who
 * holds an action (as GET …/access), and why a check is decided the way it
 * is (as POST …/authz/explain). Read-only.
 */
import { z } from 'zod'
import { ACTION_NAME } from '../../../domain/rbac/permissions.ts'
import { Id } from '../../../domain/values.ts'
import { holdersOf } from '../../../projections/rbac/queries.ts'
import { explainCheck } from '../../rbac/checks.ts'
import { listRoles } from '../../rbac/role-list.ts'
import { defineTool } from '../tool.ts'
import { orgResource } from './common.ts'

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const
const Effect = z.enum(['allow', 'deny'])
const Grant = z.object({ actions: z.array(z.string()), resource: z.string(), effect: Effect, when: z.unknown().optional() }).strict()

export const rolesList = defineTool({
  name: 'roles.list',
  title: 'List roles',
  description: 'The built-in roles, then the organization\'s custom roles by name, with their grants; custom roles with their holders.',
  input: z.object({}).strict(),
  output: z.object({
    items: z.array(z.object({
      roleId: z.string(), name: z.string(), description: z.string(), builtIn: z.boolean(), grants: z.array(Grant),
      holders: z.array(z.string()).optional()
    }).strict())
  }).strict(),
  permission: { action: 'role:read', resource: (_input, { orgId }) => orgResource(orgId) },
  annotations: READ_ONLY,
  timeoutMs: 5000,
  retries: 2,
  approval: 'never',
  examples: [{
    input: {},
    output: { items: [{ roleId: 'viewer', name: 'viewer', description: 'reads', builtIn: true, grants: [
      { actions: ['org:read'], resource: '*', effect: 'allow' }] }] }
  }],
  async run (_input, { services, orgId }) {
    const roles = await listRoles(services, orgId)
    return {
      items: roles.map((role) => {
        const grants = role.grants.map(({ actions, resource, effect, when }) =>
          ({ actions: [...actions], resource, effect, ...(when === undefined ? {} : { when }) }))
        const { roleId, name, description, builtIn } = role
        if (role.builtIn) return { roleId, name, description, builtIn, grants }
        return { roleId, name, description, builtIn, grants, holders: [...role.holders] }
      })
    }
  }
})

export const accessWhoCan = defineTool({
  name: 'access.who_can',
  title: 'Who holds an action',
  description: 'Every member whose roles name a catalogue action, with the role and grant, and whether a deny or a condition limits it.',
  input: z.object({ action: z.string().regex(ACTION_NAME, '<resource>:<verb>') }).strict(),
  output: z.object({
    action: z.string(),
    holders: z.array(z.object({
      userId: z.string(), roleId: z.string(), grant: z.number().int(), pattern: z.string(), resource: z.string(), effect: Effect,
      conditional: z.boolean()
    }).strict())
  }).strict(),
  permission: { action: 'role:read', resource: ({ action }, { orgId }) => orgResource(orgId, { action }) },
  annotations: READ_ONLY,
  timeoutMs: 5000,
  retries: 2,
  approval: 'never',
  examples: [{
    input: { action: 'member:remove' },
    output: { action: 'member:remove', holders: [
      { userId: 'usr_example', roleId: 'admin', grant: 0, pattern: '*', resource: '*', effect: 'allow', conditional: false }] }
  }],
  async run ({ action }, { services, orgId }) {
    return { action, holders: await holdersOf(services.sql, orgId, action) }
  }
})

const Scalar = z.union([z.string().max(1000), z.number(), z.boolean(), z.null()])
const Attribute = z.union([Scalar, z.array(Scalar).max(100)])

export const authzExplain = defineTool({
  name: 'authz.explain',
  title: 'Explain an authorization decision',
  description: 'Decides one check with the organization\'s policy and says why: the deciding grant and its role, and the condition ' +
    'that failed. About you unless it names a member (userId).',
  input: z.object({
    userId: Id.optional(),
    action: z.string().regex(ACTION_NAME, '<resource>:<verb>'),
    resource: z.object({ type: z.string().min(1).max(64), id: z.string().max(200).optional() }).catchall(Attribute),
    context: z.object({
      ip: z.string().max(64).optional(), time: z.union([z.iso.datetime({ offset: true }), z.number().int()]).optional(),
      mfa: z.boolean().optional()
    }).strict().optional()
  }).strict(),
  output: z.object({
    allowed: z.boolean(),
    reason: z.enum(['allowed', 'denied', 'no_matching_grant']),
    deciding: z.array(z.object({ roleId: z.string(), grant: z.number().int(), effect: Effect }).strict()),
    failedConditions: z.array(z.object({ roleId: z.string(), grant: z.number().int(), effect: Effect, clause: z.string() }).strict())
  }).strict(),
  permission: {
    action: 'authz:check',
    resource: ({ userId, action }, { orgId }) => orgResource(orgId, { action, ...(userId === undefined ? {} : { userId }) })
  },
  annotations: READ_ONLY,
  timeoutMs: 5000,
  retries: 2,
  approval: 'never',
  examples: [{
    input: { action: 'member:read', resource: { type: 'organization', id: 'org_example' } },
    output: { allowed: true, reason: 'allowed', deciding: [{ roleId: 'viewer', grant: 0, effect: 'allow' }], failedConditions: [] }
  }],
  async run (input, { services, orgId, caller }) {
    const asker = { userId: caller.userId, impersonated: caller.impersonation !== undefined }
    const decision = await explainCheck(services.policies, orgId, asker, input)
    const { deciding, failedConditions } = decision
    return { ...decision, deciding: deciding.map((d) => ({ ...d })), failedConditions: failedConditions.map((f) => ({ ...f })) }
  }
})
