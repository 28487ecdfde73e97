/**
 * The assistant's quotas, checked before a message is appended or the model
 * called: requests per minute per member, tokens per day per organization.
 *
 * Requests per minute are counted in `ai_quota_windows`, one row per member and
 * minute, by one conditional upsert: PostgreSQL's row lock makes it atomic
 * across nodes, so of 20 concurrent requests with a limit of N exactly N pass.
 * Tokens per day are read from the day's recorded usage (in the same statement):
 * a request is admitted while the organization's usage today is under its
 * limit (a response in flight may take it past the limit by its own size; the
 * next request is refused). The limits themselves are cached for a moment.
 */
import type { QuotaLimits } from '../../domain/assistant/quota.ts'
import { domainError } from '../../domain/errors.ts'
import { isUndefinedTable, type SqlClient } from '../../sql/client.ts'
import { BoundedCache } from '../cache.ts'

export type { QuotaLimits }

export class AiQuotaExceeded extends domainError('ai.quota_exceeded', 429, 'the assistant quota is used up: retry later') {
  constructor (readonly quota: 'requests_per_minute' | 'tokens_per_day', readonly limit: number, readonly retryAfterSeconds: number) {
    super(quota === 'requests_per_minute'
      ? `at most ${limit} assistant requests per minute per member: retry in ${retryAfterSeconds} s`
      : `the organization's ${limit} assistant tokens for today are used up: retry in ${retryAfterSeconds} s`,
    { quota, limit, retryAfterSeconds })
  }
}

export interface AiQuotaSources {
  /** The organization's limits: its plan's defaults with its overrides applied. */
  limitsOf(orgId: string): Promise<QuotaLimits>
}

const MINUTE_MS = 60_000
const DAY_MS = 86_400_000
/**
 * How long a node trusts the limits it read. A change made on this node applies at once (`forget`); on
 * another node within this time. Reading them costs two stream reads, on the path to the first token.
 */
export const LIMITS_TTL_MS = 2000

function secondsUntil (now: Date, end: number): number {
  return Math.max(1, Math.ceil((end - now.getTime()) / 1000))
}

/**
 * One statement, one round trip: the organization's tokens today (from the `ai_usage` read model), the
 * member's earlier windows pruned, and the request counted in this minute's window unless the day's tokens
 * are used up or the window is full. The conflicting row's lock serializes concurrent admits on any node.
 */
function admitStatement (withUsage: boolean): string {
  const used = withUsage
    ? 'SELECT coalesce(sum(input_tokens + output_tokens), 0)::bigint AS tokens FROM ai_usage WHERE org_id = $1 AND day = $5::date'
    : 'SELECT 0::bigint AS tokens WHERE $5::date IS NOT NULL'
  return `WITH used AS (${used}),
    pruned AS (DELETE FROM ai_quota_windows WHERE org_id = $1 AND user_id = $2 AND window_start < $3),
    counted AS (
      INSERT INTO ai_quota_windows AS w (org_id, user_id, window_start, requests)
      SELECT $1, $2, $3, 1 WHERE (SELECT tokens FROM used) < $6::bigint
      ON CONFLICT (org_id, user_id, window_start) DO UPDATE SET requests = w.requests + 1 WHERE w.requests < $4
      RETURNING w.requests)
    SELECT (SELECT tokens FROM used)::text AS tokens, (SELECT requests FROM counted) AS requests`
}

export class AiQuotas {
  readonly #limits: BoundedCache<QuotaLimits>

  constructor (private readonly sql: SqlClient, private readonly sources: AiQuotaSources, limitsTtlMs = LIMITS_TTL_MS) {
    this.#limits = new BoundedCache(10_000, limitsTtlMs)
  }

  /** Drops what this node knows of the organization's limits (they changed here). */
  forget (orgId: string): void {
    this.#limits.delete(orgId)
  }

  /** Admits one request of `userId` in `orgId` at `now`, or throws AiQuotaExceeded (nothing counted then). */
  async admit (orgId: string, userId: string, now: Date): Promise<void> {
    const limits = await this.limitsOf(orgId)
    const windowStart = Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS
    const dayStart = Math.floor(now.getTime() / DAY_MS) * DAY_MS
    const perMinute = (): AiQuotaExceeded =>
      new AiQuotaExceeded('requests_per_minute', limits.requestsPerMinute, secondsUntil(now, windowStart + MINUTE_MS))
    if (limits.requestsPerMinute <= 0) throw perMinute()
    const params = [orgId, userId, new Date(windowStart), limits.requestsPerMinute, new Date(dayStart).toISOString().slice(0, 10),
      limits.tokensPerDay]
    type Row = { tokens: string, requests: number | null }
    const { rows } = await this.sql.query<Row>(admitStatement(true), params, { name: 'ai_quota_admit' })
      .catch(async (error: unknown) => {
        // Before the projections' first start has made the read model, no usage is recorded anywhere yet.
        if (!isUndefinedTable(error)) throw error
        return this.sql.query<Row>(admitStatement(false), params)
      })
    const row = rows[0]
    if (row !== undefined && Number(row.tokens) >= limits.tokensPerDay) {
      throw new AiQuotaExceeded('tokens_per_day', limits.tokensPerDay, secondsUntil(now, dayStart + DAY_MS))
    }
    if (row?.requests === null || row?.requests === undefined) throw perMinute()
  }

  private async limitsOf (orgId: string): Promise<QuotaLimits> {
    const cached = this.#limits.get(orgId)
    if (cached !== undefined) return cached
    const limits = await this.sources.limitsOf(orgId)
    this.#limits.set(orgId, limits)
    return limits
  }
}
