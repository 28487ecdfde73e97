/**
 * A job run every so often in the background: the first run `firstInMs`
 * after start, then `everyMs` apart; timers do not hold the process open, and
 * `stop` waits for a run under way.
 */
export class Periodic {
  #timer: NodeJS.Timeout | undefined
  #running: Promise<unknown> | undefined

  constructor (private readonly run: () => Promise<unknown>, private readonly everyMs: number) {}

  start (firstInMs: number): void {
    const tick = (delay: number): void => {
      this.#timer = setTimeout(() => {
        this.#running = this.run().finally(() => { this.#running = undefined })
        tick(this.everyMs)
      }, delay)
      this.#timer.unref()
    }
    tick(firstInMs)
  }

  async stop (): Promise<void> {
    clearTimeout(this.#timer)
    await this.#running
  }
}
