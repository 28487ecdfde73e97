/**
 * Usage records as the assistant writes them (`ai.usage.recorded` on a
 * conversation's stream), for the usage and quota tests, without a model.
 */
import { randomUUID } from 'node:crypto'
import type { UsageRecorded } from '../../src/domain/assistant/events.ts'
import { metadataFor, systemCommand } from '../../src/domain/envelope.ts'
import type { EventStore } from '../../src/eventstore/types.ts'

export type UsageInput = Partial<UsageRecorded> & Pick<UsageRecorded, 'orgId' | 'userId'>

let serial = 0

/** Appends one usage record (a response of a conversation of its own); returns its data. */
export async function recordUsage (store: EventStore, input: UsageInput): Promise<UsageRecorded> {
  serial += 1
  const id = `${Date.now().toString(36)}${serial.toString().padStart(6, '0')}`
  const data: UsageRecorded = {
    responseId: `rsp_${id}`, conversationId: `cnv_${id}`, model: 'gpt-4o-mini', inputTokens: 100, outputTokens: 20,
    cachedInputTokens: 0, source: 'provider', costMicros: 27, currency: 'USD', ...input
  }
  const command = { ...systemCommand('usage-test'), commandId: randomUUID(), orgId: input.orgId }
  const metadata = metadataFor(command, 0)
  await store.append(`conversation-${data.conversationId}`, [{ id: metadata.eventId, type: 'ai.usage.recorded', data, metadata }])
  return data
}
