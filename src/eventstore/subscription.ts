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
  let closed = false
  let wake: (() => void) | undefined
  let signalled = false
  const stopListening = store.onAppend(() => {
    signalled = true
    wake?.()
  })

  function sleep (): Promise<void> {
    if (signalled || closed) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(done, pollMs)
      function done (): void {
        clearTimeout(timer)
        wake = undefined
        resolve()
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
        const page = await store.readAll(position, { types: options.types, streamPrefix: options.streamPrefix, limit: batchSize })
        if (closed) return
        const moved = page.events.length > 0 || comparePositions(page.position, position) !== 0
        position = page.position
        // Every move is delivered; so is reaching the end once, even with nothing new, so a reader learns it is live.
        if (moved || (page.isEnd && !live)) yield { events: page.events, position, caughtUp: page.isEnd }
        live = page.isEnd
        if (page.isEnd) await sleep()
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
