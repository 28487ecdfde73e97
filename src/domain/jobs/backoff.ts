/**
 * Retry delays, in one of two forms.
 *
 * Exponential, with full jitter and a cap: the ceiling after attempt n is
 * min(cap, base · factor^n); the delay is drawn uniformly from the whole
 * milliseconds in [0, ceiling], so jobs that failed together (an endpoint
 * down for everyone) spread out instead of returning together. The default
 * is close to graphile-worker's exp(min(attempt, 10)) seconds: base 1 s,
 * factor e, capped at e^10 s (about 6 h 7 min) — as its ceiling, since full
 * jitter draws below it. With 25 attempts a job keeps trying for about two
 * days on average (at most 95 h 20 min, the sum of the 24 ceilings) before
 * it is dead; graphile-worker's three days is the same sum without jitter.
 *
 * A schedule: the delay after attempt n (from 1) is delaysMs[min(n, k) - 1]
 * times a factor drawn uniformly in [1 - jitter, 1 + jitter], in whole
 * milliseconds. A receiver of webhooks knows when the retries come (Svix's
 * 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), and the jitter still keeps
 * deliveries that failed together from returning together. A schedule of k
 * delays means k + 1 attempts unless the job says otherwise; attempts past
 * the schedule wait its last delay.
 *
 * `random` is an argument (a draw in [0, 1), Math.random() in production),
 * so the function is pure and a decision replays exactly.
 */
import { z } from 'zod'

const WEEK_MS = 604_800_000

export const ExponentialBackoff = z.object({
  /** The ceiling at attempt 0, in milliseconds. */
  baseMs: z.number().int().min(0).max(86_400_000),
  /** How much the ceiling grows per attempt. */
  factor: z.number().min(1).max(10),
  /** No delay is longer than this, in milliseconds (at most a week). */
  capMs: z.number().int().min(0).max(WEEK_MS)
}).strict()
export type ExponentialBackoff = z.infer<typeof ExponentialBackoff>

export const ScheduleBackoff = z.object({
  /** The delay after attempt n is the n-th (the last one past the end), in milliseconds, each at most a week. */
  delaysMs: z.array(z.number().int().min(0).max(WEEK_MS)).min(1).max(50),
  /** Each delay is multiplied by a factor drawn in [1 - jitter, 1 + jitter]. */
  jitter: z.number().min(0).max(0.5)
}).strict()
export type ScheduleBackoff = z.infer<typeof ScheduleBackoff>

/** How long a job waits between attempts; `job.scheduled` carries its own, so events written before schedules existed parse alike. */
export const BackoffPolicy = z.union([ExponentialBackoff, ScheduleBackoff])
export type BackoffPolicy = z.infer<typeof BackoffPolicy>

export const DEFAULT_BACKOFF: ExponentialBackoff = Object.freeze({ baseMs: 1000, factor: Math.E, capMs: Math.round(1000 * Math.E ** 10) })
export const DEFAULT_MAX_ATTEMPTS = 25

/**
 * Svix's retry schedule for webhook deliveries: after the first attempt, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (8 attempts,
 * about 27 h 35 min in all), each within 20% either way.
 */
export const SVIX_BACKOFF: ScheduleBackoff = Object.freeze({
  delaysMs: Object.freeze([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]) as number[],
  jitter: 0.2
})

const isSchedule = (policy: BackoffPolicy): policy is ScheduleBackoff => 'delaysMs' in policy

/** How many attempts a job with this backoff gets unless told otherwise: a schedule's delays plus the first attempt, else 25. */
export function scheduleMaxAttempts (policy: BackoffPolicy): number {
  return isSchedule(policy) ? policy.delaysMs.length + 1 : DEFAULT_MAX_ATTEMPTS
}

/**
 * The longest delay after attempt `attempt`, in whole milliseconds: min(cap, base · factor^attempt) for the exponential form (0
 * and up), the attempt's delay times 1 + jitter for a schedule (from 1).
 */
export function backoffCeiling (attempt: number, policy: BackoffPolicy): number {
  if (isSchedule(policy)) return Math.round(scheduledDelay(attempt, policy) * (1 + policy.jitter))
  if (!Number.isInteger(attempt) || attempt < 0) throw new RangeError(`attempt must be a whole number from 0, not ${attempt}`)
  // factor^attempt overflows to Infinity for large attempts; the cap takes it (and 0 · Infinity is no number: a zero base stays 0).
  if (policy.baseMs === 0) return 0
  return Math.min(policy.capMs, Math.round(policy.baseMs * policy.factor ** attempt))
}

/** The shortest delay after attempt `attempt`: 0 for the exponential form (full jitter), the delay times 1 - jitter for a schedule. */
export function backoffFloor (attempt: number, policy: BackoffPolicy): number {
  return isSchedule(policy) ? Math.round(scheduledDelay(attempt, policy) * (1 - policy.jitter)) : 0
}

/** The delay before the next attempt, in milliseconds, for the draw `random` in [0, 1). */
export function backoffDelay (attempt: number, policy: BackoffPolicy, random: number): number {
  if (!(random >= 0 && random < 1)) throw new RangeError(`random must be in [0, 1), not ${random}`)
  if (isSchedule(policy)) return Math.round(scheduledDelay(attempt, policy) * (1 - policy.jitter + 2 * policy.jitter * random))
  // Full jitter: the draw mapped onto the whole milliseconds of [0, ceiling].
  return Math.floor(random * (backoffCeiling(attempt, policy) + 1))
}

/** A schedule's delay after attempt n (from 1), before jitter: the n-th, or the last past the end. */
function scheduledDelay (attempt: number, policy: ScheduleBackoff): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be a whole number from 1, not ${attempt}`)
  return policy.delaysMs[Math.min(attempt, policy.delaysMs.length) - 1]!
}
