/**
 * Job keys (`jobkey-<sha256(type, key)>`): the reservation stream that says
 * which job holds a (job type, key), as planned in src/domain/jobs/job.ts.
 * A key spans job streams, so no job's decider can enforce it: scheduling
 * with a key appends `job.key.claimed` here with the version it read, so of
 * two racing schedules one wins and the other reads again. Whether the holder
 * still holds the key is judged from the holder's own stream (`holdsKey`);
 * this stream only names it.
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import type { Decider } from '../decider.ts'
import { defineEvent } from '../registry.ts'
import { JobKeyTaken } from './errors.ts'
import { JobType } from './events.ts'

export const jobKeyClaimed = defineEvent({
  type: 'job.key.claimed',
  schema: z.object({
    jobType: JobType,
    key: z.string().min(1).max(200),
    jobId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    /** The job that held the key before: the scheduler cancels it if it is pending (src/application/jobs/schedule.ts). */
    previous: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
    at: z.iso.datetime()
  }).strict()
})

export const jobKeyEvents = [jobKeyClaimed]

export type JobKeyEvent = { type: 'job.key.claimed', data: z.infer<typeof jobKeyClaimed.schema> }
export interface JobKeyState { readonly holder: string | null }
/** `expectedHolder`: the holder the caller judged (null: none); if another schedule claimed the key since, the claim is refused. */
export type JobKeyCommand = {
  type: 'ClaimKey', data: { jobType: string, key: string, jobId: string, expectedHolder: string | null, previous?: string }
}

/** The reservation stream of a (job type, key): a hash, since a key may hold characters a stream id may not. */
export function jobKeyStreamId (jobType: string, key: string): string {
  return `jobkey-${createHash('sha256').update(jobType).update('\0').update(key).digest('hex')}`
}

export const jobKeyDecider: Decider<JobKeyCommand, JobKeyEvent, JobKeyState> = {
  initialState: () => ({ holder: null }),
  decide (command, state, { now }) {
    // Claiming it for the job that holds it already (a retried schedule) changes nothing.
    if (state.holder === command.data.jobId) return []
    const { jobType, key, jobId, previous, expectedHolder } = command.data
    if (state.holder !== expectedHolder) throw new JobKeyTaken(undefined, { holder: state.holder })
    const data = { jobType, key, jobId, ...(previous === undefined ? {} : { previous }), at: now.toISOString() }
    return [{ type: 'job.key.claimed', data }]
  },
  evolve (_state, event) {
    return { holder: event.data.jobId }
  }
}
