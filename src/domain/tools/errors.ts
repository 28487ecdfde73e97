/**
 * Refusals and failures of tool calls, each with a stable code. A call's
 * outcome carries one of these (src/application/tools/pipeline.ts), so the
 * HTTP layer throws it as problem+json and the MCP server answers it as a
 * tool error, with the same code either way.
 */
import { domainError } from '../errors.ts'

export class ToolNotFound extends domainError('tool.not_found', 404, 'no tool of that name') {}
export class ToolInvalidInput extends domainError('tool.invalid_input', 400, 'the input does not match the tool\'s input schema') {}
export class ToolForbidden extends domainError('tool.forbidden', 403, 'your roles in this organization do not allow this tool here') {}
export class ToolTimedOut extends domainError('tool.timeout', 504, 'the tool did not answer within its time limit') {}
export class ToolFailed extends domainError('tool.failed', 502, 'the tool failed') {}
export class ToolInvalidOutput extends domainError('tool.invalid_output', 502, 'the tool answered something its output schema refuses') {}
/** A call that waits for approval runs with the input its request recorded; one with secrets or too large is not recorded whole. */
export class ToolUnapprovableInput extends domainError('tool.unapprovable_input', 400,
  'this call needs approval, and its input holds secrets or is too large to keep until then') {}

export class ToolCallNotFound extends domainError('tool.call_not_found', 404, 'tool call not found') {}
export class ToolCallExists extends domainError('tool.call_exists', 409, 'a tool call with this id exists') {}
export class ToolCallNotPending extends domainError('tool.call_not_pending', 409, 'the tool call is not waiting for approval') {}
export class ToolCallNotRunning extends domainError('tool.call_not_running', 409, 'the tool call is not running that attempt') {}
export class ToolCallClosed extends domainError('tool.call_closed', 409, 'the tool call has ended') {}
export class ToolApprovalNotYours extends domainError('tool.approval_not_yours', 403,
  'only the caller who made a tool call (as they made it: impersonated or not) approves or denies it') {}
export class ToolApprovalExpired extends domainError('tool.approval_expired', 409, 'the tool call waited too long for approval') {}
