/**
 * Verifying an organization's audit log in the server (audit:export): the
 * chain recomputed from the event log and compared row by row and digest by
 * digest, as `ledgerline audit verify` does, but counted in the server's
 * metrics, so `ledgerline_audit_verify_failures_total` (and its alert) sees
 * the result. A scheduler, the preflight or a customer's own check calls it.
 *
 * It replays the whole log, so it is a job (src/application/audit/verify-job.ts):
 * the POST answers 202 with the verification's id and `Location`, and the
 * GET of that location answers its state and, once it succeeded, the
 * report. A POST while one waits for the organization answers that one.
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { readVerification, requestVerification, type VerificationServices } from '../../application/audit/verify-job.ts'
import type { Runtime } from '../../runtime.ts'
import { commandMetadata } from '../plugins/auth.ts'
import { BEARER, Id, problems } from '../schemas.ts'

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

const State = z.enum(['waiting', 'running', 'succeeded', 'dead', 'cancelled']).describe(
  'waiting (queued, or waiting to retry), running, succeeded (the report is there, ok or not), dead (every attempt failed), cancelled')

const Requested = z.object({
  jobId: Id.describe('the verification\'s id'),
  state: State,
  location: z.string().describe('where to poll it, as in the Location header')
})

const Verification = z.object({
  jobId: Id,
  orgId: Id,
  state: State,
  attempts: z.number().int().describe('attempts started so far (at most 3)'),
  scheduledAt: z.string(),
  finishedAt: z.string().nullable().describe('when it succeeded, died or was cancelled; null until then'),
  error: z.object({ code: z.string(), message: z.string() }).nullable()
    .describe('the last failed attempt\'s error (a failure to run, not a mismatch), unless it succeeded'),
  report: Report.nullable().describe('once it succeeded: the report, whose ok is false when the log does not verify')
})

export async function auditVerifyRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()
  const services: VerificationServices = { jobs: runtime.jobs, sql: runtime.sql, store: runtime.store }

  api.post('/v1/orgs/:orgId/audit-events/verify', {
    schema: {
      tags: ['audit'],
      summary: 'Starts a verification of the audit log from the event log (every row and signed digest); 202, poll the Location',
      description: 'Schedules the verification as a job and answers at once. A request while one waits for this organization ' +
        'answers that one (one pending verification per organization). Poll `GET …/audit-events/verifications/{jobId}`.',
      security: BEARER, 'x-permission': 'audit:export', params: z.object({ orgId: Id }),
      response: { 202: Requested, ...problems }
    }
  }, async (request, reply) => {
    const { orgId } = request.params
    const requested = await requestVerification(services, commandMetadata(request, orgId), orgId)
    return reply.code(202).header('location', requested.location).send(requested)
  })

  api.get('/v1/orgs/:orgId/audit-events/verifications/:jobId', {
    schema: {
      tags: ['audit'],
      summary: 'A verification of the audit log: its state, and its report once it ran (the first mismatch, or ok)',
      security: BEARER, 'x-permission': 'audit:export', params: z.object({ orgId: Id, jobId: Id }),
      response: { 200: Verification, ...problems }
    }
  }, async (request) => {
    const { orgId, jobId } = request.params
    return readVerification(services, orgId, jobId)
  })
}
