/**
 * The assistant's metrics, on the runtime's registry; no organization, user
 * or conversation label (the usage read model has those).
 *
 *   ledgerline_ai_streams_open                     gauge: this node's open assistant SSE streams
 *   ledgerline_ai_time_to_first_token_seconds      histogram: from the message's arrival to the first text or tool delta sent
 *   ledgerline_ai_upstream_requests_total          counter: requests sent to the model (one per step), the error rate's denominator
 *   ledgerline_ai_upstream_errors_total{kind}      counter: rate_limited, server_error, client_error, connection, interrupted
 *   ledgerline_ai_tokens_total{direction}          counter: input, output, cached_input, from each usage record
 *
 * A client's disconnect or stop is not an upstream error. Every series exists
 * from the start at 0, so increase() sees the first one.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { UPSTREAM_ERROR_KINDS, type UpstreamErrorKind } from './upstream.ts'

export const TOKEN_DIRECTIONS = ['input', 'output', 'cached_input'] as const

export class AssistantMetrics {
  readonly #streams: Gauge
  readonly #firstToken: Histogram
  readonly #requests: Counter
  readonly #errors: Counter<'kind'>
  readonly #tokens: Counter<'direction'>

  constructor (registry: Registry) {
    this.#streams = new Gauge({
      name: 'ledgerline_ai_streams_open', help: 'Open assistant SSE streams on this node', registers: [registry]
    })
    this.#firstToken = new Histogram({
      name: 'ledgerline_ai_time_to_first_token_seconds', help: 'From a message\'s arrival to the first delta sent to its client',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers: [registry]
    })
    this.#requests = new Counter({
      name: 'ledgerline_ai_upstream_requests_total', help: 'Requests sent to the model upstream (one per step)', registers: [registry]
    })
    this.#errors = new Counter({
      name: 'ledgerline_ai_upstream_errors_total', help: 'Failed requests to the model upstream, by kind', labelNames: ['kind'],
      registers: [registry]
    })
    this.#tokens = new Counter({
      name: 'ledgerline_ai_tokens_total', help: 'Tokens of recorded usage, by direction', labelNames: ['direction'], registers: [registry]
    })
    for (const kind of UPSTREAM_ERROR_KINDS) this.#errors.inc({ kind }, 0)
    for (const direction of TOKEN_DIRECTIONS) this.#tokens.inc({ direction }, 0)
  }

  /** A stream opened; the returned function closes it (once). */
  streamOpened (): () => void {
    this.#streams.inc()
    let open = true
    return () => {
      if (open) this.#streams.dec()
      open = false
    }
  }

  firstToken (seconds: number): void {
    this.#firstToken.observe(seconds)
  }

  upstreamRequest (): void {
    this.#requests.inc()
  }

  upstreamError (kind: UpstreamErrorKind): void {
    this.#errors.inc({ kind })
  }

  tokens (usage: { inputTokens: number, outputTokens: number, cachedInputTokens: number }): void {
    this.#tokens.inc({ direction: 'input' }, usage.inputTokens)
    this.#tokens.inc({ direction: 'output' }, usage.outputTokens)
    this.#tokens.inc({ direction: 'cached_input' }, usage.cachedInputTokens)
  }
}
