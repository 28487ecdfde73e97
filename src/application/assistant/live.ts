/** A writer's live parts as an async iterable, for a stream that sends them in order as fast as its client reads. */
import type { StoredPart } from './parts.ts'
import type { PartListener } from './writer.ts'

export interface LiveParts extends AsyncIterable<StoredPart> {
  readonly listener: PartListener
}

export function liveParts (): LiveParts {
  const queue: StoredPart[] = []
  let ended = false
  let wake: (() => void) | undefined
  const listener: PartListener = (part) => {
    if (part === 'end') ended = true
    else queue.push(part)
    wake?.()
  }
  async function * parts (): AsyncGenerator<StoredPart> {
    for (;;) {
      while (queue.length > 0) yield queue.shift()!
      if (ended) return
      await new Promise<void>((resolve) => { wake = resolve })
      wake = undefined
    }
  }
  return { listener, [Symbol.asyncIterator]: () => parts() }
}
