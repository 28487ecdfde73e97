/**
 * Platform administration of users: disable, enable, staff flags. Only
 * platform admins; a disabled user's tokens stop working at once on this node
 * (and within the directory's subscription delay on others). Disabling the
 * last owner of an organization is refused.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { changeUser, disableUser } from '../../application/identity/commands.ts'
import { Forbidden } from '../../domain/identity/errors.ts'
import type { Runtime } from '../../runtime.ts'
import { commandMetadata, principalOf } from '../plugins/auth.ts'
import { BEARER, Id, Written, problems } from '../schemas.ts'

const UserParams = z.object({ userId: Id })

/** Platform administration: 403 for everyone else. */
export function requirePlatformAdmin (request: FastifyRequest): void {
  if (!principalOf(request).platformAdmin) throw new Forbidden('platform administrators only')
}

export async function userAdminRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.post('/v1/admin/users/:userId/disable', {
    schema: {
      tags: ['platform admin'], summary: 'Disables a user (refused for the last owner of an organization)',
      security: BEARER, params: UserParams,
      body: z.object({ reason: z.string().max(500).optional() }).strict().nullish(), response: { 200: Written, ...problems }
    }
  }, async (request) => {
    requirePlatformAdmin(request)
    return disableUser(runtime.identity, commandMetadata(request), request.params.userId, request.body?.reason)
  })

  api.post('/v1/admin/users/:userId/enable', {
    schema: {
      tags: ['platform admin'], summary: 'Enables a disabled user', security: BEARER, params: UserParams,
      response: { 200: Written, ...problems }
    }
  }, async (request) => {
    requirePlatformAdmin(request)
    return changeUser(runtime.identity, commandMetadata(request), request.params.userId, { type: 'EnableUser', data: {} })
  })

  api.put('/v1/admin/users/:userId/staff-flags', {
    schema: {
      tags: ['platform admin'], summary: 'Sets the platform staff flags', security: BEARER, params: UserParams,
      body: z.object({ platformAdmin: z.boolean(), platformSupport: z.boolean() }).strict(), response: { 200: Written, ...problems }
    }
  }, async (request) => {
    requirePlatformAdmin(request)
    return changeUser(runtime.identity, commandMetadata(request), request.params.userId, { type: 'SetStaffFlags', data: request.body })
  })
}
