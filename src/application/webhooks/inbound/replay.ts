/**
 * Replaying a source's stored messages: processing runs again over each, in
 * the order they were received (their log order), within a window of
 * receipt times. It is what processing does, so it is idempotent the same
 * way: an outcome already recorded, an object event already applied and a
 * plan already set write nothing, and a second replay changes nothing. What
 * it changes is what processing now decides otherwise (a customer linked
 * since a message was skipped as unknown). A dry run decides the same
 * without writing, and says what would change.
 */
import { countMessages, messagesInLogOrder, type LogKey, type ReplayWindow } from '../../../projections/webhooks/inbound-queries.ts'
import { dryRun, processMessage, type ProcessServices, type Processing } from './process.ts'

/** Messages read per query. */
const PAGE = 500

export interface ReplayOptions extends ReplayWindow {
  readonly dryRun?: boolean
  /** Told of each message processed, with how many of `total` are done. */
  readonly onMessage?: (processing: Processing, done: number, total: number) => void
}

export interface ReplaySummary {
  readonly sourceId: string
  readonly dryRun: boolean
  readonly messages: number
  readonly applied: number
  readonly skipped: number
  /** Messages whose processing changed something (or, dry, would). */
  readonly changed: number
}

export async function replayMessages (services: ProcessServices, sourceId: string, options: ReplayOptions = {}): Promise<ReplaySummary> {
  const { sql } = services.identity
  const window = { ...(options.from === undefined ? {} : { from: options.from }), ...(options.to === undefined ? {} : { to: options.to }) }
  const total = await countMessages(sql, sourceId, window)
  const counts = { messages: 0, applied: 0, skipped: 0, changed: 0 }
  const dry = options.dryRun === true ? dryRun() : undefined
  let after: LogKey | undefined
  for (;;) {
    const page = await messagesInLogOrder(sql, sourceId, window, PAGE, after)
    for (const { streamId } of page) {
      const processing = await processMessage(services, streamId, dry)
      counts.messages++
      counts[processing.outcome]++
      if (processing.changes.length > 0) counts.changed++
      options.onMessage?.(processing, counts.messages, Math.max(total, counts.messages))
    }
    if (page.length < PAGE) break
    after = page.at(-1)!.key
  }
  return { sourceId, dryRun: options.dryRun === true, ...counts }
}
