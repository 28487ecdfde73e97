/**
 * Scheduling a job: the payload is checked against its handler's schema, and
 * `job.scheduled` is written to a new `job-<jobId>` stream with the handler's
 * timeout, backoff and maximum of attempts (the caller may override each).
 *
 * Keys. At most one pending job per (job type, key) — "sync this customer"
 * is never queued twice. The key's reservation stream (src/domain/jobs/key.ts)
 * names its holder; the holder holds the key while it is waiting:
 * - `replace` (default): the new job takes the key and the pending holder is
 *   cancelled (`reason: replaced`). A holder that is running is left to run:
 *   the new job is queued beside it (handlers are idempotent by job id).
 * - `preserve`: when a holder is pending, nothing is scheduled; the answer
 *   names the holder (`scheduled: false`).
 * The claim on the key is appended with the holder the caller read, so of two
 * racing schedules one claims it; the other reads again. After writing its
 * job, a schedule cancels the job it took the key from (if that one is
 * pending by then: it may have claimed the key and not yet written its job
 * when it was judged), and a schedule that finds another holder after
 * writing its job (the other claimed it in between) cancels its own job as
 * replaced: one pending job per key, whatever the interleaving. Under such a
 * race `preserve` may keep the later job rather than the earlier.
 */
import { aggregate, readState } from '../../domain/decider.ts'
import { systemCommand, uuidV5, type CommandMetadata } from '../../domain/envelope.ts'
import type { BackoffPolicy } from '../../domain/jobs/backoff.ts'
import { InvalidJobPayload, JobClosed, JobKeyTaken, JobLeased, JobNotFound, UnknownJobType } from '../../domain/jobs/errors.ts'
import type { KeyMode } from '../../domain/jobs/events.ts'
import { holdsKey, jobDecider, jobStreamId } from '../../domain/jobs/job.ts'
import { jobKeyDecider, jobKeyStreamId } from '../../domain/jobs/key.ts'
import { execute, written, type CommandServices } from '../commands.ts'
import type { JobHandler, JobHandlers } from './handlers.ts'

export interface ScheduleOptions {
  /** The job's id (default: a new UUID). Scheduling the same id again changes nothing. */
  readonly jobId?: string
  /** Not before (default: now). */
  readonly runAt?: Date
  readonly key?: string
  readonly keyMode?: KeyMode
  readonly maxAttempts?: number
  readonly backoff?: BackoffPolicy
  readonly timeoutSeconds?: number
  /** Who schedules it, and for which organization (default: the system actor `jobs`). */
  readonly metadata?: CommandMetadata
}

export interface Scheduled {
  readonly jobId: string
  /** False when `preserve` found a pending job with the key: `jobId` is that job's. */
  readonly scheduled: boolean
  readonly position: string | null
}

export interface ScheduleContext {
  readonly services: CommandServices
  readonly handlers: JobHandlers
  readonly now: () => Date
}

const KEY_TRIES = 5

export async function scheduleJob (
  context: ScheduleContext, type: string, payload: unknown, options: ScheduleOptions = {}
): Promise<Scheduled> {
  return writeJob(context, type, validated(context.handlers, type, payload), options)
}

/** Writes a job whose payload its handler's schema has parsed (`validated`). */
async function writeJob (
  context: ScheduleContext, type: string, { handler, data }: Validated, options: ScheduleOptions
): Promise<Scheduled> {
  const jobId = options.jobId ?? crypto.randomUUID()
  const now = context.now()
  const metadata = options.metadata ?? { ...systemCommand('jobs', now), commandId: uuidV5(`job/${jobId}/scheduled`) }
  const job = {
    jobId,
    jobType: type,
    payload: data,
    runAt: (options.runAt ?? now).toISOString(),
    ...(options.key === undefined ? {} : { key: options.key, keyMode: options.keyMode ?? 'replace' }),
    maxAttempts: options.maxAttempts ?? handler.maxAttempts,
    backoff: options.backoff ?? handler.backoff,
    timeoutSeconds: options.timeoutSeconds ?? handler.timeoutSeconds
  }
  const write = async (): Promise<Scheduled> => {
    // A job's stream is new unless this id was scheduled before: decided unread, and read only when the append says otherwise.
    const result = await execute(context.services, jobDecider, jobStreamId(jobId), { type: 'ScheduleJob', data: job }, metadata,
      { expectNew: true })
    return { jobId, scheduled: true, ...written(result.position) }
  }
  if (options.key === undefined) return write()
  return withKey(context, { type, key: options.key, mode: options.keyMode ?? 'replace', jobId, metadata }, write)
}

