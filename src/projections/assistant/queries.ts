/** Reads of the conversations read model: an owner's conversations, newest first, a keyset page at a time. */
import type { SqlExecutor } from '../../sql/client.ts'

export const CONVERSATION_STATUSES = ['idle', 'streaming', 'completed', 'awaiting_approval', 'aborted', 'failed'] as const

export interface ConversationSummary {
  readonly conversationId: string
  readonly model: string
  readonly messages: number
  readonly responses: number
  readonly lastResponseId: string | null
  readonly lastStatus: typeof CONVERSATION_STATUSES[number]
  readonly createdAt: string
  readonly updatedAt: string
}

/** Where a page continues: the last conversation's creation time (ISO, UTC) and id. */
export interface ConversationKey { readonly createdAt: string, readonly conversationId: string }

interface Row {
  conversation_id: string, model: string, messages: number, responses: number, last_response_id: string | null,
  last_status: ConversationSummary['lastStatus'], created_at: Date | string, updated_at: Date | string
}

/** One page of the owner's conversations in the organization; ids compare byte-wise, the same on every database. */
export async function conversationsPage (
  sql: SqlExecutor, orgId: string, ownerId: string, limit: number, after?: ConversationKey
): Promise<ConversationSummary[]> {
  const { rows } = await sql.query<Row>(
    `SELECT conversation_id, model, messages, responses, last_response_id, last_status, created_at, updated_at
       FROM ai_conversations
      WHERE org_id = $1 AND owner_id = $2
        AND ($3::timestamptz IS NULL OR (created_at, conversation_id COLLATE "C") < ($3::timestamptz, $4 COLLATE "C"))
      ORDER BY created_at DESC, conversation_id COLLATE "C" DESC
      LIMIT $5`,
    [orgId, ownerId, after?.createdAt ?? null, after?.conversationId ?? null, limit])
  return rows.map((row) => ({
    conversationId: row.conversation_id, model: row.model, messages: row.messages, responses: row.responses,
    lastResponseId: row.last_response_id, lastStatus: row.last_status,
    createdAt: new Date(row.created_at).toISOString(), updatedAt: new Date(row.updated_at).toISOString()
  }))
}
