/**
 * A member's profile: who they are (the principal directory, the same view
 * of users every request authenticates against) and their roles here (the
 * organization's policy snapshot, the same roles `can()` decides with). No
 * route reads one member yet; this reads what the members list shows of one,
 * without a query of its own.
 */
import { z } from 'zod'
import { MemberNotFound } from '../../../domain/identity/errors.ts'
import { Id } from '../../../domain/values.ts'
import { defineTool } from '../tool.ts'
import { EXAMPLE_USER, orgResource } from './common.ts'

export const usersGet = defineTool({
  name: 'users.get',
  title: 'A member\'s profile',
  description: 'One member of the organization: e-mail address, display name, status, and roles here.',
  input: z.object({ userId: Id }).strict(),
  output: z.object({
    userId: z.string(), email: z.string(), displayName: z.string(), status: z.enum(['active', 'disabled']), roles: z.array(z.string())
  }).strict(),
  permission: { action: 'member:read', resource: ({ userId }, { orgId }) => orgResource(orgId, { userId }) },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  timeoutMs: 5000,
  retries: 2,
  approval: 'never',
  examples: [{
    input: { userId: EXAMPLE_USER },
    output: { userId: EXAMPLE_USER, email: 'ada@example.com', displayName: 'Ada', status: 'active', roles: ['admin'] }
  }],
  async run ({ userId }, { services, orgId }) {
    const roles = (await services.policies.snapshotOf(orgId)).rolesOf(userId)
    const user = roles.length === 0 ? undefined : await services.directory.userOf(userId)
    if (user === undefined) throw new MemberNotFound(undefined, { userId })
    return { userId, email: user.email, displayName: user.displayName, status: user.status, roles: [...roles] }
  }
})
