/**
 * The assistant's monthly budgets, enforced before every model request
 * (docs/ai-budgets.md). A response reserves its estimate (input tokens plus
 * its output cap, at the model's prices) before each request it sends, and
 * settles to its recorded cost when its usage is recorded.
 *
 * Both live on one row per organization and UTC month (`ai_budget_months`),
 * so a reservation is one conditional upsert: `spent + reserved + estimate ≤
 * budget` is checked against the row as it stands under its lock, on
 * PostgreSQL across nodes and on PGlite's single connection alike, and of any
 * number of concurrent requests only those that fit pass. Nothing is spent
 * that was not reserved first, so the month never goes over its budget (unless
 * the provider counts more input tokens than our tokenizer). A settlement
 * deletes the response's reservation and moves its cost to spent in one
 * statement: the reservation row is the token that makes it happen once.
 *
 * One hot organization serializes on its month's row: each statement holds the
 * row's lock through its commit, so a node sending each reservation on its own
 * lets its callers queue one commit after another. A node therefore sends
 * what arrives for one organization and month while a call of theirs is under
 * way as one batch when it ends, settlements and reservations together, in one
 * call of a database function (migration 009): the settlements first, then,
 * under the row's lock, the longest run of reservations in arrival order that
 * fits (the rest are refused as before). The decision is made under the row's
 * lock as before, so the guarantee is the same; what changes is that one
 * round trip and one commit carry many, and a reservation waits for the batch
 * under way and its own.
 */
import { domainError } from '../../domain/errors.ts'
import type { SqlClient } from '../../sql/client.ts'
import { BoundedCache } from '../cache.ts'

export class AiBudgetExhausted extends domainError('ai.budget_exhausted', 402,
  'the organization\'s AI budget for this month cannot pay for this request: it resets on the 1st (UTC) or when the budget is raised') {}

/** What reserving needs to know of the organization: the budget in force and whether its month is blocked. */
export interface BudgetPolicy { readonly budgetMicros: number, readonly blocked: boolean }

export interface BudgetSources {
  policyOf(orgId: string, month: string): Promise<BudgetPolicy>
  /** Records what the month's spend crossed (thresholds, the block); after each settlement. */
  spent(orgId: string, month: string, spentMicros: number): Promise<void>
}

export interface Reservation {
  readonly orgId: string
  readonly conversationId: string
  readonly responseId: string
  /** The month it counts against (`YYYY-MM`): the month the response started in, for every step of it. */
  readonly month: string
  readonly estimateMicros: number
  readonly now: Date
}

export interface MonthFigures { readonly spentMicros: number, readonly reservedMicros: number }

/** How long a node trusts the budget and block it read; a change made on this node applies at once (`forget`). */
export const POLICY_TTL_MS = 2000

const monthDate = (month: string): string => `${month}-01`

/** One reservation alone (the common case, an organization with nothing else under way): one conditional upsert. */
const RESERVE = `WITH admitted AS (
    INSERT INTO ai_budget_months AS m (org_id, month, spent_micros, reserved_micros)
    SELECT $1, $2::date, 0, $3::bigint WHERE $3::bigint <= $4::bigint
    ON CONFLICT (org_id, month) DO UPDATE SET reserved_micros = m.reserved_micros + EXCLUDED.reserved_micros
      WHERE m.spent_micros + m.reserved_micros + EXCLUDED.reserved_micros <= $4::bigint
    RETURNING m.org_id),
  held AS (
    INSERT INTO ai_budget_reservations AS r (response_id, org_id, month, conversation_id, held_micros, expires_at)
    SELECT $5, $1, $2::date, $6, $3::bigint, $7::timestamptz FROM admitted
    ON CONFLICT (response_id) DO UPDATE SET held_micros = r.held_micros + EXCLUDED.held_micros, expires_at = EXCLUDED.expires_at
    RETURNING r.response_id)
  SELECT count(*)::int AS held FROM held`

/**
 * More in one batch of an organization's month, in one call (migration 009): its settlements, then its reservations, the
 * longest run in arrival order that fits, under the month row's lock.
 */
const BATCH = `SELECT admitted, month_spent::text AS spent, settled
  FROM ledgerline_ai_budget_batch($1, $2::date, $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[], $8::bigint,
    $9::timestamptz)`

/**
 * Settles a batch of settlements alone, or of responses whose month this node does not know (reserved by another
 * node, reconciled here): each listed reservation still held is deleted and its cost moved to spent (the row is the
 * token: one settled twice, or never reserved, moves nothing).
 */
