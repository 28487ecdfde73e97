/**
 * An open-loop load: `send(i)` is called on a fixed schedule (`rate` per
 * second), whether or not earlier sends have finished, so a slow system
 * cannot slow the load down and hide its own latency (coordinated omission).
 * Each send's latency is measured from its *intended* time: a send the event
 * loop made late counts its lateness too.
 */

export interface OpenLoopResult {
  /** When each send was due (performance.now() ms), by index. */
  readonly intended: Float64Array
  /** How long each send's promise took to settle, from its intended time (ms), by index. */
  readonly settledMs: Float64Array
  /** Sends that rejected, with the first error. */
  readonly errors: number
  readonly firstError: unknown
  /** The longest a send started after its intended time (ms): the load generator's own lag. */
  readonly maxLagMs: number
}

export async function openLoop (rate: number, seconds: number, send: (i: number) => Promise<unknown>): Promise<OpenLoopResult> {
  const count = Math.max(1, Math.round(rate * seconds))
  const gap = 1000 / rate
  const intended = new Float64Array(count)
  const settledMs = new Float64Array(count)
  const pending: Array<Promise<void>> = []
  let errors = 0
  let firstError: unknown
  let maxLagMs = 0
  const start = performance.now() + 5
  for (let i = 0; i < count;) {
    const now = performance.now()
    const due = start + i * gap
    if (now < due) {
      await new Promise((resolve) => setTimeout(resolve, due - now))
      continue
    }
    // Everything due by now goes out at once: a late tick does not shift the schedule.
    for (; i < count && start + i * gap <= now; i++) {
      const at = start + i * gap
      intended[i] = at
      maxLagMs = Math.max(maxLagMs, now - at)
      const index = i
      pending.push(send(index).then(
        () => { settledMs[index] = performance.now() - at },
        (error: unknown) => { errors++; firstError ??= error; settledMs[index] = NaN }))
    }
  }
  await Promise.all(pending)
  return { intended, settledMs, errors, firstError, maxLagMs }
}
