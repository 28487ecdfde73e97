/**
 * What a platform admin does to jobs over HTTP: `POST /v1/admin/jobs/:jobId/retry`,
 * `POST /v1/admin/jobs/:jobId/cancel` and `POST /v1/admin/jobs/replay`. Each
 * calls the operation the CLI's `ledgerline jobs retry|cancel|replay` calls
 * (src/application/jobs/operations.ts), so both say yes and no alike: the
 * job's decider decides, and its refusals are the domain's errors
 * (`job.not_found` 404, `job.not_retryable` and `job.closed` 409). Anyone
 * who is not a platform admin gets 403, and an impersonation never gets
 * here, as for the admin jobs reads (src/http/routes/admin-jobs.ts).
 *
 * The events name the admin as their actor, with the request's address,
 * user agent and trace: they are in the platform's audit log, as the CLI's
 * are. An `Idempotency-Key` makes a repeated request answer the first
 * response (the plugin does it for every POST).
 *
 * Decisions:
 * - A replay answers within its request: it handles at most `limit` jobs
 *   (1 to 500, 100 by default), oldest death first, and answers a
 *   `nextCursor` while the window holds more; the caller posts the same body
 *   with the cursor for the next page. A replay of thousands is several
 *   short requests, never one that outlives a proxy's timeout, and no job
 *   runs the replay behind the caller's back. The first page fixes the
 *   window's end (`to`, or the moment it began if earlier), and the cursor
 *   carries it, so a job retried by one page that dies again is not met by
 *   the next. A cursor is bound to its window (type, from, to, dry run): with
 *   another body it is 400 `http.invalid_cursor`.
 * - A dry run decides the same commands and writes nothing, page by page.
 */
import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { cancelJob, replayPage, retryJob, type JobOperationsDeps } from '../../application/jobs/operations.ts'
import { cursorCodec, InvalidCursor } from '../../domain/cursor.ts'
import { JobType } from '../../domain/jobs/events.ts'
import { JOB_STATES } from '../../projections/jobs/queries.ts'
import type { Runtime } from '../../runtime.ts'
import { commandMetadata } from '../plugins/auth.ts'
import { cursorParam, instantKey, pgTimestamp } from '../query.ts'
import { BEARER, Id, Position, problems } from '../schemas.ts'
import { requirePlatformAdmin } from './users.ts'

/** The most jobs one replay request handles. */
export const MAX_REPLAY_PAGE = 500
const DEFAULT_REPLAY_PAGE = 100

/** Where a replay continues: its window's digest, the window's end as the first page took it, and the last job met. */
export const replayCursor = cursorCodec('jobs.replay.1', z.object({
  window: z.string().regex(/^[A-Za-z0-9_-]{16}$/), to: pgTimestamp, finishedAt: pgTimestamp, jobId: Id
}).strict())

const JobParams = z.object({ jobId: Id })
const DryRun = z.boolean().optional().describe('decide, answer what would change, write nothing')

const JobChangeView = z.object({
  jobId: z.string(), dryRun: z.boolean(),
  changed: z.boolean().describe('false when nothing changed (a cancelled job cancelled again)'),
  state: z.string().describe(`the job's state after the command (or after it would have run): ${JOB_STATES.join(', ')}`),
  runAt: z.string().nullable().describe('when it is due, while it waits'),
  position: Position
})

const ReplayBody = z.object({
  type: JobType.describe('the job type, e.g. webhook.deliver'),
  from: pgTimestamp.describe('retry jobs that died at or after this instant'),
  to: pgTimestamp.describe('and before this one (and before the replay began)'),
  dryRun: DryRun,
  limit: z.number().int().min(1).max(MAX_REPLAY_PAGE).optional()
    .describe(`jobs handled by this request, 1 to ${MAX_REPLAY_PAGE} (${DEFAULT_REPLAY_PAGE} when not given)`),
  cursor: cursorParam.optional().describe('nextCursor of the previous page, with the same type, from, to and dryRun')
}).strict().refine((body) => instantKey(body.from) < instantKey(body.to), { message: 'from must be before to', path: ['to'] })

