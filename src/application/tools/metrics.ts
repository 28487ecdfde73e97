/**
 * The tools' metrics, on the runtime's registry. Labels are the tool's name
 * (a bounded set: tools are registered in code) and the outcome; never an
 * organization, a caller or a call id.
 *
 *   ledgerline_tool_calls_total{tool, outcome}            counter
 *   ledgerline_tool_call_duration_seconds{tool, outcome}  histogram: the pipeline's time per call, from the request (or the
 *                                                         approval) to its outcome, attempts and backoff included
 *
 * Outcomes: succeeded, failed, timed_out, invalid_output (failures of the
 * body), invalid_input, denied (refusals before anything ran), and
 * approval_required (the call waits; its approval is counted again with
 * what then happened).
 */
import { Counter, Histogram, type Registry } from 'prom-client'

export const TOOL_OUTCOMES = ['succeeded', 'failed', 'timed_out', 'invalid_output', 'invalid_input', 'denied', 'approval_required'] as const
export type ToolOutcomeLabel = typeof TOOL_OUTCOMES[number]

/** What the pipeline reports each call's outcome to. */
export interface ToolCallObserver {
  ended(tool: string, outcome: ToolOutcomeLabel, seconds: number): void
}

export class ToolMetrics implements ToolCallObserver {
  readonly #calls: Counter<'tool' | 'outcome'>
  readonly #duration: Histogram<'tool' | 'outcome'>

  /** `tools`: the registered names, whose series exist from the start at 0 (increase() cannot see the first increment). */
  constructor (registry: Registry, tools: readonly string[] = []) {
    this.#calls = new Counter({
      name: 'ledgerline_tool_calls_total', help: 'Tool calls by tool and outcome', labelNames: ['tool', 'outcome'], registers: [registry]
    })
    this.#duration = new Histogram({
      name: 'ledgerline_tool_call_duration_seconds', help: 'How long tool calls took in the pipeline, by tool and outcome',
      labelNames: ['tool', 'outcome'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120], registers: [registry]
    })
    for (const tool of tools) for (const outcome of TOOL_OUTCOMES) this.#calls.inc({ tool, outcome }, 0)
  }

  ended (tool: string, outcome: ToolOutcomeLabel, seconds: number): void {
    this.#calls.inc({ tool, outcome })
    this.#duration.observe({ tool, outcome }, seconds)
  }
}
