/**
 * Inbound webhooks' metrics, on the runtime's registry. Labels are the kind
 * of source (`stripe` or `standard`) and the outcome: never a source id or
 * an organization (thousands of sources would be thousands of series).
 *
 *   ledgerline_webhooks_received_total{source, outcome}     counter: every message answered, by what it was answered
 *   ledgerline_webhooks_signature_failures_total{source}    counter: bad signatures alone (an attack, or a rotated secret)
 *   ledgerline_webhooks_processed_total{source, outcome}    counter: processing outcomes (a failed attempt counts as failed)
 *
 * One instance per registry (the route, the job handler and the reactor of a
 * runtime share it), made when the runtime opens so every series starts at 0.
 */
import { Counter, type Registry } from 'prom-client'
import { INBOUND_SOURCE_KINDS, type InboundSourceKind } from '../../../domain/webhooks/inbound-events.ts'

export const RECEIVED_OUTCOMES = ['accepted', 'duplicate', 'invalid_signature', 'stale_timestamp', 'invalid_headers', 'invalid_body',
  'too_large', 'rate_limited', 'unknown_source', 'not_configured'] as const
export type ReceivedOutcome = typeof RECEIVED_OUTCOMES[number]
export const PROCESSED_METRIC_OUTCOMES = ['applied', 'skipped', 'failed'] as const
export type ProcessedMetricOutcome = typeof PROCESSED_METRIC_OUTCOMES[number]

export class InboundMetrics {
  readonly #received: Counter<'source' | 'outcome'>
  readonly #signatureFailures: Counter<'source'>
  readonly #processed: Counter<'source' | 'outcome'>

  constructor (registry: Registry) {
    this.#received = new Counter({
      name: 'ledgerline_webhooks_received_total', help: 'Inbound webhook messages answered, by kind of source and outcome',
      labelNames: ['source', 'outcome'], registers: [registry]
    })
    this.#signatureFailures = new Counter({
      name: 'ledgerline_webhooks_signature_failures_total', help: 'Inbound webhook messages whose signature matched no secret',
      labelNames: ['source'], registers: [registry]
    })
    this.#processed = new Counter({
      name: 'ledgerline_webhooks_processed_total', help: 'Inbound webhook processing outcomes, by kind of source',
      labelNames: ['source', 'outcome'], registers: [registry]
    })
    for (const source of INBOUND_SOURCE_KINDS) {
      for (const outcome of RECEIVED_OUTCOMES) this.#received.inc({ source, outcome }, 0)
      this.#signatureFailures.inc({ source }, 0)
      for (const outcome of PROCESSED_METRIC_OUTCOMES) this.#processed.inc({ source, outcome }, 0)
    }
  }

  received (source: InboundSourceKind, outcome: ReceivedOutcome): void {
    this.#received.inc({ source, outcome })
    if (outcome === 'invalid_signature') this.#signatureFailures.inc({ source })
  }

  processed (source: InboundSourceKind, outcome: ProcessedMetricOutcome): void {
    this.#processed.inc({ source, outcome })
  }
}

const byRegistry = new WeakMap<Registry, InboundMetrics>()

/** The registry's inbound metrics, made on first use. */
export function inboundMetrics (registry: Registry): InboundMetrics {
  let metrics = byRegistry.get(registry)
  if (metrics === undefined) {
    metrics = new InboundMetrics(registry)
    byRegistry.set(registry, metrics)
  }
  return metrics
}
