/** What the budget tests share: a price of one micro-unit a token, and the usage the log records for a month. */
import type { Runtime } from '../../src/runtime.ts'

/** AI_PRICES for the tests' model: input, cached input and output all at 1 micro-unit a token, so costs are token counts. */
export const ONE_MICRO_PER_TOKEN = JSON.stringify({
  'gpt-test': { inputMicrosPerMillion: 1_000_000, cachedInputMicrosPerMillion: 1_000_000, outputMicrosPerMillion: 1_000_000 }
})

/**
 * The organization's usage records in the log whose time is in `month` (YYYY-MM), read from the events table itself
 * (not a read model, and not through a reader that waits for older transactions to end).
 */
export async function budgetUsage (
  w: { runtime: Runtime, orgId: string }, month: string
): Promise<{ responses: number, costMicros: number }> {
  const { rows } = await w.runtime.sql.query<{ n: number, cost: string }>(
    `SELECT count(*)::int AS n, coalesce(sum((data->>'costMicros')::bigint), 0)::text AS cost FROM events
      WHERE type = 'ai.usage.recorded' AND data->>'orgId' = $1 AND left(metadata->>'occurredAt', 7) = $2`, [w.orgId, month])
  return { responses: rows[0]!.n, costMicros: Number(rows[0]!.cost) }
}
