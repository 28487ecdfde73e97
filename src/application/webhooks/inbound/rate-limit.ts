/**
 * A token bucket per source, in this node's memory: `rate` messages a second
 * on average, bursts of up to twice that. A refused message is told when a
 * token will be there (Retry-After). Several nodes each allow the rate: the
 * limit protects a node's work, it is not a quota.
 */
export interface RateDecision { readonly allowed: boolean, readonly retryAfterSeconds: number }

interface Bucket { tokens: number, at: number }

/** Buckets kept at most; the least recently used go first (a full bucket forgotten is a full bucket again). */
const MAX_BUCKETS = 10_000

export class TokenBuckets {
  readonly #buckets = new Map<string, Bucket>()
  readonly #capacity: number

  constructor (private readonly rate: number, private readonly now: () => number = Date.now) {
    this.#capacity = rate * 2
  }

  take (key: string): RateDecision {
    const now = this.now()
    const bucket = this.#buckets.get(key) ?? { tokens: this.#capacity, at: now }
    bucket.tokens = Math.min(this.#capacity, bucket.tokens + ((now - bucket.at) / 1000) * this.rate)
    bucket.at = now
    this.#buckets.delete(key)
    this.#buckets.set(key, bucket)
    if (this.#buckets.size > MAX_BUCKETS) this.#buckets.delete(this.#buckets.keys().next().value!)
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return { allowed: true, retryAfterSeconds: 0 }
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.rate)) }
  }
}
