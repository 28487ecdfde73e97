/**
 * Counts per key (an organization) over a sliding window, in memory and
 * bounded: what an alert needs to know about one organization among
 * thousands without a metric series per organization. The window is cut in
 * `buckets` slots; a key's total is the sum of its slots still inside the
 * window, so the count slides by one slot at a time (a tenth of the window
 * by default).
 *
 * At most `limit` keys are kept. When a new key arrives at the limit, the key
 * touched longest ago goes: a burst is being touched now, so it stays.
 */
export interface WindowSummary {
  /** The highest total of one key over the window (0 when none). */
  readonly max: number
  /** The key holding it, when one does. */
  readonly maxKey: string | undefined
  /** Keys whose total is above the threshold. */
  readonly over: number
}

interface Slots { readonly counts: number[], readonly epochs: number[] }

export class SlidingWindowCounts {
  readonly #keys = new Map<string, Slots>()
  readonly #slotMs: number

  constructor (
    windowMs: number,
    private readonly limit: number,
    private readonly now: () => number = Date.now,
    private readonly buckets = 10
  ) {
    this.#slotMs = windowMs / buckets
  }

  /** Adds `count` to `key` now; answers the key's total over the window. */
  add (key: string, count = 1): number {
    const epoch = Math.floor(this.now() / this.#slotMs)
    let slots = this.#keys.get(key)
    if (slots === undefined) {
      if (this.#keys.size >= this.limit) this.#keys.delete(this.#keys.keys().next().value as string)
      slots = { counts: new Array<number>(this.buckets).fill(0), epochs: new Array<number>(this.buckets).fill(-1) }
    } else {
      this.#keys.delete(key) // re-inserted below: the map's order is the order of last touch
    }
    this.#keys.set(key, slots)
    const slot = epoch % this.buckets
    if (slots.epochs[slot] !== epoch) {
      slots.epochs[slot] = epoch
      slots.counts[slot] = 0
    }
    slots.counts[slot]! += count
    return this.#total(slots, epoch)
  }

  /** The key's total over the window. */
  total (key: string): number {
    const slots = this.#keys.get(key)
    return slots === undefined ? 0 : this.#total(slots, Math.floor(this.now() / this.#slotMs))
  }

  /** Keys kept (for tests and the bound). */
  get size (): number { return this.#keys.size }

  /** The highest total and how many keys are above `threshold`; keys with nothing left in the window are dropped. */
  summary (threshold: number): WindowSummary {
    const epoch = Math.floor(this.now() / this.#slotMs)
    let max = 0
    let maxKey: string | undefined
    let over = 0
    for (const [key, slots] of this.#keys) {
      const total = this.#total(slots, epoch)
      if (total === 0) {
        this.#keys.delete(key)
        continue
      }
      if (total > max) {
        max = total
        maxKey = key
      }
      if (total > threshold) over++
    }
    return { max, maxKey, over }
  }

  /** The `n` keys with the highest totals, highest first. */
  top (n: number): Array<{ key: string, count: number }> {
    const epoch = Math.floor(this.now() / this.#slotMs)
    return [...this.#keys].map(([key, slots]) => ({ key, count: this.#total(slots, epoch) }))
      .filter((entry) => entry.count > 0).sort((a, b) => b.count - a.count).slice(0, n)
  }

  #total (slots: Slots, epoch: number): number {
    let total = 0
    for (let i = 0; i < this.buckets; i++) if (slots.epochs[i]! > epoch - this.buckets) total += slots.counts[i]!
    return total
  }
}
