/**
 * The conversations read model: one row per conversation (src/domain/assistant/),
 * for its owner's list (`GET …/assistant/conversations`). No text: a row says
 * when, how many messages and responses, and how the last response stands.
 * Times are the events' `occurredAt`, so a rebuild gives the same rows.
 */
import type { RecordedEvent } from '../../eventstore/types.ts'
import type { SqlTransaction } from '../../sql/client.ts'
import type { Projection } from '../projection.ts'

type Data = Record<string, unknown>
type Apply = (tx: SqlTransaction, conversationId: string, data: Data, at: string) => Promise<unknown>

/** The last response's state after an event of it. */
const responseIs = (status: (d: Data) => string): Apply => (tx, id, d, at) => tx.query(
  'UPDATE ai_conversations SET last_status = $2, updated_at = $3 WHERE conversation_id = $1', [id, status(d), at])

const handlers: Record<string, Apply> = {
  'ai.conversation.started': (tx, id, d, at) => tx.query(
    `INSERT INTO ai_conversations (conversation_id, org_id, owner_id, model, messages, responses, last_status, created_at, updated_at)
     VALUES ($1, $2, $3, $4, 0, 0, 'idle', $5, $5) ON CONFLICT (conversation_id) DO NOTHING`,
    [id, d.orgId, d.ownerId, d.model, at]),
  'ai.message.added': (tx, id, _d, at) => tx.query(
    'UPDATE ai_conversations SET messages = messages + 1, updated_at = $2 WHERE conversation_id = $1', [id, at]),
  'ai.response.started': (tx, id, d, at) => tx.query(
    `UPDATE ai_conversations SET responses = responses + 1, last_response_id = $2, last_status = 'streaming', updated_at = $3
      WHERE conversation_id = $1`, [id, d.responseId, at]),
  'ai.response.completed': responseIs((d) => d.finishReason === 'awaiting_approval' ? 'awaiting_approval' : 'completed'),
  'ai.response.aborted': responseIs(() => 'aborted'),
  'ai.response.failed': responseIs(() => 'failed')
}

export const CONVERSATION_EVENT_TYPES = Object.keys(handlers)

export const conversationsProjection: Projection = {
  name: 'ai_conversations',
  version: 1,
  eventTypes: CONVERSATION_EVENT_TYPES,
  tables: ['ai_conversations'],
  setup: `
    CREATE TABLE ai_conversations (
      conversation_id text PRIMARY KEY,
      org_id text NOT NULL,
      owner_id text NOT NULL,
      model text NOT NULL,
      messages integer NOT NULL,
      responses integer NOT NULL,
      last_response_id text,
      -- idle | streaming | completed | awaiting_approval | aborted | failed
      last_status text NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL);
    CREATE INDEX ai_conversations_owner ON ai_conversations (org_id, owner_id, created_at DESC, conversation_id COLLATE "C" DESC);`,
  async apply (events: readonly RecordedEvent[], tx) {
    for (const event of events) {
      await handlers[event.type]?.(tx, event.streamId.slice('conversation-'.length), event.data as Data, event.metadata.occurredAt)
    }
  }
}
