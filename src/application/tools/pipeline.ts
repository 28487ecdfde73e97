/**
 * The one invocation pipeline every caller of a tool goes through (the HTTP
 * routes, the MCP server, later the assistant). In this order:
 *
 * 1. the tool by name (404 `tool.not_found`) and the caller's membership
 *    (404 for a non-member: nothing is recorded in another tenant's name);
 * 2. the request is recorded (`ai.tool.call.requested`, input redacted);
 * 3. the input is parsed: a failure is a tool error (`tool.invalid_input`), nothing runs;
 * 4. `can()` as the caller on the tool's resource; an impersonated caller is
 *    refused blocked actions; a refusal is recorded (`ai.tool.call.denied`);
 * 5. approval, from the registry entry and never from anything the client
 *    sends: a call that needs it is recorded as pending and answered
 *    `approval_required`; it runs when its caller approves it (`approve`), as
 *    they called (the same impersonation, or none), within 15 minutes, after
 *    `can()` is asked again;
 * 6. the attempts, with the timeout, retries and output check (execution.ts);
 * 7. the outcome is recorded and counted (metrics.ts).
 */
import { pino } from 'pino'
import { readState } from '../../domain/decider.ts'
import type { CommandMetadata } from '../../domain/envelope.ts'
import { isCaller, toolCallDecider, toolCallStreamId } from '../../domain/tools/call.ts'
import { APPROVAL_WINDOW_MS, needsApproval } from '../../domain/tools/contract.ts'
import {
  ToolApprovalExpired, ToolApprovalNotYours, ToolCallNotFound, ToolCallNotPending, ToolInvalidInput, ToolNotFound, ToolUnapprovableInput
} from '../../domain/tools/errors.ts'
import { redactInput } from '../../domain/tools/redact.ts'
import type { PolicySnapshot } from '../rbac/policies.ts'
import { offered, principalIn, refusalOf } from './authorization.ts'
import { runAttempts } from './execution.ts'
import type { ToolOutcomeLabel } from './metrics.ts'
import type { ToolCallOutcome } from './outcome.ts'
import { describeTool, type ToolDescriptor } from './registry.ts'
import { CallSteps, type PipelineDeps } from './steps.ts'
import type { AnyTool, ToolCaller } from './tool.ts'

export interface ToolCallRequest {
  readonly orgId: string
  readonly tool: string
  /** As the client sent it: parsed here. */
  readonly input: unknown
  readonly caller: ToolCaller
  /** The request's metadata (who, trace, address, impersonator), as routes build it. */
  readonly metadata: CommandMetadata
  /** The call's id (default: a new UUID); a second call with an id in use is refused (`tool.call_exists`). */
  readonly callId?: string
}

/** Approve or deny a pending call: its caller, in its organization. */
export interface PendingCallRequest {
  readonly orgId: string
  readonly callId: string
  readonly caller: ToolCaller
  readonly metadata: CommandMetadata
}

type Outcome = { outcome: ToolCallOutcome, label: ToolOutcomeLabel }

export class ToolPipeline {
  readonly deps: PipelineDeps

  constructor (deps: Pick<PipelineDeps, 'services' | 'registry' | 'observer'> & Partial<PipelineDeps>) {
    this.deps = {
      logger: pino({ level: 'silent' }),
      now: () => new Date(),
      random: Math.random,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      ...deps
    }
  }

  /** The tools the caller may use in the organization, with their schemas and annotations. */
  async available (orgId: string, caller: ToolCaller): Promise<ToolDescriptor[]> {
    const snapshot = await this.deps.services.policies.snapshotOf(orgId)
    const principal = principalIn(snapshot, orgId, caller)
    const now = this.deps.now()
    return this.deps.registry.list().filter(({ tool }) => offered(snapshot, principal, tool, orgId, caller, now)).map(describeTool)
  }

  async call (request: ToolCallRequest): Promise<ToolCallOutcome> {
    const began = performance.now()
    const registered = this.deps.registry.get(request.tool)
    if (registered === undefined) throw new ToolNotFound(undefined, { tool: request.tool.slice(0, 128) })
    const { tool } = registered
    const { orgId, caller } = request
    const snapshot = await this.deps.services.policies.snapshotOf(orgId)
    principalIn(snapshot, orgId, caller)
    const steps = new CallSteps(this.deps, request.callId ?? crypto.randomUUID(), orgId, request.metadata)
    return this.#counted(tool, began, () => this.#request(steps, tool, snapshot, request))
  }

