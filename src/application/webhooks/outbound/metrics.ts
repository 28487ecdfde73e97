/**
 * Outbound webhook metrics, on the runtime's registry. No label names an
 * organization or an endpoint: per-endpoint figures come from the read
 * model and the API (`GET …/endpoints/:endpointId`, `…/attempts`).
 *
 *   ledgerline_webhook_deliveries_total{outcome}          counter, per attempt: delivered, failed, gone, refused, timeout
 *   ledgerline_webhook_attempt_duration_seconds            histogram of attempts that reached the network
 *   ledgerline_webhook_messages_exhausted_total            counter: messages whose 8 scheduled attempts all failed
 *   ledgerline_webhook_endpoints_disabled                  gauge, read from the read model at scrape
 *   ledgerline_webhook_oldest_unattempted_age_seconds      gauge: age of the oldest message not attempted yet (pending, no
 *                                                          attempt, not held by a disabled endpoint); 0 when none
 *
 * The age measures Ledgerline's own delay, from the fan-out to the first
 * attempt, not its customers' receivers: a message whose receiver failed is
 * waiting for its retry on the schedule, by design, for up to a day; counted
 * here it would page on-call for every organization's broken endpoint. A
 * failing receiver shows in its endpoint's health and, after five days, in
 * the disabled gauge; retries our runners fail to start show in the jobs'
 * own `ledgerline_jobs_oldest_due_seconds`. Held messages are left out for
 * the same reason: a disabled endpoint has its own gauge and alert.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { ATTEMPT_OUTCOMES, type AttemptOutcome } from '../../../domain/webhooks/outbound-events.ts'
import { outboundHealth } from '../../../projections/webhooks/outbound-queries.ts'
import type { SqlExecutor } from '../../../sql/client.ts'

const DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15]

export class OutboundMetrics {
  readonly #deliveries: Counter<'outcome'>
  readonly #duration: Histogram
  readonly #exhausted: Counter

  constructor (registry: Registry, sql: SqlExecutor, now: () => Date = () => new Date()) {
    this.#deliveries = new Counter({
      name: 'ledgerline_webhook_deliveries_total', help: 'Outbound webhook delivery attempts by outcome', labelNames: ['outcome'],
      registers: [registry]
    })
    for (const outcome of ATTEMPT_OUTCOMES) this.#deliveries.inc({ outcome }, 0)
    this.#duration = new Histogram({
      name: 'ledgerline_webhook_attempt_duration_seconds', help: 'How long outbound webhook attempts took, to the answer or the error',
      buckets: DURATION_BUCKETS, registers: [registry]
    })
    this.#exhausted = new Counter({
      name: 'ledgerline_webhook_messages_exhausted_total',
      help: 'Outbound webhook messages whose scheduled attempts all failed (each ends exhausted until a resend or recovery)',
      registers: [registry]
    })
    // One read serves both gauges: each scrape reads the model once per gauge otherwise, and they would disagree.
    let health: Promise<{ disabled: number, oldestUnattemptedAt: Date | null } | undefined> | undefined
    const read = () => (health ??= outboundHealth(sql).catch(() => undefined).finally(() => setImmediate(() => { health = undefined })))
    new Gauge({
      name: 'ledgerline_webhook_endpoints_disabled', help: 'Outbound webhook endpoints disabled (by hand, after failures, or gone)',
      registers: [registry],
      async collect () {
        const found = await read()
        if (found !== undefined) this.set(found.disabled)
      }
    })
    new Gauge({
      name: 'ledgerline_webhook_oldest_unattempted_age_seconds',
      help: 'Seconds since the oldest outbound message not attempted yet was created (in retry or held: left out; 0 when none)',
      registers: [registry],
      async collect () {
        const found = await read()
        if (found === undefined) return
        const oldest = found.oldestUnattemptedAt
        this.set(oldest === null ? 0 : Math.max(0, (now().getTime() - oldest.getTime()) / 1000))
      }
    })
  }

  exhausted (): void {
    this.#exhausted.inc()
  }

  attempted (outcome: AttemptOutcome, seconds: number): void {
    this.#deliveries.inc({ outcome })
    this.#duration.observe(seconds)
  }
}
