/**
 * What operators do to jobs (the CLI's `ledgerline jobs`, the admin API's
 * `/v1/admin/jobs` routes): inspect one, retry it, cancel it, and replay the
 * dead jobs of a type within a time window. Each change is one command on the
 * job's decider (src/domain/jobs/job.ts), which says what is allowed:
 *
 * - retry (`job.retried`): a dead or cancelled job, or one that failed and
 *   waits for its backoff (it becomes due now); a job that is running, has
 *   succeeded, or waits without having failed is refused
 *   (`job.not_retryable`);
 * - cancel (`job.cancelled`): a waiting or running job (a running one's
 *   handler is aborted at its next heartbeat, which finds the job cancelled);
 *   a cancelled one again changes nothing; one that has succeeded or is
 *   dead is refused (`job.closed`);
 * - replay: a retry of every job of the type that died at or after `from`
 *   and before `to` (and before the replay began: a job that dies again
 *   meanwhile is not retried twice by one replay), read from the `jobs`
 *   table a page at a time. Each retry is decided on the job's stream and
 *   only while the job is still dead there, so a second replay of the same
 *   window, or one racing it, retries nothing the first did, even while the
 *   table still shows the jobs dead.
 *
 * A dry run decides the same commands on the same states and writes
 * nothing: it answers what would change, or the same refusal.
 */
import { z } from 'zod'
import { readState, type Decider } from '../../domain/decider.ts'
import { uuidV5, type CommandMetadata } from '../../domain/envelope.ts'
import { InvalidInput } from '../../domain/errors.ts'
import { JobClosed, JobNotFound, JobNotRetryable } from '../../domain/jobs/errors.ts'
import { JobType, type JobEvent } from '../../domain/jobs/events.ts'
import { jobDecider, jobStreamId, type JobCommand, type JobState } from '../../domain/jobs/job.ts'
import { canonicalTimestamp } from '../../domain/timestamps.ts'
import { Id, pgTimestamp } from '../../domain/values.ts'
import type { RecordedEvent } from '../../eventstore/types.ts'
import { countJobsInWindow, jobsInWindow, jobView, type JobView, type JobWindowKey } from '../../projections/jobs/queries.ts'
import type { SqlExecutor } from '../../sql/client.ts'
import { recordSensitiveRead } from '../audit/access.ts'
import { execute, written, type CommandServices } from '../commands.ts'

export interface JobOperationsDeps {
  readonly sql: SqlExecutor
  readonly services: CommandServices
}

/** One attempt of a job, from its stream. */
export interface AttemptView {
  readonly attempt: number
  readonly node: string
  readonly startedAt: string
  /** When it reported (or its lease was found lost); null while running, or when a cancel interrupted it. */
  readonly endedAt: string | null
  /** `interrupted`: the job was cancelled while this attempt ran, and the attempt never reported. */
  readonly outcome: 'running' | 'succeeded' | 'failed' | 'interrupted'
  readonly error: { readonly code: string, readonly message: string } | null
  /** After a failure: when the next attempt was due (null: none, the job died). */
  readonly retryAt: string | null
}

/** What happened to the job besides its attempts: scheduled, retried, cancelled, dead. */
export interface JobHistoryEntry {
  readonly type: string
  readonly at: string
  /** Who: the actor of the command that wrote it. */
  readonly actor: string
  readonly data: Record<string, unknown>
}

/** One job: its row, its payload and settings from its stream, and its attempts and history. */
export interface JobDetail extends JobView {
  readonly payload: Record<string, unknown>
  readonly backoff: unknown
  /** The handler's answer kept by its last success (a JSON object), null before one or when it answered nothing. */
  readonly result: Record<string, unknown> | null
  readonly attempts: AttemptView[]
  readonly history: JobHistoryEntry[]
}

