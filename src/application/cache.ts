/** Small in-process caches the application layer shares. */
import type { StateCache } from '../domain/decider.ts'

/** A Map that forgets its oldest entries beyond `max` and entries older than `ttlMs`. */
export class BoundedCache<V> {
  readonly #entries = new Map<string, { value: V, at: number }>()
  constructor (private readonly max: number, private readonly ttlMs = Infinity) {}

  get (key: string, now = Date.now()): V | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (now - entry.at > this.ttlMs) {
      this.#entries.delete(key)
      return undefined
    }
    return entry.value
  }

  set (key: string, value: V, now = Date.now()): void {
    this.#entries.delete(key)
    if (this.#entries.size >= this.max) this.#entries.delete(this.#entries.keys().next().value!)
    this.#entries.set(key, { value, at: now })
  }

  delete (key: string): void { this.#entries.delete(key) }
  clear (): void { this.#entries.clear() }
}

/** Folded aggregate states for handleCommand, most recently used kept (DESIGN §1: a cache, never the truth). */
export function stateCache (max = 20_000): StateCache {
  const entries = new BoundedCache<{ version: bigint, state: unknown }>(max)
  return { get: (streamId) => entries.get(streamId), set: (streamId, entry) => entries.set(streamId, entry) }
}
