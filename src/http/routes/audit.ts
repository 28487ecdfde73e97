/**
 * The audit log of an organization, a page at a time (audit:read): filters
 * on action (exact, or a prefix such as `rbac.*`), actor, target,
 * impersonator, IP, trace and time; newest first unless `sort=asc`; keyset
 * cursors that stay valid while the log grows. And its export (audit:export)
 * with the same filters, as CSV, NDJSON or JSON, streamed.
 *
 * Reading the log is itself logged: a search (its first page) and an export
 * each append an audit-only event before they answer.
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { Readable } from 'node:stream'
import { recordAuditAccess } from '../../application/audit/access.ts'
import { EXPORT_CONTENT_TYPES, exportAudit, exportFileName } from '../../application/audit/export.ts'
import { AUDIT_PAGE_LIMIT, auditPage } from '../../projections/audit/queries.ts'
import type { Runtime } from '../../runtime.ts'
import { commandMetadata } from '../plugins/auth.ts'
import { BEARER, Id, problems } from '../schemas.ts'
import { authorize } from '../tenancy.ts'

const OrgParams = z.object({ orgId: Id })
const Text = z.string().min(1).max(200)
const Time = z.iso.datetime({ offset: true })
const Action = z.string().max(200)
  .regex(/^[A-Za-z0-9_:-]+(\.[A-Za-z0-9_:-]+)*(\.\*)?$/, 'an event type (org.member.added) or a prefix of them ending in .* (rbac.*)')

const Filters = z.object({
  action: Action.optional(),
  actorId: Text.optional(),
  targetType: Text.optional(),
  targetId: Text.optional(),
  impersonatorId: Text.optional(),
  ip: z.union([z.ipv4(), z.ipv6()]).optional(),
  traceId: Text.optional(),
  from: Time.optional().describe('occurred at or after (ISO time with offset)'),
  to: Time.optional().describe('occurred before (ISO time with offset)')
})
const fromBeforeTo = (query: { from?: string | undefined, to?: string | undefined }): boolean =>
  query.from === undefined || query.to === undefined || Date.parse(query.from) < Date.parse(query.to)
const AuditQuery = Filters.extend({
  sort: z.enum(['asc', 'desc']).default('desc').describe('log order, or newest first (the default)'),
  limit: z.coerce.number().int().min(1).max(AUDIT_PAGE_LIMIT.max).default(AUDIT_PAGE_LIMIT.default),
  cursor: z.string().max(200).optional().describe('nextCursor of the previous page, with the same sort')
}).strict().refine(fromBeforeTo, { message: 'from must be before to', path: ['to'] })
const ExportQuery = Filters.extend({
  format: z.enum(['csv', 'ndjson', 'json']).default('csv')
}).strict().refine(fromBeforeTo, { message: 'from must be before to', path: ['to'] })

const Nullable = z.string().nullable()
const AuditEventView = z.object({
  id: z.string(), orgId: Nullable, seq: z.number().int().describe('the row\'s number in its organization\'s log'), occurredAt: z.string(),
  action: z.string().describe('the event type'), actorType: z.string(), actorId: z.string(), actorLabel: Nullable, impersonatorId: Nullable,
  targetType: Nullable, targetId: Nullable, diff: z.unknown().describe('before/after of the fields that changed'),
  ip: Nullable, userAgent: Nullable, traceId: Nullable, requestId: Nullable,
  position: z.string().describe('the event\'s log position'), prevHash: z.string(), hash: z.string()
})

export async function auditRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get('/v1/orgs/:orgId/audit-events', {
    schema: {
      tags: ['audit'], summary: 'The organization\'s audit log, filtered, a page at a time (audit:read)', security: BEARER, 'x-permission': 'audit:read',
      params: OrgParams, querystring: AuditQuery,
      response: { 200: z.object({ items: z.array(AuditEventView), nextCursor: z.string().nullable() }), ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    await authorize(runtime, request, orgId)
    const { sort, limit, cursor, ...filters } = request.query
    const page = await auditPage(runtime.sql, orgId, filters, { sort, limit, cursor })
    // A search is logged once, at its first page; following its cursor is the same search.
    if (cursor === undefined) await recordAuditAccess(runtime.identity, commandMetadata(request, orgId), { type: 'audit.log.searched', orgId, filters })
    return page
  })

  api.get('/v1/orgs/:orgId/audit-events/export', {
    schema: {
      tags: ['audit'],
      summary: 'Exports the organization\'s audit log in log order, as CSV (cells a spreadsheet would run neutralized), NDJSON or a JSON array, streamed (audit:export)',
      security: BEARER, 'x-permission': 'audit:export', params: OrgParams, querystring: ExportQuery,
      response: { 200: z.string().describe('the rows, in the format asked for'), ...problems }
    }
  }, async (request, reply) => {
    const { orgId } = request.params
    await authorize(runtime, request, orgId)
    const { format, ...filters } = request.query
    await recordAuditAccess(runtime.identity, commandMetadata(request, orgId), { type: 'audit.log.exported', orgId, format, filters })
    reply.header('content-type', EXPORT_CONTENT_TYPES[format])
    reply.header('content-disposition', `attachment; filename="${exportFileName(orgId, format, new Date())}"`)
    reply.header('cache-control', 'no-store')
    // A stream is sent as it is: the 200 schema documents the body, it does not serialize it.
    return reply.send(Readable.from(exportAudit(runtime.sql, orgId, filters, format, undefined, runtime.metrics)) as never)
  })
}
