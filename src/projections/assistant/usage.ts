/**
 * The `ai_usage` read model: the assistant's usage per organization, UTC day,
 * member (the conversation's owner) and model, summed from `ai.usage.recorded`.
 * The day is the UTC day the record was stored, so a rebuild gives the same
 * rows. What the usage route reports and the daily token quota reads.
 */
import type { UsageRecorded } from '../../domain/assistant/events.ts'
import type { RecordedEvent } from '../../eventstore/types.ts'
import type { Projection } from '../projection.ts'

/** `YYYY-MM-DD` of an instant, in UTC. */
export function utcDay (at: Date): string {
  return at.toISOString().slice(0, 10)
}

export const usageProjection: Projection = {
  name: 'ai_usage',
  version: 1,
  eventTypes: ['ai.usage.recorded'],
  tables: ['ai_usage'],
  setup: `
    CREATE TABLE ai_usage (
      org_id text NOT NULL,
      day date NOT NULL,
      user_id text NOT NULL,
      model text NOT NULL,
      input_tokens bigint NOT NULL,
      -- Part of input_tokens, priced at the cached rate.
      cached_input_tokens bigint NOT NULL,
      output_tokens bigint NOT NULL,
      cost_micros bigint NOT NULL,
      responses integer NOT NULL,
      -- Responses whose figures are our estimate (the provider sent none).
      estimated integer NOT NULL,
      PRIMARY KEY (org_id, day, user_id, model));`,
  async apply (events: readonly RecordedEvent[], tx) {
    for (const event of events) {
      const d = event.data as UsageRecorded
      await tx.query(
        `INSERT INTO ai_usage AS u (org_id, day, user_id, model, input_tokens, cached_input_tokens, output_tokens, cost_micros,
           responses, estimated)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9)
         ON CONFLICT (org_id, day, user_id, model) DO UPDATE SET
           input_tokens = u.input_tokens + EXCLUDED.input_tokens,
           cached_input_tokens = u.cached_input_tokens + EXCLUDED.cached_input_tokens,
           output_tokens = u.output_tokens + EXCLUDED.output_tokens,
           cost_micros = u.cost_micros + EXCLUDED.cost_micros,
           responses = u.responses + 1,
           estimated = u.estimated + EXCLUDED.estimated`,
        [d.orgId, utcDay(event.recordedAt), d.userId, d.model, d.inputTokens, d.cachedInputTokens, d.outputTokens, d.costMicros,
          d.source === 'estimate' ? 1 : 0])
    }
  }
}
