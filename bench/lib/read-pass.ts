/** A whole-log pass through the store's readAll, page by page: how fast reading the log alone is. */
import { START, type EventStore } from '../../src/eventstore/types.ts'

export function readPass (store: EventStore, page: number): () => Promise<number> {
  return async () => {
    let position = START
    let events = 0
    for (;;) {
      const result = await store.readAll(position, { limit: page })
      events += result.events.length
      position = result.position
      if (result.isEnd) return events
    }
  }
}
