/**
 * Group commit for writers that append to many streams at once (the jobs
 * engine: each job is a stream, and a node starts and ends several at a
 * time). `append` keeps its meaning for each caller, but appends made while
 * others are on their way wait for a batch and go out together as one
 * `appendMany`: on PostgreSQL one statement and one commit for all of them
 * instead of one each.
 *
 * Nothing waits on a timer. An append made when fewer than `maxInFlight`
 * batches are on their way goes out on the next turn of the event loop, with
 * whatever else was appended in the same turn; under load, the batches grow by
 * themselves to what arrives during one round trip (at most `maxBatch`).
 * Every other method is the store's own (the adapters' methods are closures,
 * not bound to `this`).
 */
import type { AppendResult, EventStore, StreamAppend } from './types.ts'

export interface GroupCommitOptions {
  /** Appends per batch, at most (default 200). */
  readonly maxBatch?: number
  /** Batches on their way at once, at most (default 2: one is written while the next one fills). */
  readonly maxInFlight?: number
}

interface Waiting {
  readonly append: StreamAppend
  resolve(result: AppendResult): void
  reject(error: unknown): void
}

export function groupCommit (store: EventStore, options: GroupCommitOptions = {}): EventStore {
  const maxBatch = Math.max(1, options.maxBatch ?? 200)
  const maxInFlight = Math.max(1, options.maxInFlight ?? 2)
  const waiting: Waiting[] = []
  let inFlight = 0
  let scheduled = false

  function schedule (): void {
    if (scheduled || inFlight >= maxInFlight || waiting.length === 0) return
    scheduled = true
    setImmediate(flush)
  }

  function flush (): void {
    scheduled = false
    while (inFlight < maxInFlight && waiting.length > 0) {
      const batch = waiting.splice(0, maxBatch)
      inFlight++
      store.appendMany(batch.map((w) => w.append))
        .then((results) => {
          results.forEach((result, i) => {
            if (result.status === 'fulfilled') batch[i]!.resolve(result.value)
            else batch[i]!.reject(result.reason)
          })
        }, (error: unknown) => { for (const w of batch) w.reject(error) })
        .finally(() => {
          inFlight--
          schedule()
        })
    }
  }

  return {
    ...store,
    append (streamId, events, appendOptions) {
      return new Promise<AppendResult>((resolve, reject) => {
        waiting.push({ append: { streamId, events, ...(appendOptions === undefined ? {} : { options: appendOptions }) }, resolve, reject })
        schedule()
      })
    }
  }
}
