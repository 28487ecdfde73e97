/**
 * The tool registry: every tool a runtime offers, each checked against the
 * contract's rules when registered (src/domain/tools/contract.ts), so a tool
 * that breaks them (a destructive one without approval, retries on one that
 * is not idempotent, a permission outside the catalogue) stops the start
 * with its problems named. Its JSON Schemas are made once, here.
 */
import { contractProblems, jsonSchemasOf, type JsonSchemas, type ToolAnnotations } from '../../domain/tools/contract.ts'
import type { Catalogue } from '../../domain/rbac/permissions.ts'
import type { AnyTool } from './tool.ts'

export interface RegisteredTool {
  readonly tool: AnyTool
  readonly schemas: JsonSchemas
}

/** A tool as lists show it (MCP's `tools/list` entry, the HTTP catalogue). */
export interface ToolDescriptor extends JsonSchemas {
  readonly name: string
  readonly title: string
  readonly description: string
  readonly annotations: ToolAnnotations
  /** The catalogue action it needs. */
  readonly permission: string
  readonly approval: 'never' | 'always' | 'depends_on_input'
  readonly timeoutMs: number
}

export class InvalidToolContract extends Error {
  constructor (readonly tool: string, readonly problems: readonly string[]) {
    super(`tool ${tool}: ${problems.join('; ')}`)
  }
}

export class ToolRegistry {
  readonly #tools = new Map<string, RegisteredTool>()

  constructor (readonly catalogue: Catalogue, tools: Iterable<AnyTool> = []) {
    for (const tool of tools) this.register(tool)
  }

  register (tool: AnyTool): this {
    const problems = contractProblems(tool, this.catalogue)
    if (this.#tools.has(tool.name)) problems.push('a tool of this name is registered')
    if (problems.length > 0) throw new InvalidToolContract(String(tool.name), problems)
    this.#tools.set(tool.name, { tool, schemas: jsonSchemasOf(tool) })
    return this
  }

  get (name: string): RegisteredTool | undefined {
    return this.#tools.get(name)
  }

  get names (): string[] {
    return [...this.#tools.keys()]
  }

  list (): RegisteredTool[] {
    return [...this.#tools.values()]
  }
}

export function describeTool ({ tool, schemas }: RegisteredTool): ToolDescriptor {
  const approval = typeof tool.approval === 'function' ? 'depends_on_input' : tool.approval
  return {
    name: tool.name, title: tool.title, description: tool.description, ...schemas, annotations: { ...tool.annotations },
    permission: tool.permission.action, approval, timeoutMs: tool.timeoutMs
  }
}
