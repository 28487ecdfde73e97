/**
 * Writes one response as it streams: each part goes to the live listeners at
 * once (the client that asked), and the parts are stored together as one
 * `ai.response.chunk` every `intervalMs`, so a long answer is tens of events,
 * not thousands. Appends run one after another, in order.
 */
import type { ConversationCommand } from '../../domain/assistant/conversation.ts'
import type { ConversationEvent, UiPart } from '../../domain/assistant/events.ts'
import { partId, partsOfEvent, type StoredPart } from './parts.ts'

export type PartListener = (part: StoredPart | 'end') => void
/** Decides and appends a command on the conversation's stream; resolves with the events it wrote. */
export type Execute = (command: ConversationCommand) => Promise<readonly ConversationEvent[]>
type Ending = Extract<ConversationCommand, { type: 'CompleteResponse' | 'AbortResponse' | 'FailResponse' }>

export class ResponseWriter {
  readonly #listeners = new Set<PartListener>()
  #seq = 1
  #buffer: UiPart[] = []
  #timer: NodeJS.Timeout | undefined
  #writes: Promise<void> = Promise.resolve()
  #failure: unknown
  #ended = false

  constructor (readonly responseId: string, private readonly execute: Execute, private readonly intervalMs: number) {}

  /** Live parts from now on; the returned function stops them. */
  listen (listener: PartListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  get ended (): boolean {
    return this.#ended
  }

  /** Sends the stored start (sequence 0) to the listeners. */
  started (event: ConversationEvent): void {
    for (const part of partsOfEvent(event)) this.#send(part)
  }

  emit (part: UiPart): void {
    if (this.#ended) return
    this.#send({ id: partId({ responseId: this.responseId, seq: this.#seq, index: this.#buffer.length }), part })
    this.#buffer.push(part)
    this.#timer ??= setTimeout(() => { this.#timer = undefined; void this.flush() }, this.intervalMs)
  }

  /** Stores what is buffered; rejects when an append failed. */
  async flush (): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#buffer.length > 0) {
      const parts = this.#buffer
      const seq = this.#seq++
      this.#buffer = []
      this.#writes = this.#writes.then(async () => {
        if (this.#failure === undefined) await this.execute({ type: 'AppendParts', data: { responseId: this.responseId, seq, parts } })
      }).catch((error: unknown) => { this.#failure ??= error })
    }
    await this.#writes
    if (this.#failure !== undefined) throw this.#failure
  }

  /** Stores what is left and the response's end, and sends the end's parts and `end` to the listeners. */
  async end (ending: Ending): Promise<void> {
    if (this.#ended) return
    try {
      await this.flush().catch(() => {})
      this.#ended = true
      for (const event of await this.execute(ending)) for (const part of partsOfEvent(event)) this.#send(part)
    } finally {
      this.#ended = true
      for (const listener of this.#listeners) listener('end')
      this.#listeners.clear()
    }
  }

  #send (part: StoredPart): void {
    for (const listener of this.#listeners) listener(part)
  }
}
