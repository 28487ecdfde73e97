/**
 * The tools' metrics as Prometheus reads them: every registered tool's
 * counters exist at 0 from the start, each tool given with its timeout
 * exports it as its budget (ledgerline_tool_timeout_seconds) and makes it a
 * bound of the duration histogram, so the latency-over-budget alert's "95th
 * percentile above the timeout" means exactly "more than 5% of the calls
 * took longer than their timeout", whatever the timeout.
 */
import { Registry } from 'prom-client'
import t from 'tap'
import { parseMetrics, valueOf, type Sample } from '../../ops/lib/prometheus-text.ts'
import { applicationTools } from './business/index.ts'
import { TOOL_OUTCOMES, ToolMetrics } from './metrics.ts'

async function scrape (registry: Registry): Promise<Sample[]> {
  return parseMetrics(await registry.metrics())
}

const named = (samples: readonly Sample[], name: string): Sample[] => samples.filter((sample) => sample.name === name)

t.test('a tool given with its timeout exports it in seconds, beside its counters at 0', async (t) => {
  const registry = new Registry()
  new ToolMetrics(registry, [{ name: 'slow.read', timeoutMs: 10_000 }, { name: 'quick.read', timeoutMs: 250 }])
  const samples = await scrape(registry)
  t.same(named(samples, 'ledgerline_tool_timeout_seconds').map((s) => [s.labels.tool, s.value]),
    [['slow.read', 10], ['quick.read', 0.25]])
  for (const tool of ['slow.read', 'quick.read']) {
    for (const outcome of TOOL_OUTCOMES) {
      t.equal(valueOf(samples, 'ledgerline_tool_calls_total', { tool, outcome }), 0, `${tool} ${outcome} starts at 0`)
    }
  }
  t.equal(named(samples, 'ledgerline_tool_calls_total').length, 2 * TOOL_OUTCOMES.length, 'one series per tool and outcome')
})

t.test('a timeout between the usual bounds becomes one; the usual bounds stay', async (t) => {
  const registry = new Registry()
  const metrics = new ToolMetrics(registry, [{ name: 'slow.read', timeoutMs: 15_000 }, { name: 'quick.read', timeoutMs: 5000 }])
  metrics.ended('slow.read', 'succeeded', 12)
  const bounds = named(await scrape(registry), 'ledgerline_tool_call_duration_seconds_bucket').map((s) => s.labels.le)
  t.same(bounds, ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '15', '30', '120', '+Inf'])
  const counts = named(await scrape(registry), 'ledgerline_tool_call_duration_seconds_bucket').map((s) => s.value)
  t.same(counts, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1], 'a 12 s call is within the 15 s bound, not the 10 s one')
})

t.test('no tools, or names alone, export no budget', async (t) => {
  const none = new Registry()
  new ToolMetrics(none)
  t.same(named(await scrape(none), 'ledgerline_tool_timeout_seconds'), [])
  const names = new Registry()
  new ToolMetrics(names, ['org.get'])
  const samples = await scrape(names)
  t.same(named(samples, 'ledgerline_tool_timeout_seconds'), [])
  t.equal(named(samples, 'ledgerline_tool_calls_total').length, TOOL_OUTCOMES.length, 'the name\'s counters are there')
})

t.test('every application tool exports its timeout, and its timeout is a bound of the duration histogram', async (t) => {
  const tools = applicationTools()
  const registry = new Registry()
  const metrics = new ToolMetrics(registry, tools)
  metrics.ended(tools[0]!.name, 'succeeded', 0.001)
  const samples = await scrape(registry)
  const bounds = new Set(named(samples, 'ledgerline_tool_call_duration_seconds_bucket').map((s) => s.labels.le))
  t.ok(bounds.size > 5, `the histogram's bounds: ${[...bounds].join(', ')}`)
  for (const tool of tools) {
    const seconds = tool.timeoutMs / 1000
    t.equal(valueOf(samples, 'ledgerline_tool_timeout_seconds', { tool: tool.name }), seconds, `${tool.name}: ${seconds} s`)
    t.ok(bounds.has(String(seconds)), `${tool.name}'s timeout (${seconds} s) is a bucket bound`)
  }
})