const ReplayedView = z.object({
  jobId: z.string(), diedAt: z.string(), attempts: z.number().int(),
  lastError: z.object({ code: z.string(), message: z.string() }).nullable(),
  outcome: z.enum(['retried', 'would_retry', 'skipped']).describe('skipped: no longer dead on its stream (retried meanwhile)'),
  position: Position
})

const ReplayView = z.object({
  jobType: z.string(), from: z.string(), to: z.string().describe('the window\'s end as the replay took it'), dryRun: z.boolean(),
  jobs: z.array(ReplayedView), retried: z.number().int(), wouldRetry: z.number().int(), skipped: z.number().int(),
  nextCursor: z.string().nullable().describe('post the same body with this cursor for the next page; null: the window is done')
})

/** A replay's window, as a cursor remembers it: a cursor of another window is refused. */
function windowDigest (body: { type: string, from: string, to: string, dryRun: boolean }): string {
  return createHash('sha256').update(JSON.stringify([body.type, body.from, body.to, body.dryRun])).digest('base64url').slice(0, 16)
}

export async function adminJobActionRoutes (app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  const api = app.withTypeProvider<ZodTypeProvider>()
  const deps: JobOperationsDeps = { sql: runtime.sql, services: runtime.identity }

  api.post('/v1/admin/jobs/:jobId/retry', {
    schema: {
      tags: ['platform admin'],
      summary: 'Runs a dead or cancelled job again, or a failed one now rather than at its next retry (platform admins)',
      security: BEARER, params: JobParams, body: z.object({ dryRun: DryRun }).strict().nullish(),
      response: { 200: JobChangeView, ...problems }
    }
  }, async (request) => {
    requirePlatformAdmin(request)
    return retryJob(deps, commandMetadata(request), request.params.jobId, { dryRun: request.body?.dryRun === true })
  })

  api.post('/v1/admin/jobs/:jobId/cancel', {
    schema: {
      tags: ['platform admin'],
      summary: 'Cancels a waiting or running job (a running one is aborted at its next heartbeat) (platform admins)',
      security: BEARER, params: JobParams,
      body: z.object({
        reason: z.string().trim().max(500).optional().describe('why, in your words; kept on the job\'s event'), dryRun: DryRun
      }).strict().nullish(),
      response: { 200: JobChangeView, ...problems }
    }
  }, async (request) => {
    requirePlatformAdmin(request)
    const { reason, dryRun } = request.body ?? {}
    return cancelJob(deps, commandMetadata(request), request.params.jobId, { note: reason, dryRun: dryRun === true })
  })

  api.post('/v1/admin/jobs/replay', {
    schema: {
      tags: ['platform admin'],
      summary: `Retries the dead jobs of a type that died within [from, to), at most ${MAX_REPLAY_PAGE} a request (platform admins)`,
      security: BEARER, body: ReplayBody, response: { 200: ReplayView, ...problems }
    }
  }, async (request) => {
    requirePlatformAdmin(request)
    const { type, from, to, cursor } = request.body
    const dryRun = request.body.dryRun === true
    const window = windowDigest({ type, from, to, dryRun })
    const resumed = cursor === undefined ? undefined : replayCursor.decode(cursor)
    if (resumed !== undefined && (resumed.window !== window || instantKey(resumed.to) > instantKey(to))) throw new InvalidCursor()
    const after = resumed === undefined ? undefined : { finishedAt: resumed.finishedAt, jobId: resumed.jobId }
    const page = await replayPage(deps, commandMetadata(request), { jobType: type, from, to: resumed?.to ?? to },
      { dryRun, limit: request.body.limit ?? DEFAULT_REPLAY_PAGE, after })
    const count = (outcome: string): number => page.jobs.filter((job) => job.outcome === outcome).length
    return {
      jobType: type, from, to: page.to, dryRun, jobs: page.jobs,
      retried: count('retried'), wouldRetry: count('would_retry'), skipped: count('skipped'),
      nextCursor: page.next === undefined ? null : replayCursor.encode({ window, to: page.to, ...page.next })
    }
  })
}
