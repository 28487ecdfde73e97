/**
 * The audit log of an organization, a page at a time (audit:read): filters
 * on action (exact, or a prefix such as `rbac.*`), actor, target,
 * impersonator, IP, trace and time; newest first unless `sort=asc`; keyset
 * cursors that stay valid while the log grows. And its export (audit:export)
 * with the same filters, as CSV, NDJSON or JSON, streamed.
 *
 * Reading the log is itself logged: a search (its first page) and an export
 * each append an audit-only event before they answer (src/application/audit/).
 *
 * An export checks its query and reads its first rows before it sends its
 * headers, so bad input or a failing read is a problem+json answer. Should a
 * later read fail, the file must not look complete: NDJSON ends with one
 * line `{"error":{…}}`; CSV and JSON are cut: the chunked transfer ends
 * without its last chunk, and an HTTP/1.0 connection (no chunks: the body
 * runs to the close) is reset, so that client or proxy sees an error rather
 * than an end of file.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { Readable } from 'node:stream'
import { searchAuditLog } from '../../application/audit/access.ts'
import { EXPORT_CONTENT_TYPES, exportErrorLine, exportFileName, recordExport, type ExportFormat } from '../../application/audit/export.ts'
import { AUDIT_PAGE_LIMIT, type AuditPage, type AuditSort } from '../../projections/audit/queries.ts'
import type { Runtime } from '../../runtime.ts'
import { auditCursor, InvalidCursor } from '../../domain/cursor.ts'
import { commandMetadata } from '../plugins/auth.ts'
import { cursorParam, instantKey, pageLimit, pgText, pgTimestamp } from '../query.ts'
import { BEARER, Id, problems } from '../schemas.ts'

const OrgParams = z.object({ orgId: Id })
const Text = pgText(200)
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
  from: pgTimestamp.optional().describe('occurred at or after: a date (midnight UTC) or an ISO 8601 time with Z or an offset'),
  to: pgTimestamp.optional()
    .describe('occurred before: a date (midnight UTC, the start of that day: to=2026-03-02 ends with March 1) or an ISO 8601 time')
})
const fromBeforeTo = (query: { from?: string | undefined, to?: string | undefined }): boolean =>
  query.from === undefined || query.to === undefined || instantKey(query.from) < instantKey(query.to)
export const AuditQuery = Filters.extend({
  sort: z.enum(['asc', 'desc']).default('desc').describe('log order, or newest first (the default)'),
  limit: pageLimit(AUDIT_PAGE_LIMIT.max, AUDIT_PAGE_LIMIT.default),
  cursor: cursorParam.optional().describe('nextCursor of the previous page, with the same sort')
}).strict().refine(fromBeforeTo, { message: 'from must be before to', path: ['to'] })
const ExportQuery = Filters.extend({
  format: z.enum(['csv', 'ndjson', 'json']).default('csv')
}).strict().refine(fromBeforeTo, { message: 'from must be before to', path: ['to'] })

const Nullable = z.string().nullable()
export const AuditEventView = z.object({
  id: z.string(), orgId: Nullable, seq: z.number().int().describe('the row\'s number in its organization\'s log'), occurredAt: z.string(),
  action: z.string().describe('the event type'), actorType: z.string(), actorId: z.string(), actorLabel: Nullable, impersonatorId: Nullable,
  targetType: Nullable, targetId: Nullable, diff: z.unknown().describe('before/after of the fields that changed'),
  ip: Nullable, userAgent: Nullable, traceId: Nullable, requestId: Nullable,
  position: z.string().describe('the event\'s log position'), prevHash: z.string(), hash: z.string()
})

/** The seq a search's cursor continues after: 400 for a cursor that is not ours or continues the other sort. */
export function cursorAfter (cursor: string | undefined, sort: AuditSort): string | undefined {
  const key = cursor === undefined ? undefined : auditCursor.decode(cursor)
  if (key !== undefined && key.sort !== sort) throw new InvalidCursor(`the cursor continues sort=${key.sort}, not sort=${sort}`)
  return key?.seq
}

/** A page as the API answers it: its rows, and the cursor of the next page while rows follow. */
export function pageAnswer ({ items, more }: AuditPage, sort: AuditSort): { items: AuditPage['items'], nextCursor: string | null } {
  const last = items.at(-1)
  return { items, nextCursor: more && last !== undefined ? auditCursor.encode({ sort, seq: String(last.seq) }) : null }
}

export async function auditRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get('/v1/orgs/:orgId/audit-events', {
    schema: {
      tags: ['audit'], summary: 'The organization\'s audit log, filtered, a page at a time (audit:read)', security: BEARER,
      'x-permission': 'audit:read', params: OrgParams, querystring: AuditQuery,
      response: { 200: z.object({ items: z.array(AuditEventView), nextCursor: z.string().nullable() }), ...problems }
    }
  }, async (request) => {
    const { orgId } = request.params
    const { sort, limit, cursor, ...filters } = request.query
    const after = cursorAfter(cursor, sort)
    return pageAnswer(await searchAuditLog(runtime, commandMetadata(request, orgId), orgId, filters, { sort, limit, after }), sort)
  })

  api.get('/v1/orgs/:orgId/audit-events/export', {
    schema: {
      tags: ['audit'],
      summary: 'Exports the organization\'s audit log in log order, as CSV (cells a spreadsheet would run neutralized), ' +
        'NDJSON or a JSON array, streamed (audit:export)',
      security: BEARER, 'x-permission': 'audit:export', params: OrgParams, querystring: ExportQuery,
      response: { 200: z.string().describe('the rows, in the format asked for'), ...problems }
    }
  }, async (request, reply) => {
    const { orgId } = request.params
    const { format, ...filters } = request.query
    const pieces = (await recordExport(runtime, commandMetadata(request, orgId), { orgId, format, filters })).pieces()
    // The first rows are read before anything is sent: until then a failure is an ordinary problem+json answer.
    const first = await pieces.next()
    reply.header('content-type', EXPORT_CONTENT_TYPES[format])
    reply.header('content-disposition', `attachment; filename="${exportFileName(orgId, format, new Date())}"`)
    reply.header('cache-control', 'no-store')
    // A stream is sent as it is: the 200 schema documents the body, it does not serialize it.
    return reply.send(Readable.from(rest(request, format, first, pieces)) as never)
  })
}

/**
 * The export after its first piece, with its failure rule: NDJSON ends with
 * an error line (and then ends normally); CSV and JSON rethrow, and Fastify
 * destroys a response whose stream fails after its headers, so the transfer
 * is cut short (an HTTP/1.0 connection is reset first).
 */
async function * rest (
  request: FastifyRequest, format: ExportFormat, first: IteratorResult<string>, pieces: AsyncGenerator<string>
): AsyncGenerator<string> {
  try {
    if (first.done === true) return
    yield first.value
    for await (const piece of { [Symbol.asyncIterator]: () => pieces }) yield piece
  } catch (error) {
    request.log.error({ err: error }, 'audit export failed after its headers were sent')
    if (format !== 'ndjson') {
      // HTTP/1.0 has no chunked encoding, so a clean close would end the file as if it were whole: reset instead.
      if (request.raw.httpVersion === '1.0') request.raw.socket?.resetAndDestroy()
      throw error
    }
    yield exportErrorLine(request.id)
  } finally {
    // A client that went away stops the reads too.
    await pieces.return(undefined)
  }
}
