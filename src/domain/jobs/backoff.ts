/**
 * Retry delays: exponential with full jitter and a cap. The ceiling after
 * attempt n is min(cap, base · factor^n); the delay is drawn uniformly from
 * the whole milliseconds in [0, ceiling], so jobs that failed together (an
 * endpoint down for everyone) spread out instead of returning together.
 *
 * The default is close to graphile-worker's exp(min(attempt, 10)) seconds:
 * base 1 s, factor e, capped at e^10 s (about 6 h 7 min) — as its ceiling,
 * since full jitter draws below it. With 25 attempts a job keeps trying for
 * about two days on average (at most 95 h 20 min, the sum of the 24
 * ceilings) before it is dead; graphile-worker's three days is the same sum
 * without jitter.
 *
 * `random` is an argument (a draw in [0, 1), Math.random() in production),
 * so the function is pure and a decision replays exactly.
 */
import { z } from 'zod'

export const BackoffPolicy = z.object({
  /** The ceiling at attempt 0, in milliseconds. */
  baseMs: z.number().int().min(0).max(86_400_000),
  /** How much the ceiling grows per attempt. */
  factor: z.number().min(1).max(10),
  /** No delay is longer than this, in milliseconds (at most a week). */
  capMs: z.number().int().min(0).max(604_800_000)
}).strict()
export type BackoffPolicy = z.infer<typeof BackoffPolicy>

export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({ baseMs: 1000, factor: Math.E, capMs: Math.round(1000 * Math.E ** 10) })
export const DEFAULT_MAX_ATTEMPTS = 25

/** The longest delay after attempt `attempt` (0 and up): min(cap, base · factor^attempt), in whole milliseconds. */
export function backoffCeiling (attempt: number, policy: BackoffPolicy): number {
  if (!Number.isInteger(attempt) || attempt < 0) throw new RangeError(`attempt must be a whole number from 0, not ${attempt}`)
  // factor^attempt overflows to Infinity for large attempts; the cap takes it (and 0 · Infinity is no number: a zero base stays 0).
  if (policy.baseMs === 0) return 0
  return Math.min(policy.capMs, Math.round(policy.baseMs * policy.factor ** attempt))
}

/** The delay before the next attempt, in milliseconds: full jitter, `random` in [0, 1) mapped onto [0, ceiling]. */
export function backoffDelay (attempt: number, policy: BackoffPolicy, random: number): number {
  if (!(random >= 0 && random < 1)) throw new RangeError(`random must be in [0, 1), not ${random}`)
  return Math.floor(random * (backoffCeiling(attempt, policy) + 1))
}