const SETTLE = `WITH released AS (
    DELETE FROM ai_budget_reservations AS r USING unnest($1::text[], $2::bigint[]) AS s(response_id, cost)
     WHERE r.response_id = s.response_id
    RETURNING r.org_id, r.month, r.held_micros, s.cost),
  settled AS (SELECT org_id, month, sum(held_micros) AS held, sum(cost) AS cost FROM released GROUP BY org_id, month)
  UPDATE ai_budget_months AS m SET spent_micros = m.spent_micros + r.cost, reserved_micros = m.reserved_micros - r.held
    FROM settled AS r WHERE m.org_id = r.org_id AND m.month = r.month
  RETURNING m.org_id, to_char(m.month, 'YYYY-MM') AS month, m.spent_micros::text AS spent`

interface Waiting<T, R> { readonly item: T, resolve(result: R): void, reject(error: unknown): void }

/**
 * Sends what arrives for one key while the key's statement is under way as one batch when it ends; `run` answers
 * each item's result, in order. An error fails the whole batch.
 */
class Batches<T, R> {
  readonly #waiting = new Map<string, Array<Waiting<T, R>>>()
  readonly #running = new Set<string>()

  constructor (private readonly run: (key: string, items: T[]) => Promise<R[]>) {}

  add (key: string, item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const waiting = this.#waiting.get(key)
      if (waiting === undefined) this.#waiting.set(key, [{ item, resolve, reject }])
      else waiting.push({ item, resolve, reject })
      if (!this.#running.has(key)) void this.#drain(key)
    })
  }

  async #drain (key: string): Promise<void> {
    this.#running.add(key)
    try {
      for (let batch = this.#waiting.get(key); batch !== undefined; batch = this.#waiting.get(key)) {
        this.#waiting.delete(key)
        try {
          const results = await this.run(key, batch.map((waiting) => waiting.item))
          batch.forEach((waiting, i) => waiting.resolve(results[i]!))
        } catch (error) {
          for (const waiting of batch) waiting.reject(error)
        }
      }
    } finally {
      this.#running.delete(key)
    }
  }
}

interface Held { readonly kind: 'reserve', readonly reservation: Reservation, readonly budgetMicros: number }
interface Settling { readonly kind: 'settle', readonly responseId: string, readonly costMicros: number }

/** How many reservations' months a node remembers for their settlements; one it forgot is settled on its own. */
const MAX_KEYS = 100_000

const KEY_SEPARATOR = '\u0000'
const keyOf = (orgId: string, month: string): string => `${orgId}${KEY_SEPARATOR}${month}`

export class AiBudgets {
  readonly #policies: BoundedCache<BudgetPolicy & { month: string }>
  /** Per organization and month: its reservations and settlements, one call a batch. */
  readonly #months = new Batches<Held | Settling, boolean>((key, items) => this.#monthBatch(key, items))
  /** Settlements of reservations whose month this node does not know. */
  readonly #unknownMonths = new Batches<Settling, boolean>((_key, settling) => this.#settleBatch(settling))
  /** The organization and month of each reservation this node holds: its settlement joins that month's batch. */
  readonly #keys = new Map<string, string>()

  constructor (
    private readonly sql: SqlClient, private readonly sources: BudgetSources,
    private readonly ttlMs: number, policyTtlMs = POLICY_TTL_MS
  ) {
    this.#policies = new BoundedCache(10_000, policyTtlMs)
  }

  /** Drops what this node knows of the organization's budget (it changed here). */
  forget (orgId: string): void {
    this.#policies.delete(orgId)
  }

