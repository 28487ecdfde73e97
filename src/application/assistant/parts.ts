/**
 * A response's parts as the client reads them, and where each is stored: the
 * SSE id `<responseId>.<seq>.<index>` is the part's place in the response's
 * events (src/domain/assistant/events.ts), so the same part has the same id
 * live and replayed, on any node.
 */
import type { ConversationEvent, UiPart } from '../../domain/assistant/events.ts'

export interface StoredPart { readonly id: string, readonly part: UiPart }

/** Where a part sits: its response, the sequence of its event, its index in it. */
export interface PartPlace { readonly responseId: string, readonly seq: number, readonly index: number }

const PART_ID = /^(rsp_[A-Za-z0-9_-]{8,64})\.(\d{1,7})\.(\d{1,5})$/

export const partId = ({ responseId, seq, index }: PartPlace): string => `${responseId}.${seq}.${index}`

/** A Last-Event-ID, or undefined when it is not one of ours. */
export function parsePartId (id: string): PartPlace | undefined {
  const match = PART_ID.exec(id)
  if (match === null) return undefined
  return { responseId: match[1]!, seq: Number(match[2]), index: Number(match[3]) }
}

/** Whether `place` comes after `after` in the same response. */
export const isAfter = (place: PartPlace, after: PartPlace): boolean =>
  place.seq > after.seq || (place.seq === after.seq && place.index > after.index)

const FINISH: Record<string, string> = {
  stop: 'stop', length: 'length', content_filter: 'content-filter', awaiting_approval: 'tool-calls', max_steps: 'other'
}

/** The parts an event of a response stands for, with their ids; none for the conversation's other events. */
export function partsOfEvent (event: ConversationEvent): StoredPart[] {
  const placed = (responseId: string, seq: number, parts: readonly UiPart[]): StoredPart[] =>
    parts.map((part, index) => ({ id: partId({ responseId, seq, index }), part }))
  switch (event.type) {
    case 'ai.response.started': return placed(event.data.responseId, 0, [{ type: 'start', messageId: event.data.responseId }])
    case 'ai.response.chunk': return placed(event.data.responseId, event.data.seq, event.data.parts)
    case 'ai.response.completed':
      return placed(event.data.responseId, event.data.seq, [{ type: 'finish', finishReason: FINISH[event.data.finishReason] ?? 'other' }])
    case 'ai.response.aborted': return placed(event.data.responseId, event.data.seq, [{ type: 'abort', reason: event.data.reason }])
    case 'ai.response.failed': return placed(event.data.responseId, event.data.seq, [{ type: 'error', errorText: event.data.message }])
    default: return []
  }
}

export const isEnd = (event: ConversationEvent): boolean =>
  event.type === 'ai.response.completed' || event.type === 'ai.response.aborted' || event.type === 'ai.response.failed'
