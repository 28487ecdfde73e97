/**
 * What a call answers its caller. The HTTP layer answers `succeeded` with
 * 200 and the output, `approval_required` with 202 and the call id, and
 * throws `error` for the rest (problem+json with its code); the MCP server
 * answers `structuredContent`, a result that names the approval route, or a
 * tool error (`isError`) with the same code.
 */
import type { LedgerlineError } from '../../domain/errors.ts'

export type ToolCallOutcome =
  | { readonly status: 'succeeded', readonly callId: string, readonly output: Record<string, unknown>, readonly position: string | null }
  | { readonly status: 'approval_required', readonly callId: string, readonly expiresAt: string, readonly position: string | null }
  | {
    readonly status: 'denied' | 'failed' | 'timed_out'
    readonly callId: string
    /** Why, with a stable code: `tool.invalid_input`, `tool.forbidden`, `impersonation.forbidden_action`, `tool.timeout`, … */
    readonly error: LedgerlineError
    readonly position: string | null
  }