  /** Holds `estimateMicros` more for the response, or throws AiBudgetExhausted (nothing held then). */
  async reserve (reservation: Reservation): Promise<void> {
    const { orgId, month, estimateMicros } = reservation
    const policy = await this.#policyOf(orgId, month)
    const refuse = async (): Promise<never> => {
      const figures = await this.month(orgId, month)
      throw new AiBudgetExhausted(undefined,
        { month, budgetMicros: policy.budgetMicros, ...figures, estimateMicros, blocked: policy.blocked })
    }
    if (policy.blocked) return refuse()
    const key = keyOf(orgId, month)
    if (!await this.#months.add(key, { kind: 'reserve', reservation, budgetMicros: policy.budgetMicros })) return refuse()
    this.#keys.set(reservation.responseId, key)
    // A response settled elsewhere (its reservation expired and was reconciled) leaves its key here: the oldest go.
    if (this.#keys.size > MAX_KEYS) this.#keys.delete(this.#keys.keys().next().value!)
  }

  /** Moves the response's reservation to spent at `costMicros`; nothing when it is settled already (or never reserved). */
  async settle (responseId: string, costMicros: number): Promise<void> {
    const key = this.#keys.get(responseId)
    this.#keys.delete(responseId)
    const settling: Settling = { kind: 'settle', responseId, costMicros }
    // Held by another node (a reconciliation): settled on its own, as its month is not known here.
    if (key === undefined) await this.#unknownMonths.add(responseId, settling)
    else await this.#months.add(key, settling)
  }

  /**
   * One month's batch: a reservation alone is one statement, settlements alone one more; anything else is one call
   * of migration 009's function, the settlements first (what they free is free for the reservations), then the
   * reservations, the longest run in arrival order that fits. The month's spend is recorded once, at what the
   * settlements left it.
   */
  async #monthBatch (key: string, batch: ReadonlyArray<Held | Settling>): Promise<boolean[]> {
    const holds = batch.filter((item): item is Held => item.kind === 'reserve')
    const settlements = batch.filter((item): item is Settling => item.kind === 'settle')
    if (holds.length === 0) return this.#settleBatch(settlements)
    const [orgId, month] = key.split(KEY_SEPARATOR) as [string, string]
    const reservations = holds.map((held) => held.reservation)
    // The budget each was read under may differ if it changed meanwhile: the least of them binds the batch.
    const budgetMicros = Math.min(...holds.map((held) => held.budgetMicros))
    const expiresAt = new Date(Math.max(...reservations.map((reservation) => reservation.now.getTime())) + this.ttlMs)
    if (batch.length === 1) {
      const only = reservations[0]!
      const { rows } = await this.sql.query<{ held: number }>(RESERVE, [
        orgId, monthDate(month), only.estimateMicros, budgetMicros, only.responseId, only.conversationId, expiresAt
      ], { name: 'ai_budget_reserve' })
      return [rows[0]?.held === 1]
    }
    const { rows } = await this.sql.query<{ admitted: boolean[], spent: string, settled: number }>(BATCH, [
      orgId, monthDate(month), settlements.map((settling) => settling.responseId), settlements.map((settling) => settling.costMicros),
      reservations.map((reservation) => reservation.responseId), reservations.map((reservation) => reservation.conversationId),
      reservations.map((reservation) => reservation.estimateMicros), budgetMicros, expiresAt
    ], { name: 'ai_budget_batch' })
    const { admitted, spent, settled } = rows[0]!
    if (settled > 0) await this.sources.spent(orgId, month, Number(spent))
    let next = 0
    return batch.map((item) => item.kind === 'settle' || admitted[next++] === true)
  }

  /** Settlements in one statement; then each month's spend is recorded once. */
  async #settleBatch (batch: readonly Settling[]): Promise<boolean[]> {
    const { rows } = await this.sql.query<{ org_id: string, month: string, spent: string }>(SETTLE, [
      batch.map((settling) => settling.responseId), batch.map((settling) => settling.costMicros)
    ], { name: 'ai_budget_settle' })
    for (const row of rows) await this.sources.spent(row.org_id, row.month, Number(row.spent))
    return batch.map(() => true)
  }

  /** Reservations held past their expiry (their node died, or never settled them), oldest first. */
  async expired (now: Date, limit = 100): Promise<Array<{ responseId: string, conversationId: string, orgId: string }>> {
    const { rows } = await this.sql.query<{ response_id: string, conversation_id: string, org_id: string }>(
      `SELECT response_id, conversation_id, org_id FROM ai_budget_reservations
        WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2`, [now, limit])
    return rows.map((row) => ({ responseId: row.response_id, conversationId: row.conversation_id, orgId: row.org_id }))
  }

  /** Gives a reservation whose response may still end by itself another term. */
  async extend (responseId: string, now: Date): Promise<void> {
    await this.sql.query('UPDATE ai_budget_reservations SET expires_at = $2 WHERE response_id = $1',
      [responseId, new Date(now.getTime() + this.ttlMs)])
  }

  /** What the organization's month has spent and holds. */
  async month (orgId: string, month: string): Promise<MonthFigures> {
    const { rows } = await this.sql.query<{ spent: string, reserved: string }>(
      'SELECT spent_micros::text AS spent, reserved_micros::text AS reserved FROM ai_budget_months WHERE org_id = $1 AND month = $2::date',
      [orgId, monthDate(month)])
    return { spentMicros: Number(rows[0]?.spent ?? 0), reservedMicros: Number(rows[0]?.reserved ?? 0) }
  }

  /** The budget and block in force, read again when cached for another month (a block ends with its month). */
  async #policyOf (orgId: string, month: string): Promise<BudgetPolicy> {
    const cached = this.#policies.get(orgId)
    if (cached?.month === month) return cached
    const policy = await this.sources.policyOf(orgId, month)
    this.#policies.set(orgId, { ...policy, month })
    return policy
  }
}
