/**
 * Catch-up subscription shared by the adapters: read pages from the
 * checkpoint until the end of the log, then wait for an append notification
 * (or the polling backstop) and read again. Delivers batches in log order;
 * each carries the position to checkpoint after handling it.
 */
import { comparePositions } from './position.ts'
import type { EventStore, LogPosition, SubscribeOptions, Subscription, SubscriptionBatch } from './types.ts'

const MAX_POLL_MS = 1000

export function catchUpSubscription (store: EventStore, from: LogPosition, options: SubscribeOptions = {}): Subscription {
  const batchSize = options.batchSize ?? 500
  const pollMs = Math.min(options.pollIntervalMs ?? MAX_POLL_MS, MAX_POLL_MS)
  const paceMs = Math.min(options.liveIntervalMs ?? 0, MAX_POLL_MS)
  let closed = false
  let wake: (() => void) | undefined
  let signalled = false
  const stopListening = store.onAppend(() => {
    signalled = true
    wake?.()
  })

  /** Live: waits for an append (or the poll), but reads at most once per `paceMs`, so busy logs are read in bigger pages. */
  function sleep (lastReadAt: number): Promise<void> {
    if (closed) return Promise.resolve()
    const paced = Math.max(0, lastReadAt + paceMs - Date.now())
    if (signalled) return paced === 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, paced))
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(pollMs, paced))
      function done (): void {
        clearTimeout(timer)
        wake = undefined
        const wait = Math.max(0, lastReadAt + paceMs - Date.now())
        if (wait === 0 || closed) resolve()
        else setTimeout(resolve, wait)
      }
      wake = done
    })
  }

  async function * batches (): AsyncGenerator<SubscriptionBatch> {
    let position = from
    let live = false
    try {
      while (!closed) {
        signalled = false
        const readAt = Date.now()
        const page = await store.readAll(position, { types: options.types, streamPrefix: options.streamPrefix, limit: batchSize })
        if (closed) return
        const moved = page.events.length > 0 || comparePositions(page.position, position) !== 0
        position = page.position
        // Every move is delivered; so is reaching the end once, even with nothing new, so a reader learns it is live.
        if (moved || (page.isEnd && !live)) yield { events: page.events, position, caughtUp: page.isEnd }
        live = page.isEnd
        if (page.isEnd) await sleep(readAt)
      }
    } finally {
      stopListening()
    }
  }

  const iterator = batches()
  const signal = options.signal
  const onAbort = (): void => {
    closed = true
    wake?.()
  }
  signal?.addEventListener('abort', onAbort, { once: true })
  if (signal?.aborted === true) onAbort()
  return {
    [Symbol.asyncIterator]: () => iterator,
    async close () {
      signal?.removeEventListener('abort', onAbort)
      onAbort()
      await iterator.return(undefined)
    }
  }
}

/** Waits `ms`, or less when `signal` aborts first. */
export function pause (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
    function done (): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })
}

/** The wait after the `failures`-th failure in a row: 500 ms doubling, at most 30 s. */
export function backoffMs (failures: number): number {
  return Math.min(30_000, 250 * 2 ** Math.min(failures, 7))
}

export interface RetryOptions {
  readonly signal: AbortSignal
  /** Told of each failure (not of one the abort caused), before the wait. */
  readonly onFailure: (error: unknown, failures: number) => void
  /** The wait after the `failures`-th failure in a row (default `backoffMs`). */
  readonly delayMs?: (failures: number) => number
}

/**
 * Runs `attempt` until it succeeds, and answers what it answers; undefined
 * once `signal` aborts. A failure is reported, and `attempt` runs again
 * after a delay that grows with the failures in a row. The retry every
 * consumer of the log shares, checkpointed (projections and reactors, while
 * they hold their lock) or not (the directory).
 */
export async function retrying<T> (attempt: () => Promise<T>, options: RetryOptions): Promise<T | undefined> {
  const { signal, onFailure, delayMs = backoffMs } = options
  for (let failures = 1; !signal.aborted; failures++) {
    try {
      return await attempt()
    } catch (error) {
      if (signal.aborted) return undefined
      onFailure(error, failures)
      await pause(delayMs(failures), signal)
    }
  }
  return undefined
}

export interface FollowOptions extends Omit<SubscribeOptions, 'signal'>, RetryOptions {}

/**
 * Follows the log from `from` for as long as `signal` is not aborted, handing
 * each batch to `handle` in order. A failure (of the store or of `handle`)
 * is reported, and the log is followed again, after the delay, from the
 * position of the last batch handled. Resolves once aborted.
 */
export async function followLog (
  store: Pick<EventStore, 'subscribe'>, from: LogPosition, options: FollowOptions,
  handle: (batch: SubscriptionBatch) => void | Promise<void>
): Promise<void> {
  const { onFailure, delayMs, ...subscribe } = options
  let position = from
  while (!options.signal.aborted) {
    await retrying(async () => {
      const subscription = store.subscribe(position, subscribe)
      try {
        for await (const batch of subscription) {
          await handle(batch)
          position = batch.position
        }
      } finally {
        await subscription.close()
      }
    }, { signal: options.signal, onFailure, delayMs })
  }
}
