/**
 * A response's parts from the event store: the stored parts after a place,
 * then the new ones as they are appended, until the response ends. It reads
 * the store only, so a client reconnecting to any node gets the same parts
 * with the same ids. New events are looked for when the store says something
 * was appended, and every `pollMs` in case another node's append is not
 * announced here.
 */
import type { ConversationEvent } from '../../domain/assistant/events.ts'
import type { EventStore } from '../../eventstore/types.ts'
import { isAfter, isEnd, parsePartId, partsOfEvent, type PartPlace, type StoredPart } from './parts.ts'

/** Resolves after `ms`, at the store's next append, or when `signal` aborts, whichever is first. */
export function nextAppend (store: Pick<EventStore, 'onAppend'>, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) { resolve(); return }
    const done = (): void => {
      clearTimeout(timer)
      stop()
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    const stop = store.onAppend(done)
    signal.addEventListener('abort', done)
  })
}

export interface FollowRequest {
  readonly streamId: string
  readonly responseId: string
  /** Only parts after this one (all of the response's when undefined). */
  readonly after: PartPlace | undefined
  readonly signal: AbortSignal
  readonly pollMs: number
  /**
   * When the conversation has been silent `afterMs` (its last event is that old) and the response has not ended, `settle`
   * is called once: the response's node may have died (src/application/assistant/assistant.ts records it abandoned).
   */
  readonly silence?: { readonly afterMs: number, readonly settle: () => Promise<void> }
}

export async function * followResponse (
  store: Pick<EventStore, 'readStream' | 'onAppend'>, request: FollowRequest
): AsyncGenerator<StoredPart> {
  let version = 0n
  let lastAt = Date.now()
  let settled = false
  while (!request.signal.aborted) {
    const events = await store.readStream(request.streamId, { fromVersion: version })
    for (const recorded of events) {
      version = recorded.streamVersion
      lastAt = Date.parse(recorded.metadata.occurredAt)
      const event = recorded as unknown as ConversationEvent
      if ((event.data as { responseId?: string }).responseId !== request.responseId) continue
      for (const part of partsOfEvent(event)) {
        const place = parsePartId(part.id)!
        if (request.after === undefined || isAfter(place, request.after)) yield part
      }
      if (isEnd(event)) return
    }
    const { silence } = request
    if (silence !== undefined && !settled && Date.now() - lastAt >= silence.afterMs) {
      settled = true
      await silence.settle()
      continue
    }
    await nextAppend(store, request.pollMs, request.signal)
  }
}
