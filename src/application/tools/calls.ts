/**
 * Reads of tool calls for the routes to come (`GET …/tool-calls` and
 * `…/tool-calls/:callId`): keyset pages, newest first, with an opaque cursor,
 * and one call. Who may read which calls is the caller's to decide (the
 * route's declared action); these read what they are asked.
 */
import { z } from 'zod'
import { cursorCodec } from '../../domain/cursor.ts'
import { ToolCallNotFound } from '../../domain/tools/errors.ts'
import { Id, pgTimestamp } from '../../domain/values.ts'
import { toolCallsPage, toolCallView, type ToolCallView } from '../../projections/tools/queries.ts'
import type { SqlExecutor } from '../../sql/client.ts'

/** Tool calls, newest first: the last call's request time and id. */
export const toolCallCursor = cursorCodec('tool-calls.1', z.object({ requestedAt: pgTimestamp, callId: Id }).strict())

export interface ToolCallPageRequest {
  readonly limit: number
  readonly cursor?: string
  readonly tool?: string
  /** Only this caller's calls. */
  readonly callerId?: string
}

export async function listToolCalls (
  sql: SqlExecutor, orgId: string, request: ToolCallPageRequest, now = new Date()
): Promise<{ items: ToolCallView[], nextCursor: string | null }> {
  const { limit, cursor, tool, callerId } = request
  const after = cursor === undefined ? undefined : toolCallCursor.decode(cursor)
  const found = await toolCallsPage(sql, orgId, {
    limit: limit + 1, now, ...(after === undefined ? {} : { after }), ...(tool === undefined ? {} : { tool }),
    ...(callerId === undefined ? {} : { callerId })
  })
  const items = found.slice(0, limit)
  const last = found.length > limit ? items.at(-1) : undefined
  return { items, nextCursor: last === undefined ? null : toolCallCursor.encode({ requestedAt: last.requestedAt, callId: last.callId }) }
}

export async function showToolCall (sql: SqlExecutor, orgId: string, callId: string, now = new Date()): Promise<ToolCallView> {
  const view = await toolCallView(sql, orgId, callId, now)
  if (view === undefined) throw new ToolCallNotFound()
  return view
}
