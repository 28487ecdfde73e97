/** The permission catalogue and the built-in roles made of it (read-only: built-in roles cannot be edited). */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { BUILT_IN_ROLE_GRANTS, CATALOGUE } from '../../domain/rbac/permissions.ts'
import { BEARER, problems } from '../schemas.ts'

const Catalogue = z.object({
  actions: z.array(z.object({ action: z.string(), description: z.string(), sensitive: z.boolean(), ownerOnly: z.boolean() })),
  builtInRoles: z.array(z.object({ roleId: z.string(), actions: z.array(z.string()) }))
})

const body = {
  actions: CATALOGUE.map((definition) => ({ ...definition })),
  builtInRoles: Object.entries(BUILT_IN_ROLE_GRANTS).map(([roleId, actions]) => ({ roleId, actions: [...actions] }))
}

export async function permissionRoutes (app: FastifyInstance): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get('/v1/permissions', {
    schema: { tags: ['authorization'], summary: 'Every action the API authorizes, and the built-in roles', security: BEARER, response: { 200: Catalogue, ...problems } }
  }, async () => body)
}
