/**
 * Tool calls (`toolcall-<callId>`): every call of a registered tool, by
 * anyone (HTTP, the MCP server, later the assistant), is a stream of its own,
 * so the audit log shows who ran which tool, as whom (the events' metadata
 * carries the impersonator), with which input, and how it ended.
 *
 *   requested ─┬─ failed (attempt 0: the input was refused, nothing ran)
 *              ├─ denied (forbidden, or blocked while impersonating)
 *              ├─ approval_requested ─┬─ approved ─► started …
 *              │                      └─ denied (by the caller, on expiry, or the right gone at approval)
 *              └─ started ─┬─ succeeded
 *                          ├─ failed ─┐ (retryAt set: an idempotent tool is started again)
 *                          └─ timed_out ─┘
 *
 * Not in these events: secrets of the input (redacted: src/domain/tools/redact.ts),
 * the output (the caller gets it; the log is kept for ever and read by
 * auditors, so it keeps only its size), error stacks.
 */
import { z } from 'zod'
import { defineEvent } from '../registry.ts'

export const CallId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)
const userId = z.string().min(1).max(200)
const at = z.iso.datetime()
/** 0 for a call refused before any attempt ran. */
const attempt = z.number().int().min(0).max(100)
const code = z.string().regex(/^[a-z0-9_]+(\.[a-z0-9_]+)*$/).max(100)
const ms = z.number().int().min(0).max(86_400_000)

export const APPROVALS = ['required', 'not_required'] as const
export const DENIAL_REASONS = ['forbidden', 'impersonation_blocked', 'approval_denied', 'approval_expired'] as const
export type ToolDenialReason = typeof DENIAL_REASONS[number]

export const toolCallRequested = defineEvent({
  type: 'ai.tool.call.requested',
  schema: z.object({
    callId: CallId,
    tool: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/),
    orgId: z.string().min(1).max(200),
    callerId: userId,
    /** Set when the caller acted through an impersonation: only the same impersonation approves the call. */
    impersonatorId: userId.optional(),
    /** The catalogue action the tool needs. */
    action: z.string().min(1).max(100),
    /** The input as given, secrets redacted, cut down when large (see `inputKept`). */
    input: z.json(),
    /** False when redaction or the size limit changed the input: an approved call could not run from it. */
    inputKept: z.boolean(),
    approval: z.enum(APPROVALS),
    /** From the registry entry when requested: a retry is allowed only for an idempotent tool, up to maxAttempts. */
    idempotent: z.boolean(),
    maxAttempts: z.number().int().min(1).max(10),
    timeoutMs: ms
  }).strict()
})

export const toolCallApprovalRequested = defineEvent({
  type: 'ai.tool.call.approval_requested',
  schema: z.object({ approverId: userId, expiresAt: at }).strict()
})

export const toolCallApproved = defineEvent({
  type: 'ai.tool.call.approved',
  schema: z.object({ by: userId }).strict()
})

export const toolCallDenied = defineEvent({
  type: 'ai.tool.call.denied',
  schema: z.object({
    reason: z.enum(DENIAL_REASONS),
    /** The caller, or `system`. */
    by: userId,
    /** The catalogue action refused, for `forbidden` and `impersonation_blocked`. */
    action: z.string().max(100).optional()
  }).strict()
})

export const toolCallStarted = defineEvent({
  type: 'ai.tool.call.started',
  schema: z.object({ attempt: attempt.min(1), timeoutMs: ms }).strict()
})

export const toolCallSucceeded = defineEvent({
  type: 'ai.tool.call.succeeded',
  schema: z.object({ attempt: attempt.min(1), durationMs: ms, outputBytes: z.number().int().min(0) }).strict()
})

export const toolCallFailed = defineEvent({
  type: 'ai.tool.call.failed',
  schema: z.object({
    attempt,
    code,
    message: z.string().max(500),
    durationMs: ms,
    /** When the next attempt is due; null when there is none. */
    retryAt: at.nullable()
  }).strict()
})

export const toolCallTimedOut = defineEvent({
  type: 'ai.tool.call.timed_out',
  schema: z.object({ attempt: attempt.min(1), timeoutMs: ms, retryAt: at.nullable() }).strict()
})

export const toolCallEvents = [
  toolCallRequested, toolCallApprovalRequested, toolCallApproved, toolCallDenied, toolCallStarted, toolCallSucceeded, toolCallFailed,
  toolCallTimedOut
]

type DataOf<D> = D extends { type: infer T, schema: infer S extends z.ZodType } ? { type: T, data: z.infer<S> } : never
export type ToolCallEvent = DataOf<typeof toolCallEvents[number]>
