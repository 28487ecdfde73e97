/**
 * The tool contract: what every AI tool declares, whoever calls it (HTTP,
 * the MCP server, the assistant). The declaration is data plus two pure
 * functions (the resource `can()` is asked about, and whether a call needs
 * approval); the body that runs lives in the application
 * (src/application/tools/tool.ts). `contractProblems` holds the rules a
 * registry enforces when a tool is registered:
 *
 * - a name MCP accepts (`[A-Za-z0-9_.-]`, at most 128), a title and a description;
 * - input and output schemas that are JSON objects in JSON Schema 2020-12
 *   (MCP's `inputSchema` and `outputSchema`), and examples that pass them;
 * - a permission that is a catalogue action;
 * - all four MCP annotations, stated; a read-only tool is not destructive;
 * - a destructive tool needs approval (`always` or a function of the input, never `never`);
 * - retries only for an idempotent tool (a retry of anything else could do it twice), at most 3;
 * - a timeout between 1 ms and 2 minutes.
 */
import { z } from 'zod'
import type { Catalogue } from '../rbac/permissions.ts'
import type { Resource } from '../rbac/policy.ts'

export const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/
export const MAX_RETRIES = 3
export const MAX_TIMEOUT_MS = 120_000
/** How long a call waits for its caller's approval. */
export const APPROVAL_WINDOW_MS = 15 * 60_000

/** MCP's tool annotations, every one stated. */
export interface ToolAnnotations {
  readonly readOnlyHint: boolean
  readonly destructiveHint: boolean
  readonly idempotentHint: boolean
  readonly openWorldHint: boolean
}
export const ANNOTATION_NAMES = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const

/** A function of the parsed input (method syntax keeps a tool's own input type assignable to the registry's). */
type OfInput<T, R> = { bivarianceHack (input: T): R }['bivarianceHack']

export type Approval<T> = 'never' | 'always' | OfInput<T, boolean>

export interface Backoff {
  /** The first retry's ceiling; each next one doubles, up to `capMs`; the delay is a uniform draw under it (full jitter). */
  readonly baseMs: number
  readonly capMs: number
}
export const DEFAULT_BACKOFF: Backoff = Object.freeze({ baseMs: 100, capMs: 2000 })

export interface ToolPermission<T> {
  /** The catalogue action the caller needs. */
  readonly action: string
  /** What `can()` is asked about: conditions on the resource read its attributes. */
  resource(input: T, scope: { readonly orgId: string }): Resource
}

export interface ToolContract<In extends z.ZodType = z.ZodType, Out extends z.ZodType = z.ZodType> {
  readonly name: string
  readonly title: string
  readonly description: string
  readonly input: In
  readonly output: Out
  readonly permission: ToolPermission<z.output<In>>
  readonly annotations: ToolAnnotations
  readonly timeoutMs: number
  /** Attempts after the first, on a failure or timeout that may pass (only for idempotent tools). */
  readonly retries: number
  readonly backoff?: Backoff
  readonly approval: Approval<z.output<In>>
  /** Input keys redacted in the log beyond the usual ones (src/domain/tools/redact.ts). */
  readonly secrets?: readonly string[]
  /** At least one: documentation, and the contract tests' inputs. */
  readonly examples: ReadonlyArray<{ readonly input: z.input<In>, readonly output: z.input<Out> }>
}

export type AnyToolContract = ToolContract<z.ZodType, z.ZodType>

export function needsApproval<In extends z.ZodType> (contract: ToolContract<In, z.ZodType>, input: z.output<In>): boolean {
  const { approval } = contract
  return approval === 'always' || (typeof approval === 'function' && approval(input))
}

/** The delay before attempt `attempt + 1`, after attempt `attempt` failed: `random` in [0, 1). */
export function retryDelay (attempt: number, backoff: Backoff, random: number): number {
  const ceiling = Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.max(0, attempt - 1))
  return Math.floor(random * ceiling)
}

export interface JsonSchemas {
  readonly inputSchema: Record<string, unknown>
  readonly outputSchema: Record<string, unknown>
}

/** The schemas as MCP publishes them: JSON Schema 2020-12, the input as a client sends it, the output as the tool answers it. */
export function jsonSchemasOf (contract: AnyToolContract): JsonSchemas {
  return {
    inputSchema: z.toJSONSchema(contract.input, { target: 'draft-2020-12', io: 'input' }) as Record<string, unknown>,
    outputSchema: z.toJSONSchema(contract.output, { target: 'draft-2020-12', io: 'output' }) as Record<string, unknown>
  }
}

/** What is wrong with a declaration; empty when it may be registered. */
export function contractProblems (contract: AnyToolContract, catalogue: Catalogue): string[] {
  return [...nameProblems(contract), ...schemaProblems(contract), ...behaviourProblems(contract, catalogue)]
}

function nameProblems (contract: AnyToolContract): string[] {
  const problems: string[] = []
  if (typeof contract.name !== 'string' || !TOOL_NAME.test(contract.name)) problems.push('the name must match [A-Za-z0-9_.-]{1,128}')
  if (typeof contract.title !== 'string' || contract.title.trim() === '') problems.push('a title is required')
  if (typeof contract.description !== 'string' || contract.description.trim() === '') problems.push('a description is required')
  return problems
}

function schemaProblems (contract: AnyToolContract): string[] {
  let schemas: JsonSchemas
  try {
    schemas = jsonSchemasOf(contract)
  } catch (error) {
    return [`its schemas cannot be published as JSON Schema: ${(error as Error).message}`]
  }
  const problems: string[] = []
  if (schemas.inputSchema.type !== 'object') problems.push('the input schema must describe a JSON object')
  if (schemas.outputSchema.type !== 'object') problems.push('the output schema must describe a JSON object')
  if (!Array.isArray(contract.examples) || contract.examples.length === 0) problems.push('at least one example is required')
  for (const [index, example] of (contract.examples ?? []).entries()) {
    if (!contract.input.safeParse(example.input).success) problems.push(`example ${index}: its input fails the input schema`)
    if (!contract.output.safeParse(example.output).success) problems.push(`example ${index}: its output fails the output schema`)
  }
  return problems
}

const within = (value: number, min: number, max: number): boolean => Number.isInteger(value) && value >= min && value <= max

function behaviourProblems (contract: AnyToolContract, catalogue: Catalogue): string[] {
  const { annotations, approval, retries, timeoutMs } = contract
  const unstated = ANNOTATION_NAMES.filter((name) => typeof annotations?.[name] !== 'boolean')
  const rules: Array<[broken: boolean, problem: string]> = [
    [catalogue.definition(contract.permission?.action) === undefined, 'its permission must be a catalogue action'],
    [unstated.length > 0, `every annotation must be stated: ${unstated.join(', ')}`],
    [annotations?.readOnlyHint === true && annotations.destructiveHint, 'a read-only tool cannot be destructive'],
    [approval !== 'never' && approval !== 'always' && typeof approval !== 'function', 'approval is never, always or a function'],
    [annotations?.destructiveHint === true && approval === 'never',
      'a destructive tool needs approval (always, or a function of its input)'],
    [!within(retries, 0, MAX_RETRIES), `retries must be a whole number from 0 to ${MAX_RETRIES}`],
    [retries > 0 && annotations?.idempotentHint !== true, 'only an idempotent tool may be retried'],
    [!within(timeoutMs, 1, MAX_TIMEOUT_MS), `timeoutMs must be from 1 to ${MAX_TIMEOUT_MS}`]
  ]
  return rules.filter(([broken]) => broken).map(([, problem]) => problem)
}