  async #request (steps: CallSteps, tool: AnyTool, snapshot: PolicySnapshot, request: ToolCallRequest): Promise<Outcome> {
    const { orgId, caller } = request
    const parsed = tool.input.safeParse(request.input)
    const recorded = redactInput(request.input, tool.secrets)
    const approval = parsed.success && needsApproval(tool, parsed.data) ? 'required' : 'not_required'
    await steps.record({
      type: 'RequestCall',
      data: {
        callId: steps.callId, tool: tool.name, orgId, callerId: caller.userId,
        ...(caller.impersonation === undefined ? {} : { impersonatorId: caller.impersonation.impersonatorId }),
        action: tool.permission.action, input: recorded.value, inputKept: recorded.kept, approval,
        idempotent: tool.annotations.idempotentHint, maxAttempts: 1 + tool.retries, timeoutMs: tool.timeoutMs
      }
    }, 'requested')
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 20).map((issue) => ({ path: issue.path.join('.'), message: issue.message }))
      return this.#refuse(steps, new ToolInvalidInput(undefined, { issues }))
    }
    const denied = await this.#authorize(steps, snapshot, tool, parsed.data, caller)
    if (denied !== undefined) return denied
    if (approval === 'not_required') return runAttempts({ deps: this.deps, steps, tool, input: parsed.data, caller })
    if (!recorded.kept) return this.#refuse(steps, new ToolUnapprovableInput())
    const expiresAt = new Date(this.deps.now().getTime() + APPROVAL_WINDOW_MS).toISOString()
    await steps.record({ type: 'AskApproval', data: { expiresAt } }, 'approval')
    const outcome = { status: 'approval_required' as const, callId: steps.callId, expiresAt, position: steps.written() }
    return { outcome, label: 'approval_required' }
  }

  /** Runs a pending call: its caller approves it, as they called it, before it expired, and may still run the tool. */
  async approve (request: PendingCallRequest): Promise<ToolCallOutcome> {
    const began = performance.now()
    const { call, steps } = await this.#pending(request)
    const registered = this.deps.registry.get(call.tool)
    if (registered === undefined) {
      await steps.record({ type: 'RefuseInput', data: { code: 'tool.not_found', message: 'the tool is no longer registered' } }, 'gone')
      throw new ToolNotFound(undefined, { tool: call.tool })
    }
    const { tool } = registered
    return this.#counted(tool, began, async () => {
      const snapshot = await this.deps.services.policies.snapshotOf(request.orgId)
      const parsed = tool.input.safeParse(call.input)
      if (!parsed.success) return this.#refuse(steps, new ToolInvalidInput('the recorded input no longer fits the tool\'s input schema'))
      const denied = await this.#authorize(steps, snapshot, tool, parsed.data, request.caller)
      if (denied !== undefined) return denied
      await steps.record({ type: 'ApproveCall', data: identityOf(request.caller) }, 'approved')
      return runAttempts({ deps: this.deps, steps, tool, input: parsed.data, caller: request.caller })
    })
  }

  /** Turns a pending call down: its caller, as they called it. */
  async deny (request: PendingCallRequest): Promise<{ callId: string, status: 'denied', position: string | null }> {
    const { steps } = await this.#pending(request)
    await steps.record({ type: 'DenyCall', data: { ...identityOf(request.caller), reason: 'approval_denied' } }, 'denied')
    return { callId: request.callId, status: 'denied', position: steps.written() }
  }

  /** The pending call, once its caller is the one asking; an expired one is recorded as denied and refused. */
  async #pending (request: PendingCallRequest) {
    const { orgId, callId, caller } = request
    principalIn(await this.deps.services.policies.snapshotOf(orgId), orgId, caller)
    const { state } = await readState(this.deps.services.store, toolCallDecider, toolCallStreamId(callId), this.deps.services.states)
    if (state.status === 'none' || state.call.orgId !== orgId) throw new ToolCallNotFound()
    if (state.status !== 'awaiting_approval') throw new ToolCallNotPending(`the tool call is ${state.status}`, { status: state.status })
    if (!isCaller(state.call, identityOf(caller))) throw new ToolApprovalNotYours()
    const steps = new CallSteps(this.deps, callId, orgId, request.metadata)
    if (this.deps.now().getTime() >= Date.parse(state.expiresAt)) {
      await steps.record({ type: 'DenyCall', data: { by: 'system', reason: 'approval_expired' } }, 'expired')
      throw new ToolApprovalExpired(undefined, { expiresAt: state.expiresAt })
    }
    return { call: state.call, steps }
  }

  async #authorize (
    steps: CallSteps, snapshot: PolicySnapshot, tool: AnyTool, input: unknown, caller: ToolCaller
  ): Promise<Outcome | undefined> {
    const principal = principalIn(snapshot, steps.orgId, caller)
    const refusal = refusalOf(snapshot, principal, { tool, input, orgId: steps.orgId, caller, now: this.deps.now() })
    if (refusal === undefined) return undefined
    const { reason, action } = refusal
    await steps.record({ type: 'DenyCall', data: { ...identityOf(caller), reason, action } }, 'denied')
    return { outcome: { status: 'denied', callId: steps.callId, error: refusal.error, position: steps.written() }, label: 'denied' }
  }

  async #refuse (steps: CallSteps, error: ToolInvalidInput | ToolUnapprovableInput): Promise<Outcome> {
    await steps.record({ type: 'RefuseInput', data: { code: error.code, message: error.message } }, 'refused')
    return { outcome: { status: 'failed', callId: steps.callId, error, position: steps.written() }, label: 'invalid_input' }
  }

  async #counted (tool: AnyTool, began: number, work: () => Promise<Outcome>): Promise<ToolCallOutcome> {
    const { outcome, label } = await work()
    this.deps.observer.ended(tool.name, label, (performance.now() - began) / 1000)
    return outcome
  }
}

function identityOf (caller: ToolCaller): { by: string, impersonatorId?: string } {
  const impersonatorId = caller.impersonation?.impersonatorId
  return impersonatorId === undefined ? { by: caller.userId } : { by: caller.userId, impersonatorId }
}
