/**
 * Fixed-window attempt counters for login and sign-up, kept in process:
 * per client address and per e-mail address, so neither one address trying
 * many accounts nor many addresses trying one account get far. Written here
 * rather than taken from @fastify/rate-limit because one request must count
 * against two keys, and the e-mail key is only known after the body is parsed.
 */
import type { FastifyReply } from 'fastify'
import { domainError } from '../../domain/errors.ts'

export class RateLimited extends domainError('http.rate_limited', 429, 'too many attempts; retry later') {
  constructor (retryAfterSeconds: number) {
    super(`too many attempts; retry in ${retryAfterSeconds} s`, { retryAfterSeconds })
  }
}

export interface Limiter {
  /** Counts one attempt for every key; throws RateLimited (and sets Retry-After) when any is over. */
  hit(reply: FastifyReply, keys: readonly string[]): void
}

export function fixedWindowLimiter (max: number, windowMs: number, maxKeys = 100_000): Limiter {
  const windows = new Map<string, { count: number, resetAt: number }>()
  return {
    hit (reply, keys) {
      const now = Date.now()
      let worst = { count: 0, resetAt: now + windowMs }
      for (const key of keys) {
        let window = windows.get(key)
        if (window === undefined || window.resetAt <= now) {
          if (windows.size >= maxKeys) {
            for (const [k, w] of windows) if (w.resetAt <= now) windows.delete(k)
            if (windows.size >= maxKeys) windows.delete(windows.keys().next().value!)
          }
          window = { count: 0, resetAt: now + windowMs }
          windows.set(key, window)
        }
        window.count++
        if (window.count > worst.count) worst = window
      }
      reply.header('ratelimit-limit', String(max))
      reply.header('ratelimit-remaining', String(Math.max(0, max - worst.count)))
      reply.header('ratelimit-reset', String(Math.ceil((worst.resetAt - now) / 1000)))
      if (worst.count > max) {
        const retryAfter = Math.max(1, Math.ceil((worst.resetAt - now) / 1000))
        reply.header('retry-after', String(retryAfter))
        throw new RateLimited(retryAfter)
      }
    }
  }
}