/** The answer of a retry or a cancel: the job's state after it (or after it would have run, in a dry run). */
export interface JobChange {
  readonly jobId: string
  readonly dryRun: boolean
  /** False when the command changed nothing (a cancelled job cancelled again). */
  readonly changed: boolean
  readonly state: JobState['status']
  /** When the job is due, while it waits. */
  readonly runAt: string | null
  readonly position: string | null
}

function validId (jobId: string): string {
  const parsed = Id.safeParse(jobId)
  if (!parsed.success) throw new InvalidInput([{ path: 'jobId', message: 'a job id: 1 to 64 letters, digits, _ or -' }])
  return parsed.data
}

/** The job's row and stream; JobNotFound when the projection has no row for it. */
export async function jobDetail (deps: JobOperationsDeps, jobId: string): Promise<JobDetail> {
  const row = await jobView(deps.sql, validId(jobId))
  if (row === undefined) throw new JobNotFound(`job ${jobId} not found`, { jobId })
  const events = await deps.services.store.readStream(jobStreamId(jobId))
  const scheduled = events.find((event) => event.type === 'job.scheduled')?.data as { payload?: Record<string, unknown>, backoff?: unknown }
  const succeeded = events.findLast((event) => event.type === 'job.attempt.succeeded')?.data as
    { result?: Record<string, unknown> } | undefined
  return { ...row, payload: scheduled?.payload ?? {}, backoff: scheduled?.backoff ?? null, result: succeeded?.result ?? null,
    ...historyOf(events) }
}

type Data = Record<string, unknown>
const text = (value: unknown): string => value as string

/** The attempts and the other events of a job's stream, in order; lease renewals are left out. */
function historyOf (events: readonly RecordedEvent[]): { attempts: AttemptView[], history: JobHistoryEntry[] } {
  const attempts: AttemptView[] = []
  const history: JobHistoryEntry[] = []
  const open = (): number => attempts.findIndex((a) => a.outcome === 'running')
  const end = (changes: Partial<AttemptView>): void => {
    const index = open()
    if (index !== -1) attempts[index] = { ...attempts[index]!, ...changes }
  }
  for (const event of events) {
    const data = event.data as Data
    switch (event.type) {
      case 'job.attempt.started':
        attempts.push({
          attempt: Number(data.attempt), node: text(data.node), startedAt: text(data.startedAt),
          endedAt: null, outcome: 'running', error: null, retryAt: null
        })
        break
      case 'job.attempt.succeeded':
        end({ outcome: 'succeeded', endedAt: text(data.finishedAt) })
        break
      case 'job.attempt.failed':
        end({
          outcome: 'failed', endedAt: text(data.failedAt), error: { code: text(data.code), message: text(data.message) },
          retryAt: (data.retryAt as string | null) ?? null
        })
        break
      case 'job.lease.renewed':
        break
      default: {
        if (event.type === 'job.cancelled') end({ outcome: 'interrupted' })
        const { payload: _payload, ...rest } = data
        history.push({ type: event.type, at: event.metadata.occurredAt, actor: event.metadata.actor.id, data: rest })
      }
    }
  }
  return { attempts, history }
}

/** Decides `command` on the job's stream; in a dry run, on its state as read, writing nothing. */
async function change (
  deps: JobOperationsDeps, metadata: CommandMetadata, jobId: string, command: JobCommand, dryRun: boolean,
  decider: Decider<JobCommand, JobEvent, JobState> = jobDecider
): Promise<JobChange> {
  const streamId = jobStreamId(validId(jobId))
  try {
    const { state, changed, position } = dryRun
      ? await decided(deps, decider, streamId, command, metadata)
      : await execute(deps.services, decider, streamId, command, metadata)
        .then((result) => ({ state: result.state, changed: result.position !== undefined, position: written(result.position).position }))
    return { jobId, dryRun, changed, state: state.status, runAt: state.status === 'waiting' ? state.runAt : null, position }
  } catch (error) {
    throw named(error, jobId)
  }
}

