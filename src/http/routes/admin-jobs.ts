/**
 * The jobs engine, for platform admins: `GET /v1/admin/jobs` lists jobs of
 * every organization, and `GET /v1/admin/jobs/:jobId` reads one with its
 * attempts and history. Anyone who is not a platform admin gets 403, like
 * the other platform administration routes (src/http/routes/users.ts), and an
 * impersonation never reaches them (src/domain/impersonation/blocked.ts).
 * Retries, cancels and replays are in admin-jobs-actions.ts, registered here.
 *
 * Decisions:
 * - Order: newest first, by the time a job was scheduled, then its id. That
 *   key never changes, so paging is exact while jobs run; `run_at` would
 *   move under the cursor at every failure and retry. Filters: state, type,
 *   organization. Page size 1 to 200 (50 by default), like the other lists.
 * - The list shows rows only (no payloads: the table holds none). One job's
 *   read includes its payload, as written when it was scheduled: payloads
 *   are small by design (ids to look up, not documents), platform admins
 *   operate every organization's jobs, and a retry cannot be judged without
 *   knowing what the job was asked to do. That read (payload and result) is
 *   recorded in the job's organization's audit log, as a sensitive read
 *   (`readJob`); the list, which holds neither, is not.
 */
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { readJob } from '../../application/jobs/operations.ts'
import { cursorCodec } from '../../domain/cursor.ts'
import { JobType } from '../../domain/jobs/events.ts'
import { JOB_STATES, jobsPage } from '../../projections/jobs/queries.ts'
import type { Runtime } from '../../runtime.ts'
import { commandMetadata } from '../plugins/auth.ts'
import { cursorParam, pageLimit, pgTimestamp } from '../query.ts'
import { BEARER, Id, problems } from '../schemas.ts'
import { adminJobActionRoutes } from './admin-jobs-actions.ts'
import { requirePlatformAdmin } from './users.ts'

/** The jobs list, newest first: the last job's scheduling time and id. */
export const jobsCursor = cursorCodec('jobs.1', z.object({ scheduledAt: pgTimestamp, jobId: Id }).strict())

const Nullable = z.string().nullable()
const Failure = z.object({ code: z.string(), message: z.string() }).nullable()

const JobView = z.object({
  jobId: z.string(), jobType: z.string(), state: z.enum(JOB_STATES),
  runAt: z.string().describe('when it is due, or was last due'),
  attempt: z.number().int().describe('attempts started so far'), maxAttempts: z.number().int(),
  key: Nullable, keyMode: Nullable, orgId: Nullable.describe('from the scheduling metadata, else the payload\'s orgId'),
  timeoutSeconds: z.number().int(), lastError: Failure,
  deadReason: Nullable.describe('attempts_exhausted or do_not_retry, while dead'),
  leaseNode: Nullable, leaseUntil: Nullable, scheduledAt: z.string(), startedAt: Nullable,
  finishedAt: Nullable.describe('when it succeeded, died or was cancelled'), updatedAt: z.string()
})

const Attempt = z.object({
  attempt: z.number().int(), node: z.string(), startedAt: z.string(), endedAt: Nullable,
  outcome: z.enum(['running', 'succeeded', 'failed', 'interrupted']).describe('interrupted: cancelled while it ran, never reported'),
  error: Failure, retryAt: Nullable.describe('after a failure, when the next attempt was due (null: none)')
})

const JobDetailView = JobView.extend({
  payload: z.record(z.string(), z.unknown()).describe('the handler\'s input, as scheduled'),
  backoff: z.unknown(),
  result: z.record(z.string(), z.unknown()).nullable().describe('the handler\'s answer kept by the last success (null: none)'),
  attempts: z.array(Attempt),
  history: z.array(z.object({
    type: z.string().describe('job.scheduled, job.retried, job.cancelled or job.dead'), at: z.string(), actor: z.string(),
    data: z.record(z.string(), z.unknown())
  }))
})

const ListQuery = z.object({
  state: z.enum(JOB_STATES).optional(),
  type: JobType.optional().describe('a job type, e.g. webhook.deliver'),
  orgId: Id.optional(),
  limit: pageLimit(200, 50),
  cursor: cursorParam.optional().describe('nextCursor of the previous page, with the same filters')
}).strict()

export async function adminJobRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get('/v1/admin/jobs', {
    schema: {
      tags: ['platform admin'],
      summary: 'Jobs of every organization, newest first (by scheduling time), filtered by state, type and organization (platform admins)',
      security: BEARER, querystring: ListQuery,
      response: { 200: z.object({ items: z.array(JobView), nextCursor: z.string().nullable() }), ...problems }
    }
  }, async (request) => {
    requirePlatformAdmin(request)
    const { state, type, orgId, limit, cursor } = request.query
    const after = cursor === undefined ? undefined : jobsCursor.decode(cursor)
    const { items, next } = await jobsPage(runtime.sql, { state, jobType: type, orgId }, { limit, after })
    return { items, nextCursor: next === undefined ? null : jobsCursor.encode(next) }
  })

  api.get('/v1/admin/jobs/:jobId', {
    schema: {
      tags: ['platform admin'],
      summary: 'One job with its payload, every attempt (node, start, end, outcome, error) and its history (platform admins)',
      security: BEARER, params: z.object({ jobId: Id }),
      response: { 200: JobDetailView, ...problems }
    }
  }, async (request) => {
    requirePlatformAdmin(request)
    return readJob({ sql: runtime.sql, services: runtime.identity }, commandMetadata(request), request.params.jobId)
  })

  await adminJobActionRoutes(app, { runtime })
}
