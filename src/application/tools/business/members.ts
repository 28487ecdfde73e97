/**
 * Members: list them (as GET …/members), invite an address (as POST
 * …/invitations), remove a member (as DELETE …/members/:userId) and give one
 * a role (as PUT …/members/:userId/roles/:role). Removing and assigning are
 * destructive (they change who may do what) and wait for the caller's
 * approval; the organization's aggregate still judges each against its
 * latest state (owners only for an owner, the last owner stays, nobody gives
 * what they may not do).
 */
import { z } from 'zod'
import { memberCursor } from '../../../domain/cursor.ts'
import { BUILT_IN_ROLES } from '../../../domain/identity/events.ts'
import { RoleId } from '../../../domain/rbac/events.ts'
import { Id } from '../../../domain/values.ts'
import { membersPage } from '../../../projections/identity/queries.ts'
import { assignRole, changeOrganization } from '../../identity/commands.ts'
import { createInvitation } from '../../identity/invitations.ts'
import { defineTool } from '../tool.ts'
import { EXAMPLE_TIME, EXAMPLE_USER, orgResource, WrittenOutput } from './common.ts'

const MemberOutput = z.object({
  userId: z.string(), email: z.string(), displayName: z.string(), status: z.string(), roles: z.array(z.string()), joinedAt: z.string()
}).strict()
const Role = z.union([z.enum(BUILT_IN_ROLES), RoleId]).describe('a built-in role (owner, admin, member, viewer) or a custom role id')

export const membersList = defineTool({
  name: 'members.list',
  title: 'List members',
  description: 'Members of the organization with their roles, a page at a time, ordered by user id; pass nextCursor to continue.',
  input: z.object({ limit: z.number().int().min(1).max(200).default(50), cursor: z.string().max(512).optional() }).strict(),
  output: z.object({ items: z.array(MemberOutput), nextCursor: z.string().nullable() }).strict(),
  permission: { action: 'member:read', resource: (_input, { orgId }) => orgResource(orgId) },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  timeoutMs: 5000,
  retries: 2,
  approval: 'never',
  examples: [{
    input: { limit: 1 },
    output: {
      items: [{
        userId: EXAMPLE_USER, email: 'ada@example.com', displayName: 'Ada', status: 'active', roles: ['admin'], joinedAt: EXAMPLE_TIME
      }],
      nextCursor: null
    }
  }],
  async run ({ limit, cursor }, { services, orgId }) {
    const after = cursor === undefined ? undefined : memberCursor.decode(cursor).userId
    const items = await membersPage(services.sql, orgId, limit + 1, after)
    const more = items.length > limit
    const page = more ? items.slice(0, limit) : items
    return { items: page, nextCursor: more ? memberCursor.encode({ userId: page.at(-1)!.userId }) : null }
  }
})

export const membersInvite = defineTool({
  name: 'members.invite',
  title: 'Invite someone',
  description: 'Invites an e-mail address with built-in roles (the owner role: owners only). Answers the invitation token once, for ' +
    'you to send: it is never stored, nor recorded with the call.',
  input: z.object({ email: z.email().max(254), roles: z.array(z.enum(BUILT_IN_ROLES)).min(1).max(BUILT_IN_ROLES.length) }).strict(),
  output: z.object({
    inviteId: z.string(), email: z.string(), roles: z.array(z.string()), status: z.literal('pending'), expiresAt: z.string(),
    token: z.string(), position: z.string().nullable()
  }).strict(),
  permission: { action: 'member:invite', resource: ({ email, roles }, { orgId }) => orgResource(orgId, { email, roles }) },
  // Each call makes a new invitation and token: not idempotent, so never retried.
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  timeoutMs: 10_000,
  retries: 0,
  approval: 'never',
  examples: [{
    input: { email: 'grace@example.com', roles: ['member'] },
    output: {
      inviteId: 'inv_abcdefghijklmnop', email: 'grace@example.com', roles: ['member'], status: 'pending', expiresAt: EXAMPLE_TIME,
      token: 'llinv_abcdefghijklmnop_…', position: '1042.0'
    }
  }],
  async run (input, context) {
    const created = await createInvitation(context.services, context.command(), context.orgId, input)
    return { ...created, roles: [...created.roles] }
  }
})

export const membersRemove = defineTool({
  name: 'members.remove',
  title: 'Remove a member',
  description: 'Removes a member from the organization (an owner: owners only; the last owner stays). Waits for your approval.',
  input: z.object({ userId: Id }).strict(),
  output: WrittenOutput,
  permission: { action: 'member:remove', resource: ({ userId }, { orgId }) => orgResource(orgId, { userId }) },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  timeoutMs: 10_000,
  retries: 0,
  approval: 'always',
  examples: [{ input: { userId: EXAMPLE_USER }, output: { position: '1042.0' } }],
  async run ({ userId }, context) {
    return changeOrganization(context.services, context.command(), context.orgId, { type: 'RemoveMember', data: { userId } })
  }
})

export const rolesAssign = defineTool({
  name: 'roles.assign',
  title: 'Give a member a role',
  description: 'Gives a member a built-in or custom role (the owner role: owners only; a custom role: only one whose actions you hold). ' +
    'Waits for your approval.',
  input: z.object({ userId: Id, role: Role }).strict(),
  output: WrittenOutput,
  permission: { action: 'role:assign', resource: ({ userId, role }, { orgId }) => orgResource(orgId, { userId, role }) },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  timeoutMs: 10_000,
  retries: 0,
  approval: 'always',
  examples: [{ input: { userId: EXAMPLE_USER, role: 'admin' }, output: { position: '1042.0' } }],
  async run ({ userId, role }, context) {
    return assignRole(context.services, context.command(), context.orgId, userId, role)
  }
})
