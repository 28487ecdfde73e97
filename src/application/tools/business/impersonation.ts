/**
 * The organization's impersonation sessions (as GET …/impersonations),
 * newest first; the read is recorded (`audit.record.sensitive_read`), as
 * over HTTP. The pipeline has checked `impersonation:read` before the body
 * runs, so the use case's own check through the caller's roles passes; the
 * platform admin's stand-in is the HTTP route's, not a tool's.
 */
import { z } from 'zod'
import { impersonationCursor } from '../../../domain/cursor.ts'
import { listSessions } from '../../impersonation/use-cases.ts'
import { defineTool } from '../tool.ts'
import { EXAMPLE_ORG, EXAMPLE_TIME, EXAMPLE_USER, orgResource } from './common.ts'

const Nullable = z.string().nullable()
const Session = z.object({
  sessionId: z.string(), orgId: z.string(), impersonatorId: z.string(), targetUserId: z.string(), via: z.string(), reason: z.string(),
  ticket: Nullable, critical: z.boolean(), breakGlass: z.boolean(), durationMinutes: z.number().int(), status: z.string(),
  requestedAt: z.string(), approvedBy: Nullable, approvedAt: Nullable, startedAt: Nullable, expiresAt: Nullable, endedAt: Nullable,
  endedBy: Nullable, endReason: Nullable, actions: z.number().int(), blockedActions: z.number().int()
}).strict()

export const impersonationList = defineTool({
  name: 'impersonation.list',
  title: 'List impersonation sessions',
  description: 'Impersonation sessions of the organization, newest first: active, pending, ended, or all; a page at a time.',
  input: z.object({
    status: z.enum(['active', 'pending', 'ended', 'all']).default('all'),
    limit: z.number().int().min(1).max(200).default(50),
    cursor: z.string().max(512).optional()
  }).strict(),
  output: z.object({ items: z.array(Session), nextCursor: z.string().nullable() }).strict(),
  permission: { action: 'impersonation:read', resource: ({ status }, { orgId }) => orgResource(orgId, { status }) },
  // Each read is recorded as a sensitive read: not idempotent, so not retried.
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  timeoutMs: 10_000,
  retries: 0,
  approval: 'never',
  examples: [{
    input: { status: 'active' },
    output: {
      items: [{
        sessionId: 'imp_example', orgId: EXAMPLE_ORG, impersonatorId: 'usr_support', targetUserId: EXAMPLE_USER, via: 'member',
        reason: 'checking an invoice with the customer', ticket: null, critical: false, breakGlass: false, durationMinutes: 30,
        status: 'active', requestedAt: EXAMPLE_TIME, approvedBy: null, approvedAt: null, startedAt: EXAMPLE_TIME, expiresAt: EXAMPLE_TIME,
        endedAt: null, endedBy: null, endReason: null, actions: 3, blockedActions: 0
      }],
      nextCursor: null
    }
  }],
  async run ({ status, limit, cursor }, context) {
    const after = cursor === undefined ? undefined : impersonationCursor.decode(cursor)
    const caller = { ...context.caller, kind: 'person' as const, orgId: context.orgId, authorize: async () => undefined }
    const { items, next } = await listSessions(context.services, context.command(), caller,
      { status, limit, ...(after === undefined ? {} : { after }) })
    return { items, nextCursor: next === undefined ? null : impersonationCursor.encode(next) }
  }
})