/** One job of a `scheduleJobs` call. */
export interface JobToSchedule {
  readonly type: string
  readonly payload: unknown
  readonly options?: ScheduleOptions
}

/** Jobs per `scheduleJobs` call, at most. */
export const MAX_JOBS_PER_SCHEDULE = 1000

/**
 * Schedules many jobs at once: every payload is checked first, and one refused schedules none. Each job is then written
 * as `scheduleJob` writes it, all at once, so that a group-committing store (src/eventstore/group-commit.ts) writes them
 * in a few commits. Each job is its own stream: should the store fail part-way, the jobs answered are written and the
 * others are not; scheduling the same job ids again writes only what is missing. Answers in the order given.
 */
export async function scheduleJobs (context: ScheduleContext, jobs: readonly JobToSchedule[]): Promise<Scheduled[]> {
  if (jobs.length > MAX_JOBS_PER_SCHEDULE) {
    throw new RangeError(`at most ${MAX_JOBS_PER_SCHEDULE} jobs are scheduled per call; ${jobs.length} were given`)
  }
  const checked = jobs.map((job) => validated(context.handlers, job.type, job.payload))
  return Promise.all(jobs.map((job, i) => writeJob(context, job.type, checked[i]!, job.options ?? {})))
}

interface Validated { readonly handler: JobHandler, readonly data: Record<string, unknown> }

/** The type's handler and the payload as its schema parsed it: a JSON object, or a refusal. */
function validated (handlers: JobHandlers, type: string, payload: unknown): Validated {
  const handler = handlers.get(type)
  if (handler === undefined) throw new UnknownJobType(`no handler is registered for job type ${type}`, { jobType: type.slice(0, 100) })
  const parsed = handler.payload.safeParse(payload)
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))
    throw new InvalidJobPayload(undefined, { jobType: type, issues })
  }
  if (typeof parsed.data !== 'object' || parsed.data === null || Array.isArray(parsed.data)) {
    throw new InvalidJobPayload('a job payload is a JSON object', { jobType: type })
  }
  return { handler, data: parsed.data as Record<string, unknown> }
}

interface KeyedSchedule { type: string, key: string, mode: KeyMode, jobId: string, metadata: CommandMetadata }

async function withKey (context: ScheduleContext, s: KeyedSchedule, write: () => Promise<Scheduled>): Promise<Scheduled> {
  const { services } = context
  const keyStream = jobKeyStreamId(s.type, s.key)
  for (let tries = 0; ; tries++) {
    const { state } = await readState(services.store, jobKeyDecider, keyStream, services.states)
    const holder = state.holder !== null && state.holder !== s.jobId ? state.holder : null
    const holds = holder !== null && holdsKey(await aggregate(services.store, jobDecider, jobStreamId(holder)))
    if (holds && s.mode === 'preserve') return { jobId: holder, scheduled: false, position: null }
    try {
      await execute(services, jobKeyDecider, keyStream, {
        type: 'ClaimKey',
        data: {
          jobType: s.type, key: s.key, jobId: s.jobId, expectedHolder: state.holder, ...(holder === null ? {} : { previous: holder })
        }
      }, { ...s.metadata, commandId: crypto.randomUUID() })
    } catch (error) {
      if (error instanceof JobKeyTaken && tries < KEY_TRIES) continue
      throw error
    }
    const scheduled = await write()
    // The holder we took the key from is cancelled even when it did not hold it when judged: it may have claimed the key
    // and not yet written its job, which it may have done by now (if it writes it later, its own check below cancels it).
    if (holder !== null) await replace(context, holder, s.jobId, s.metadata)
    // Another schedule may have claimed the key between our claim and our job: the later claim wins, ours steps aside.
    const after = await readState(services.store, jobKeyDecider, keyStream, services.states)
    if (after.state.holder !== null && after.state.holder !== s.jobId) await replace(context, s.jobId, after.state.holder, s.metadata)
    return scheduled
  }
}

/** Cancels `jobId` as replaced by `by`; a job that is running, has ended, or was never written is left alone. */
async function replace (context: ScheduleContext, jobId: string, by: string, metadata: CommandMetadata): Promise<void> {
  try {
    await execute(context.services, jobDecider, jobStreamId(jobId), {
      type: 'CancelJob', data: { by: metadata.actor.id, reason: 'replaced', replacedBy: by }
    }, { ...metadata, commandId: uuidV5(`job/${jobId}/replaced-by/${by}`), now: context.now() })
  } catch (error) {
    if (!(error instanceof JobLeased) && !(error instanceof JobClosed) && !(error instanceof JobNotFound)) throw error
  }
}
