/**
 * The tools' metrics, on the runtime's registry. Labels are the tool's name
 * (a bounded set: tools are registered in code) and the outcome; never an
 * organization, a caller or a call id.
 *
 *   ledgerline_tool_calls_total{tool, outcome}            counter
 *   ledgerline_tool_call_duration_seconds{tool, outcome}  histogram: the pipeline's time per call, from the request (or the
 *                                                         approval) to its outcome, attempts and backoff included
 *   ledgerline_tool_timeout_seconds{tool}                 gauge: each registered tool's timeout, its latency budget
 *
 * The timeouts differ per tool, so the alert on latency over budget
 * (LedgerlineToolLatencyOverBudget) compares each tool's quantile with this
 * gauge rather than with a constant per tool in the rules. Every timeout
 * given is also a bound of the histogram's buckets, which makes the
 * comparison exact: the 95th percentile is above a bound exactly when more
 * than 5% of the calls took longer.
 *
 * Outcomes: succeeded, failed, timed_out, invalid_output (failures of the
 * body), invalid_input, denied (refusals before anything ran), and
 * approval_required (the call waits; its approval is counted again with
 * what then happened).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

export const TOOL_OUTCOMES = ['succeeded', 'failed', 'timed_out', 'invalid_output', 'invalid_input', 'denied', 'approval_required'] as const
export type ToolOutcomeLabel = typeof TOOL_OUTCOMES[number]

/** What the pipeline reports each call's outcome to. */
export interface ToolCallObserver {
  ended(tool: string, outcome: ToolOutcomeLabel, seconds: number): void
}

/** A tool as its metrics know it: a name alone, or with the timeout its budget gauge exports (a registered tool is one). */
export type MeteredTool = string | { readonly name: string, readonly timeoutMs: number }

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120]

export class ToolMetrics implements ToolCallObserver {
  readonly #calls: Counter<'tool' | 'outcome'>
  readonly #duration: Histogram<'tool' | 'outcome'>

  /**
   * `tools`: the registered tools, whose series exist from the start at 0 (increase() cannot see the first increment);
   * those given with their timeout export it as their budget, and it is a bound of the duration histogram.
   */
  constructor (registry: Registry, tools: readonly MeteredTool[] = []) {
    const timeouts = tools.flatMap((entry) => typeof entry === 'string' ? [] : [entry.timeoutMs / 1000])
    this.#calls = new Counter({
      name: 'ledgerline_tool_calls_total', help: 'Tool calls by tool and outcome', labelNames: ['tool', 'outcome'], registers: [registry]
    })
    this.#duration = new Histogram({
      name: 'ledgerline_tool_call_duration_seconds', help: 'How long tool calls took in the pipeline, by tool and outcome',
      labelNames: ['tool', 'outcome'], buckets: [...new Set([...DURATION_BUCKETS, ...timeouts])].sort((a, b) => a - b),
      registers: [registry]
    })
    const budget = new Gauge({
      name: 'ledgerline_tool_timeout_seconds', help: 'Each registered tool\'s timeout, the budget its latency is held to',
      labelNames: ['tool'], registers: [registry]
    })
    for (const entry of tools) {
      const tool = typeof entry === 'string' ? entry : entry.name
      for (const outcome of TOOL_OUTCOMES) this.#calls.inc({ tool, outcome }, 0)
      if (typeof entry !== 'string') budget.set({ tool }, entry.timeoutMs / 1000)
    }
  }

  ended (tool: string, outcome: ToolOutcomeLabel, seconds: number): void {
    this.#calls.inc({ tool, outcome })
    this.#duration.observe({ tool, outcome }, seconds)
  }
}
