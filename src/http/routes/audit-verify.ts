/**
 * Verifies an organization's audit log in the server (audit:export): the
 * chain recomputed from the event log and compared row by row and digest by
 * digest, as `ledgerline audit verify` does, but counted in this server's
 * metrics, so `ledgerline_audit_verify_failures_total` (and its alert) sees
 * the result. A scheduler, the preflight or a customer's own check calls it.
 *
 * It replays the whole log, so it runs one at a time per server: a second
 * request meanwhile answers 429 `audit.verify_busy` with `Retry-After`.
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { verifyAuditLog } from '../../application/audit/verify.ts'
import { domainError } from '../../domain/errors.ts'
import type { Runtime } from '../../runtime.ts'
import { BEARER, Id, problems } from '../schemas.ts'

class VerifyBusy extends domainError('audit.verify_busy', 429, 'an audit verification is already running on this server; retry shortly') {}

const Report = z.object({
  orgId: z.string().nullable(),
  ok: z.boolean(),
  through: z.string().describe('the log position verified through'),
  eventsRead: z.number().int(),
  rowsChecked: z.number().int(),
  firstStoredSeq: z.number().int().nullable(),
  digestsChecked: z.number().int(),
  keyId: z.string(),
  mismatch: z.object({
    kind: z.enum(['row', 'digest']), seq: z.number().int(), day: z.string().optional(), eventId: z.string().optional(),
    column: z.string(), expected: z.unknown(), found: z.unknown()
  }).nullable().describe('the first difference in seq order, null when the log verifies')
})

export async function auditVerifyRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  let running = false
  app.withTypeProvider<ZodTypeProvider>().post('/v1/orgs/:orgId/audit-events/verify', {
    schema: {
      tags: ['audit'],
      summary: 'Recomputes the audit log from the event log and compares every row and signed digest; names the first mismatch',
      security: BEARER, 'x-permission': 'audit:export', params: z.object({ orgId: Id }),
      response: { 200: Report, ...problems }
    }
  }, async (request, reply) => {
    const { orgId } = request.params
    if (running) {
      void reply.header('retry-after', '30')
      throw new VerifyBusy()
    }
    running = true
    try {
      return await verifyAuditLog(runtime, orgId)
    } finally {
      running = false
    }
  })
}