/** A dry run: the command decided on the stream's state as read, nothing appended. */
async function decided (
  deps: JobOperationsDeps, decider: Decider<JobCommand, JobEvent, JobState>, streamId: string, command: JobCommand,
  metadata: CommandMetadata
): Promise<{ state: JobState, changed: boolean, position: null }> {
  const read = await readState(deps.services.store, decider, streamId)
  const events = decider.decide(command, read.state, { now: metadata.now, actor: metadata.actor })
  return { state: events.reduce(decider.evolve, read.state), changed: events.length > 0, position: null }
}

/** The decider's refusal, naming the job and, for a retry, the state it is in. */
function named (error: unknown, jobId: string): unknown {
  if (error instanceof JobNotFound) return new JobNotFound(`job ${jobId} not found`, { jobId })
  if (error instanceof JobNotRetryable) {
    return new JobNotRetryable(`job ${jobId} is ${String(error.details.status)}: ${error.message}`, { jobId, ...error.details })
  }
  if (error instanceof JobClosed) return new JobClosed(`job ${jobId}: ${error.message}`, { jobId, ...error.details })
  return error
}

/** A manual retry (see the header for what the decider allows). */
export async function retryJob (
  deps: JobOperationsDeps, metadata: CommandMetadata, jobId: string, options: { dryRun?: boolean } = {}
): Promise<JobChange> {
  return change(deps, metadata, jobId, { type: 'RetryJob', data: { by: metadata.actor.id } }, options.dryRun === true)
}

/** Cancels a waiting or running job, with an optional note kept on the event. */
export async function cancelJob (
  deps: JobOperationsDeps, metadata: CommandMetadata, jobId: string, options: { note?: string | undefined, dryRun?: boolean } = {}
): Promise<JobChange> {
  const note = options.note?.trim().slice(0, 500)
  const data = { by: metadata.actor.id, ...(note === undefined || note === '' ? {} : { note }) }
  return change(deps, metadata, jobId, { type: 'CancelJob', data }, options.dryRun === true)
}

/** `from` is before `to`, to the fraction of a second: canonical times compared with their fractions padded. */
function before (from: string, to: string): boolean {
  const key = (time: string): string => {
    const [whole = '', fraction = ''] = time.slice(0, -1).split('.')
    return `${whole}.${fraction.padEnd(9, '0')}`
  }
  return key(from) < key(to)
}

/** What a replay takes: a job type, the state its jobs ended in (dead), and the window [from, to) they ended in. */
export const ReplayWindow = z.object({
  jobType: JobType,
  state: z.enum(['dead'], { message: 'a replay retries dead jobs: --state dead' }).default('dead'),
  from: pgTimestamp,
  to: pgTimestamp
}).strict().refine((w) => before(w.from, w.to), { message: 'from must be before to', path: ['to'] })
export type ReplayWindow = z.input<typeof ReplayWindow>

/** One job a replay met: retried, would be (dry run), or skipped because it is no longer dead on its stream. */
export interface ReplayedJob {
  readonly jobId: string
  readonly diedAt: string
  readonly attempts: number
  readonly lastError: JobView['lastError']
  readonly outcome: 'retried' | 'would_retry' | 'skipped'
  readonly position: string | null
}

/** The job's decider, deciding only while the job is dead: anything else (retried since the table said dead) is nothing to do. */
const whileDead: Decider<JobCommand, JobEvent, JobState> = {
  ...jobDecider,
  decide: (command, state, context) => (state.status === 'dead' ? jobDecider.decide(command, state, context) : [])
}

function parsedWindow (window: ReplayWindow, startedAt: Date) {
  const parsed = ReplayWindow.safeParse(window)
  if (!parsed.success) {
    throw new InvalidInput(parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })))
  }
  const { from, to, ...rest } = parsed.data
  // Only jobs that died before the replay began: one retried now that dies again is not retried twice by this replay.
  const began = canonicalTimestamp(startedAt.toISOString())!
  return { ...rest, from, to: before(to, began) ? to : began }
}

