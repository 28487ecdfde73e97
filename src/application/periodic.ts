/**
 * A job run every so often in the background: the first run `firstInMs`
 * after start, each next one `everyMs` after the last has finished (runs
 * never overlap). Timers do not hold the process open; `stop` waits for a run
 * under way and schedules no more. `run` reports its own failures.
 */
export class Periodic {
  #timer: NodeJS.Timeout | undefined
  #running: Promise<unknown> | undefined
  #stopped = true

  constructor (private readonly run: () => Promise<unknown>, private readonly everyMs: number) {}

  start (firstInMs: number): void {
    this.#stopped = false
    this.#schedule(firstInMs)
  }

  #schedule (delay: number): void {
    this.#timer = setTimeout(() => {
      this.#running = this.run().finally(() => {
        this.#running = undefined
        if (!this.#stopped) this.#schedule(this.everyMs)
      })
    }, delay)
    this.#timer.unref()
  }

  async stop (): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#running
  }
}
