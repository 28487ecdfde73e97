/**
 * A tool as the application runs it: the contract (src/domain/tools/contract.ts)
 * and its body. A body calls the same application function as the HTTP
 * route of the same capability; it receives its input parsed, an
 * AbortSignal that fires at the tool's timeout, and the metadata for the
 * commands it issues, derived from the call (so an idempotent tool's retried
 * attempt repeats the same commands, which the store does not write twice).
 */
import type { z } from 'zod'
import type { CommandMetadata } from '../../domain/envelope.ts'
import type { ToolContract } from '../../domain/tools/contract.ts'
import type { Principal } from '../identity/directory.ts'
import type { InvitationServices } from '../identity/invitations.ts'
import type { ImpersonationServices } from '../impersonation/commands.ts'

/** What bodies reach: the identity, invitation and impersonation services (store, SQL, policies, directory, read models). */
export type ToolServices = ImpersonationServices & InvitationServices

/** Who calls: a person through the API or the MCP server, as the request authenticated them. */
export interface ToolCaller extends Pick<Principal, 'userId' | 'platformAdmin' | 'platformSupport' | 'impersonation'> {
  /** Facts for conditions on the context (`context.ip`, `context.mfa`); the time is the pipeline's. */
  readonly context?: { readonly ip?: string, readonly mfa?: boolean }
}

export interface ToolContext {
  readonly services: ToolServices
  readonly orgId: string
  readonly caller: ToolCaller
  readonly callId: string
  readonly attempt: number
  /** Fires when the tool's time is up: stop, and leave nothing half done that a retry would not finish. */
  readonly signal: AbortSignal
  /** Metadata for the body's `step`-th command: the caller's request, a command id derived from the call and the step. */
  command(step?: string): CommandMetadata
}

export interface Tool<In extends z.ZodType = z.ZodType, Out extends z.ZodType = z.ZodType> extends ToolContract<In, Out> {
  run(input: z.output<In>, context: ToolContext): Promise<z.input<Out>>
}

export type AnyTool = Tool<z.ZodType, z.ZodType>

/** Declares a tool, its types inferred from its schemas. */
export function defineTool<In extends z.ZodType, Out extends z.ZodType> (tool: Tool<In, Out>): Tool<In, Out> {
  return tool
}