/** How many jobs a replay of the window would meet now (for a progress bar). */
export async function countReplay (deps: JobOperationsDeps, window: ReplayWindow, startedAt: Date): Promise<number> {
  return countJobsInWindow(deps.sql, parsedWindow(window, startedAt))
}

/**
 * Retries the window's dead jobs, a page at a time, yielding each job met.
 * `metadata` is the replay's: each retry's command id derives from it and the job's id.
 */
export async function * replayDeadJobs (
  deps: JobOperationsDeps, metadata: CommandMetadata, window: ReplayWindow,
  options: { dryRun?: boolean, pageSize?: number, after?: JobWindowKey | undefined } = {}
): AsyncGenerator<ReplayedJob> {
  const dryRun = options.dryRun === true
  const pageSize = options.pageSize ?? 200
  const bounds = parsedWindow(window, metadata.now)
  let after: JobWindowKey | undefined = options.after
  for (;;) {
    const page = await jobsInWindow(deps.sql, bounds, { limit: pageSize, after })
    for (const row of page) {
      const retry = { ...metadata, commandId: uuidV5(`${metadata.commandId}/retry/${row.jobId}`), correlationId: metadata.commandId }
      const done = await change(deps, retry, row.jobId, { type: 'RetryJob', data: { by: metadata.actor.id } }, dryRun, whileDead)
      const outcome = !done.changed ? 'skipped' : dryRun ? 'would_retry' : 'retried'
      yield { jobId: row.jobId, diedAt: row.finishedAt!, attempts: row.attempt, lastError: row.lastError, outcome, position: done.position }
    }
    const last = page.at(-1)
    if (page.length < pageSize || last === undefined) return
    after = { finishedAt: last.finishedAt!, jobId: last.jobId }
  }
}

/** One page of a replay: the jobs met, the window's end as it was taken, and where the next page starts (undefined: none). */
export interface ReplayPage {
  /** `to`, or the start of the replay when that came first (see `parsedWindow`): a later page passes it back as its `to`. */
  readonly to: string
  readonly jobs: ReplayedJob[]
  readonly next: JobWindowKey | undefined
}

/**
 * At most `limit` jobs of a replay, after `after` (the admin API's replay, which answers within one request): the same
 * retries as `replayDeadJobs`, and whether the window holds more past the last one met.
 */
export async function replayPage (
  deps: JobOperationsDeps, metadata: CommandMetadata, window: ReplayWindow,
  page: { dryRun: boolean, limit: number, after?: JobWindowKey | undefined }
): Promise<ReplayPage> {
  const bounds = parsedWindow(window, metadata.now)
  const jobs: ReplayedJob[] = []
  for await (const job of replayDeadJobs(deps, metadata, window, { dryRun: page.dryRun, pageSize: page.limit, after: page.after })) {
    jobs.push(job)
    if (jobs.length === page.limit) break
  }
  const last = jobs.at(-1)
  const key = last === undefined || jobs.length < page.limit ? undefined : { finishedAt: last.diedAt, jobId: last.jobId }
  const more = key !== undefined && (await jobsInWindow(deps.sql, bounds, { limit: 1, after: key })).length > 0
  return { to: bounds.to, jobs, next: more ? key : undefined }
}

/** The action a recorded job read names: no catalogue action (organizations' roles never read jobs), what the read was. */
export const JOB_READ = 'job:read'

/**
 * One job, read by a person (a platform admin over the API): its payload and result may hold an organization's data, so the
 * read is recorded in that organization's audit log (`audit.record.sensitive_read`, resource `job/<jobId>`), after the job
 * is found and before it is answered, as other reads of an organization's records are: a read whose trace cannot be
 * written fails. A job of no organization is the platform's own and is not recorded.
 */
export async function readJob (deps: JobOperationsDeps, metadata: CommandMetadata, jobId: string): Promise<JobDetail> {
  const job = await jobDetail(deps, jobId)
  if (job.orgId !== null) {
    await recordSensitiveRead(deps.services, metadata, { orgId: job.orgId, action: JOB_READ, resource: `job/${job.jobId}` })
  }
  return job
}
