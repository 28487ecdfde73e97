/**
 * AI budget burn-rate metrics, on the runtime's registry. No label names an
 * organization: which ones burn is what `GET /v1/admin/ai/budgets` and
 * `ledgerline ai budgets` answer.
 *
 *   ledgerline_ai_budget_orgs_burning{rule}                  gauge: organizations tripping page_1h, page_6h, ticket_3d
 *   ledgerline_ai_budget_orgs_blocked                        gauge: organizations blocked this month (budget above 0)
 *   ledgerline_ai_budget_burn_evaluated_timestamp_seconds    gauge: unix time of the last successful evaluation (0: none yet)
 *
 * Read at scrape from one evaluation, shared by every gauge of the scrape and
 * by any scrape within `maxAgeMs` (15 s): several Prometheus servers scraping
 * a node cost one query per period. The work is one SQL query; the rates are
 * arithmetic on its rows. A failed evaluation leaves the gauges as they were
 * and the timestamp old, which is what the staleness alert watches.
 */
import { Gauge, type Registry } from 'prom-client'
import { BURN_RULE_NAMES } from '../../domain/assistant/burn-rate.ts'
import type { BurnEvaluation } from './burn-rates.ts'

export const BURN_EVALUATION_MAX_AGE_MS = 15_000

export interface BurnMetricsOptions {
  readonly evaluate: (now: Date) => Promise<BurnEvaluation>
  readonly now?: () => Date
  readonly maxAgeMs?: number
  readonly onError?: (error: unknown) => void
}

export class BurnMetrics {
  #last: { at: number, evaluation: Promise<BurnEvaluation | undefined> } | undefined
  #evaluations = 0

  constructor (registry: Registry, private readonly options: BurnMetricsOptions) {
    const read = async (): Promise<BurnEvaluation | undefined> => this.#current()
    const burning = new Gauge({
      name: 'ledgerline_ai_budget_orgs_burning', labelNames: ['rule'], registers: [registry],
      help: 'Organizations whose AI budget burn rate trips each multiwindow rule (page_1h: >14.4 over 1h and 5m; ' +
        'page_6h: >6 over 6h and 30m; ticket_3d: >1 over 3d and 6h)',
      async collect () {
        const found = await read()
        if (found !== undefined) for (const rule of BURN_RULE_NAMES) this.set({ rule }, found.burning[rule])
      }
    })
    for (const rule of BURN_RULE_NAMES) burning.set({ rule }, 0)
    new Gauge({
      name: 'ledgerline_ai_budget_orgs_blocked', registers: [registry],
      help: 'Organizations blocked this month: their AI budget (above 0) is spent',
      async collect () {
        const found = await read()
        if (found !== undefined) this.set(found.blocked)
      }
    })
    new Gauge({
      name: 'ledgerline_ai_budget_burn_evaluated_timestamp_seconds', registers: [registry],
      help: 'Unix time of the last successful evaluation of the AI budget burn rates (0: none since the process started)',
      async collect () {
        const found = await read()
        if (found !== undefined) this.set(found.evaluatedAt.getTime() / 1000)
      }
    })
  }

  /** How many evaluations this node has started (tests). */
  get evaluations (): number {
    return this.#evaluations
  }

  /** The evaluation of the last `maxAgeMs`, or a new one; undefined when it failed. */
  #current (): Promise<BurnEvaluation | undefined> {
    const now = (this.options.now ?? (() => new Date()))()
    const maxAge = this.options.maxAgeMs ?? BURN_EVALUATION_MAX_AGE_MS
    if (this.#last !== undefined && now.getTime() - this.#last.at < maxAge) return this.#last.evaluation
    this.#evaluations++
    const evaluation = this.options.evaluate(now).catch((error: unknown) => {
      this.options.onError?.(error)
      // A failure is not kept: the next scrape tries again.
      if (this.#last?.evaluation === evaluation) this.#last = undefined
      return undefined
    })
    this.#last = { at: now.getTime(), evaluation }
    return evaluation
  }
}
