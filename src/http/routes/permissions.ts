/**
 * The permission catalogue, the host application's actions included, and the
 * built-in roles made of it (read-only: built-in roles cannot be edited).
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Runtime } from '../../runtime.ts'
import { BEARER, problems } from '../schemas.ts'

const CatalogueBody = z.object({
  actions: z.array(z.object({
    action: z.string(), description: z.string(), sensitive: z.boolean(), ownerOnly: z.boolean(),
    source: z.enum(['ledgerline', 'host']).describe('Ledgerline\'s own action, or one the host application declared in PERMISSIONS_FILE')
  })),
  builtInRoles: z.array(z.object({ roleId: z.string(), actions: z.array(z.string()) }))
})

export async function permissionRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  // The runtime's catalogue never changes: the answer is built once, with the app.
  const { catalogue } = runtime
  const body = {
    actions: catalogue.actions.map((definition) => ({ ...definition })),
    builtInRoles: Object.entries(catalogue.builtInRoleGrants).map(([roleId, actions]) => ({ roleId, actions: [...actions] }))
  }
  app.withTypeProvider<ZodTypeProvider>().get('/v1/permissions', {
    schema: { tags: ['authorization'], summary: 'Every action the API authorizes, and the built-in roles', security: BEARER,
      response: { 200: CatalogueBody, ...problems } }
  }, async () => body)
}
