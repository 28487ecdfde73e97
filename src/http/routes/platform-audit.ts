/**
 * The platform's own audit log, for platform admins: what happens outside
 * any organization — sign-ups, sign-ins and failed ones, tokens, staff flags,
 * user administration. The same filters, sort, page size and cursors as an
 * organization's audit log (src/http/routes/audit.ts); anyone who is not a
 * platform admin gets 403, like the other platform administration routes,
 * and an impersonation never reaches it (src/domain/impersonation/blocked.ts).
 * A search (its first page) is itself logged, in the platform's log.
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { recordPlatformLogSearch } from '../../application/audit/access.ts'
import { auditPage } from '../../projections/audit/queries.ts'
import type { Runtime } from '../../runtime.ts'
import { commandMetadata } from '../plugins/auth.ts'
import { BEARER, problems } from '../schemas.ts'
import { AuditEventView, AuditQuery, cursorAfter, pageAnswer } from './audit.ts'
import { requirePlatformAdmin } from './users.ts'

export async function platformAuditRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get('/v1/platform/audit-events', {
    schema: {
      tags: ['platform admin'],
      summary: 'The platform\'s audit log (sign-ups, sign-ins, tokens, user administration), filtered, a page at a time (platform admins)',
      security: BEARER, querystring: AuditQuery,
      response: { 200: z.object({ items: z.array(AuditEventView), nextCursor: z.string().nullable() }), ...problems }
    }
  }, async (request) => {
    const { sort, limit, cursor, ...filters } = request.query
    const after = cursorAfter(cursor, sort)
    requirePlatformAdmin(request)
    const page = await auditPage(runtime.sql, null, filters, { sort, limit, after })
    // Logged once per search, at its first page, before the answer: a read whose trace cannot be written fails.
    if (cursor === undefined) await recordPlatformLogSearch(runtime.identity, commandMetadata(request), filters)
    return pageAnswer(page, sort)
  })
}
