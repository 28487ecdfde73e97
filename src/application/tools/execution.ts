/**
 * Running a call once it may run: each attempt is started on the call's
 * stream, runs the body with the tool's timeout as an AbortSignal, has its
 * output checked against the output schema (an invalid output is a failure
 * and is never returned), and is recorded. A failure that may pass (a
 * timeout, an error that is not a refusal of the domain) is retried with
 * backoff when the tool is idempotent and has retries left; the call's
 * decider allows nothing else (src/domain/tools/call.ts).
 */
import { LedgerlineError } from '../../domain/errors.ts'
import { retryDelay, DEFAULT_BACKOFF } from '../../domain/tools/contract.ts'
import { ToolFailed, ToolInvalidOutput, ToolTimedOut } from '../../domain/tools/errors.ts'
import type { ToolCallState } from '../../domain/tools/call.ts'
import type { ToolOutcomeLabel } from './metrics.ts'
import type { ToolCallOutcome } from './outcome.ts'
import type { CallSteps, PipelineDeps } from './steps.ts'
import type { AnyTool, ToolCaller, ToolContext } from './tool.ts'

type Ended =
  | { readonly kind: 'succeeded', readonly output: Record<string, unknown>, readonly bytes: number }
  | { readonly kind: 'timed_out' }
  | { readonly kind: 'failed', readonly label: 'failed' | 'invalid_output', readonly error: LedgerlineError, readonly retryable: boolean }

export interface Execution {
  readonly deps: PipelineDeps
  readonly steps: CallSteps
  readonly tool: AnyTool
  readonly input: unknown
  readonly caller: ToolCaller
}

const CODE = /^[a-z0-9_]+(\.[a-z0-9_]+)*$/

/** Runs attempts until one ends the call; answers the outcome and its metric's label. */
export async function runAttempts (run: Execution): Promise<{ outcome: ToolCallOutcome, label: ToolOutcomeLabel }> {
  const { deps, steps, tool } = run
  let state = await steps.record({ type: 'StartAttempt', data: {} }, 'start/1')
  for (;;) {
    const attempt = state.status === 'running' ? state.attempt : 1
    const began = performance.now()
    const ended = await attemptOnce(run, attempt)
    state = await recordEnd(run, attempt, ended, Math.round(performance.now() - began))
    if (state.status !== 'retrying') return answer(steps, ended)
    // A timer may fire a millisecond before the wall clock reaches its time (timers keep a monotonic clock): wait until
    // `now` has reached the retry time, or the decider refuses the start as not due and the call fails.
    const retryAt = Date.parse(state.retryAt)
    for (let wait = retryAt - deps.now().getTime(), times = 0; wait > 0 && times < 10; wait = retryAt - deps.now().getTime(), times++) {
      await deps.sleep(wait)
    }
    state = await steps.record({ type: 'StartAttempt', data: {} }, `start/${attempt + 1}`)
    if (state.status !== 'running') throw new Error(`tool ${tool.name}: call ${steps.callId} did not start its next attempt`)
  }
}

function answer (steps: CallSteps, ended: Ended): { outcome: ToolCallOutcome, label: ToolOutcomeLabel } {
  const { callId } = steps
  const position = steps.written()
  switch (ended.kind) {
    case 'succeeded': return { outcome: { status: 'succeeded', callId, output: ended.output, position }, label: 'succeeded' }
    case 'timed_out': return { outcome: { status: 'timed_out', callId, error: new ToolTimedOut(), position }, label: 'timed_out' }
    case 'failed': return { outcome: { status: 'failed', callId, error: ended.error, position }, label: ended.label }
  }
}

async function recordEnd (run: Execution, attempt: number, ended: Ended, durationMs: number): Promise<ToolCallState> {
  const { deps, steps, tool } = run
  const step = `end/${attempt}`
  const retryInMs = (retryable: boolean): number | null =>
    (retryable && tool.retries > 0 ? retryDelay(attempt, tool.backoff ?? DEFAULT_BACKOFF, deps.random()) : null)
  switch (ended.kind) {
    case 'succeeded':
      return steps.record({ type: 'SucceedAttempt', data: { attempt, durationMs, outputBytes: ended.bytes } }, step)
    case 'timed_out':
      return steps.record({ type: 'TimeOutAttempt', data: { attempt, retryInMs: retryInMs(true) } }, step)
    case 'failed': {
      const code = CODE.test(ended.error.code) ? ended.error.code : 'tool.failed'
      const data = { attempt, code, message: ended.error.message, durationMs, retryInMs: retryInMs(ended.retryable) }
      return steps.record({ type: 'FailAttempt', data }, step)
    }
  }
}

const TIMED_OUT = Symbol('timed out')

async function attemptOnce (run: Execution, attempt: number): Promise<Ended> {
  const { tool } = run
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new ToolTimedOut())
      resolve(TIMED_OUT)
    }, tool.timeoutMs)
  })
  try {
    const body = Promise.resolve().then(() => tool.run(run.input, contextOf(run, attempt, controller.signal)))
    // A body that gives up after its timeout must not surface as an unhandled rejection.
    body.catch(() => {})
    const output = await Promise.race([body, timeout])
    if (output === TIMED_OUT) return { kind: 'timed_out' }
    return checked(tool, output)
  } catch (error) {
    if (controller.signal.aborted) return { kind: 'timed_out' }
    return failureOf(run, error)
  } finally {
    clearTimeout(timer)
  }
}

function checked (tool: AnyTool, output: unknown): Ended {
  const parsed = tool.output.safeParse(output)
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 10).map((issue) => ({ path: issue.path.join('.'), message: issue.message }))
    return { kind: 'failed', label: 'invalid_output', error: new ToolInvalidOutput(undefined, { issues }), retryable: false }
  }
  const json = JSON.stringify(parsed.data)
  return { kind: 'succeeded', output: JSON.parse(json) as Record<string, unknown>, bytes: Buffer.byteLength(json) }
}

/** A refusal of the domain (a 4xx) is the answer, and retrying cannot change it; anything else may pass, and says nothing inside. */
function failureOf (run: Execution, error: unknown): Ended {
  if (error instanceof LedgerlineError) return { kind: 'failed', label: 'failed', error, retryable: error.status >= 500 }
  run.deps.logger.warn({ err: error, tool: run.tool.name, callId: run.steps.callId }, 'tool body failed')
  return { kind: 'failed', label: 'failed', error: new ToolFailed(), retryable: true }
}

function contextOf (run: Execution, attempt: number, signal: AbortSignal): ToolContext {
  const { deps, steps, caller } = run
  return {
    services: deps.services, orgId: steps.orgId, caller, callId: steps.callId, attempt, signal,
    command: (step = 'body') => steps.bodyCommand(step)
  }
}
