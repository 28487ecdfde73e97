/**
 * Reads of an organization's sources and of the messages a source received:
 * keyset pages, newest first, with an opaque cursor. Who may read is the
 * route's declared action; these read what they are asked, in the
 * organization given.
 */
import { z } from 'zod'
import { cursorCodec } from '../../../domain/cursor.ts'
import { WebhookSourceNotFound } from '../../../domain/webhooks/inbound-errors.ts'
import { pgTimestamp } from '../../../domain/values.ts'
import { SourceId } from '../../../domain/webhooks/inbound-events.ts'
import {
  messagesPage, sourcesPage, sourceView, type MessageView, type SourceView
} from '../../../projections/webhooks/inbound-queries.ts'
import type { SqlExecutor } from '../../../sql/client.ts'
import { activeSecrets, type SecretInfo, type SourceServices } from './sources.ts'

/** Sources, newest first: the last one's creation time and id. */
export const sourceCursor = cursorCodec('webhook-sources.1', z.object({ createdAt: pgTimestamp, sourceId: SourceId }).strict())
/** A source's messages, newest first: the last one's receipt time and stream. */
export const messageCursor = cursorCodec('webhook-messages.1',
  z.object({ receivedAt: pgTimestamp, streamId: z.string().regex(/^whin-[A-Za-z0-9._~:@+-]{1,200}$/) }).strict())

export interface Page<T> { readonly items: T[], readonly nextCursor: string | null }

/** Reads `limit + 1` to know whether a page follows; `keyOf` makes the cursor of the last item shown. */
async function paged<T> (limit: number, read: (count: number) => Promise<T[]>, keyOf: (last: T) => string): Promise<Page<T>> {
  const found = await read(limit + 1)
  const items = found.slice(0, limit)
  return { items, nextCursor: found.length > limit ? keyOf(items.at(-1)!) : null }
}

export function listSources (sql: SqlExecutor, orgId: string, page: { limit: number, cursor?: string }): Promise<Page<SourceView>> {
  const after = page.cursor === undefined ? undefined : sourceCursor.decode(page.cursor)
  return paged(page.limit, (count) => sourcesPage(sql, orgId, count, after),
    (last) => sourceCursor.encode({ createdAt: last.createdAt, sourceId: last.sourceId }))
}

export async function showSource (services: SourceServices & { sql: SqlExecutor }, orgId: string, sourceId: string):
Promise<SourceView & { secrets: SecretInfo[] }> {
  const view = await sourceView(services.sql, orgId, sourceId)
  if (view === undefined) throw new WebhookSourceNotFound(undefined, { sourceId })
  return { ...view, secrets: view.status === 'enabled' ? await activeSecrets(services, sourceId) : [] }
}

export async function listMessages (
  sql: SqlExecutor, orgId: string, sourceId: string, page: { limit: number, cursor?: string }
): Promise<Page<MessageView>> {
  const after = page.cursor === undefined ? undefined : messageCursor.decode(page.cursor)
  if (await sourceView(sql, orgId, sourceId) === undefined) throw new WebhookSourceNotFound(undefined, { sourceId })
  return paged(page.limit, (count) => messagesPage(sql, sourceId, count, after),
    (last) => messageCursor.encode({ receivedAt: last.receivedAt, streamId: last.streamId }))
}
