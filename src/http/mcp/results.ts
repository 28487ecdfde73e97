/**
 * A tool call's outcome (src/application/tools/outcome.ts) as MCP's
 * `CallToolResult`, and a registry entry as MCP's `Tool`.
 *
 * - succeeded: the output as `structuredContent` (the pipeline validated it
 *   against the tool's output schema, which `tools/list` publishes as its
 *   `outputSchema`), and its JSON as text for clients that read only text;
 * - refused or failed: a tool error (`isError: true`), the text leading with
 *   the error's stable code, so the model sees why and can act on it;
 * - waiting for approval: also `isError: true`. The tool did not produce its
 *   output, and a result that is not an error must carry `structuredContent`
 *   matching `outputSchema` (the SDK's client refuses one without). The text
 *   names the call and the approval route; `_meta` carries them for programs.
 *
 * An error result carries no `structuredContent`: a client validates any it
 * finds against the output schema, which an error does not follow.
 */
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js'
import type { ToolCallOutcome } from '../../application/tools/outcome.ts'
import type { ToolDescriptor } from '../../application/tools/registry.ts'

/** The `_meta` key of Ledgerline's own facts on results and tools. */
export const META = 'dev.ledgerline/tool-call'

type Pending = Extract<ToolCallOutcome, { status: 'approval_required' }>

/** MCP's `Tool`: the descriptor's schemas and annotations, and in `_meta` what a client may want to show (permission, approval). */
export function toolOf (descriptor: ToolDescriptor): Tool {
  const { name, title, description, inputSchema, outputSchema, annotations, permission, approval, timeoutMs } = descriptor
  return {
    name, title, description,
    inputSchema: inputSchema as Tool['inputSchema'],
    outputSchema: outputSchema as Tool['outputSchema'],
    annotations: { title, ...annotations },
    _meta: { [META]: { permission, approval, timeoutMs } }
  }
}

/** Where the call's caller approves or denies it over HTTP. */
export function approvalRoutes (orgId: string, callId: string): { approve: string, deny: string } {
  const call = `/v1/orgs/${orgId}/tool-calls/${callId}`
  return { approve: `POST ${call}/approve`, deny: `POST ${call}/deny` }
}

export function resultOf (orgId: string, outcome: ToolCallOutcome): CallToolResult {
  switch (outcome.status) {
    case 'succeeded':
      return {
        content: [{ type: 'text', text: JSON.stringify(outcome.output) }],
        structuredContent: outcome.output,
        _meta: { [META]: { callId: outcome.callId, status: outcome.status, position: outcome.position } }
      }
    case 'approval_required': return pendingResult(orgId, outcome)
    default: {
      const { code, message } = outcome.error
      return {
        isError: true,
        content: [{ type: 'text', text: `${code}: ${message}` }],
        _meta: { [META]: { callId: outcome.callId, status: outcome.status, code, position: outcome.position } }
      }
    }
  }
}

/** The call waits for its caller's approval: who approves, where, and until when. */
export function pendingResult (orgId: string, outcome: Pending, note?: string): CallToolResult {
  const routes = approvalRoutes(orgId, outcome.callId)
  const text = `approval_required: this call waits for your approval and has not run. Call ${outcome.callId}: approve it with ` +
    `${routes.approve} (or turn it down with ${routes.deny}), with the same token, before ${outcome.expiresAt}.` +
    (note === undefined ? '' : ` ${note}`)
  return {
    isError: true,
    content: [{ type: 'text', text }],
    _meta: {
      [META]: { callId: outcome.callId, status: outcome.status, expiresAt: outcome.expiresAt, ...routes, position: outcome.position }
    }
  }
}

/** The caller turned the call down when asked: nothing ran. */
export function deniedByCaller (callId: string, position: string | null): CallToolResult {
  return {
    isError: true,
    // The reason the denial is recorded with (ai.tool.call.denied).
    content: [{ type: 'text', text: 'approval_denied: you turned this call down; nothing ran' }],
    _meta: { [META]: { callId, status: 'denied', reason: 'approval_denied', position } }
  }
}
