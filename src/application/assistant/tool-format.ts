/**
 * Tools as the model sees them: OpenAI's function format, one per tool the
 * caller may use (the pipeline's `available`). Function names allow no dot,
 * and tool names allow no double underscore, so `members.remove` is
 * `members__remove` and back, for any name: a model asking for a tool it was
 * not offered is still taken to the pipeline, which records the denial.
 */
import type { ToolDescriptor } from '../tools/registry.ts'
import type { UpstreamTool } from './upstream.ts'

export const toFunctionName = (tool: string): string => tool.replaceAll('.', '__')
export const toToolName = (fn: string): string => fn.replaceAll('__', '.')

export function functionsOf (tools: readonly ToolDescriptor[]): UpstreamTool[] {
  return tools.map((tool) => {
    const { $schema: _ignored, ...parameters } = tool.inputSchema as Record<string, unknown>
    return {
      type: 'function' as const,
      function: { name: toFunctionName(tool.name), description: `${tool.title}: ${tool.description}`.slice(0, 1024), parameters }
    }
  })
}
