/**
 * The permission catalogue, the host application's actions included, and the
 * built-in roles made of it (read-only: built-in roles cannot be edited).
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { BUILT_IN_ROLE_GRANTS, CATALOGUE } from '../../domain/rbac/permissions.ts'
import { BEARER, problems } from '../schemas.ts'

const Catalogue = z.object({
  actions: z.array(z.object({
    action: z.string(), description: z.string(), sensitive: z.boolean(), ownerOnly: z.boolean(),
    source: z.enum(['ledgerline', 'host']).describe('Ledgerline\'s own action, or one the host application declared in PERMISSIONS_FILE')
  })),
  builtInRoles: z.array(z.object({ roleId: z.string(), actions: z.array(z.string()) }))
})

export async function permissionRoutes (app: FastifyInstance): Promise<void> {
  // Read when the app is built: the runtime has set the host's actions by then.
  const body = {
    actions: CATALOGUE.map((definition) => ({ ...definition })),
    builtInRoles: Object.entries(BUILT_IN_ROLE_GRANTS).map(([roleId, actions]) => ({ roleId, actions: [...actions] }))
  }
  app.withTypeProvider<ZodTypeProvider>().get('/v1/permissions', {
    schema: { tags: ['authorization'], summary: 'Every action the API authorizes, and the built-in roles', security: BEARER, response: { 200: Catalogue, ...problems } }
  }, async () => body)
}
