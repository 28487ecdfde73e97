/**
 * The audit log (as GET …/audit-events): filtered, a page at a time; the
 * search is recorded (`audit.log.searched`) at its first page, as over HTTP.
 */
import { z } from 'zod'
import { auditCursor, InvalidCursor } from '../../../domain/cursor.ts'
import { pgTimestamp } from '../../../domain/values.ts'
import { AUDIT_PAGE_LIMIT } from '../../../projections/audit/queries.ts'
import { searchAuditLog } from '../../audit/access.ts'
import { defineTool } from '../tool.ts'
import { EXAMPLE_ORG, EXAMPLE_TIME, EXAMPLE_USER, orgResource } from './common.ts'

const Text = z.string().min(1).max(200)
const Nullable = z.string().nullable()
const Row = z.object({
  id: z.string(), orgId: Nullable, seq: z.number().int(), occurredAt: z.string(), action: z.string(), actorType: z.string(),
  actorId: z.string(), actorLabel: Nullable, impersonatorId: Nullable, targetType: Nullable, targetId: Nullable, diff: z.unknown(),
  ip: Nullable, userAgent: Nullable, traceId: Nullable, requestId: Nullable, position: z.string(), prevHash: z.string(), hash: z.string()
}).strict()

const Input = z.object({
  action: z.string().max(200).regex(/^[A-Za-z0-9_:-]+(\.[A-Za-z0-9_:-]+)*(\.\*)?$/, 'an event type, or a prefix of them ending in .*')
    .optional(),
  actorId: Text.optional(),
  targetType: Text.optional(),
  targetId: Text.optional(),
  impersonatorId: Text.optional(),
  from: pgTimestamp.optional().describe('occurred at or after: a date (midnight UTC) or an ISO 8601 time'),
  to: pgTimestamp.optional().describe('occurred before'),
  sort: z.enum(['asc', 'desc']).default('desc'),
  limit: z.number().int().min(1).max(AUDIT_PAGE_LIMIT.max).default(AUDIT_PAGE_LIMIT.default),
  cursor: z.string().max(512).optional().describe('nextCursor of the previous page, with the same sort')
}).strict().refine((query) => query.from === undefined || query.to === undefined || query.from < query.to,
  { message: 'from must be before to', path: ['to'] })

export const auditSearch = defineTool({
  name: 'audit.search',
  title: 'Search the audit log',
  description: 'The organization\'s audit log, newest first unless sort is asc, filtered by action (or a prefix like rbac.*), actor, ' +
    'target, impersonator and time; a page at a time. The search itself is recorded in the log.',
  input: Input,
  output: z.object({ items: z.array(Row), nextCursor: z.string().nullable() }).strict(),
  permission: {
    action: 'audit:read', resource: ({ action, actorId }, { orgId }) => orgResource(orgId, { action, actorId })
  },
  // It records the search (an audit row), which a second call repeats: not idempotent, so not retried.
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  timeoutMs: 10_000,
  retries: 0,
  approval: 'never',
  examples: [{
    input: { action: 'rbac.*', limit: 1 },
    output: {
      items: [{
        id: '00000000-0000-5000-8000-000000000000', orgId: EXAMPLE_ORG, seq: 7, occurredAt: EXAMPLE_TIME, action: 'rbac.role.created',
        actorType: 'user', actorId: EXAMPLE_USER, actorLabel: 'ada@example.com', impersonatorId: null, targetType: 'role',
        targetId: 'role_abc', diff: { name: { after: 'Billing' } }, ip: null, userAgent: null, traceId: null, requestId: null,
        position: '1042.0', prevHash: 'a'.repeat(64), hash: 'b'.repeat(64)
      }],
      nextCursor: null
    }
  }],
  async run ({ sort, limit, cursor, ...filters }, context) {
    const key = cursor === undefined ? undefined : auditCursor.decode(cursor)
    if (key !== undefined && key.sort !== sort) throw new InvalidCursor(`the cursor continues sort=${key.sort}, not sort=${sort}`)
    const page = await searchAuditLog(context.services, context.command(), context.orgId, filters, { sort, limit, after: key?.seq })
    const last = page.items.at(-1)
    return { items: page.items, nextCursor: page.more && last !== undefined ? auditCursor.encode({ sort, seq: String(last.seq) }) : null }
  }
})
