/**
 * The tool call decider: one example per rule, then properties over random
 * command sequences (any caller, any order, a clock that runs past approval
 * expiries and retry times).
 */
import fc from 'fast-check'
import t from 'tap'
import type { DecisionContext } from '../decider.ts'
import { LedgerlineError } from '../errors.ts'
import { EventRegistry } from '../registry.ts'
import { spec } from '../testing.ts'
import { ENDED, toolCallDecider, type RequestedCall, type ToolCallCommand, type ToolCallState } from './call.ts'
import { toolCallEvents, type ToolCallEvent } from './events.ts'

const calls = spec(toolCallDecider)
const T0 = Date.parse('2026-01-01T00:00:00.000Z')
const iso = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString()
const at = (seconds: number): DecisionContext => ({ now: new Date(T0 + seconds * 1000), actor: { type: 'user', id: 'ada' } })

const call = (changes: Partial<RequestedCall> = {}): RequestedCall => ({
  callId: 'c1', tool: 'members.remove', orgId: 'org_a', callerId: 'ada', action: 'member:remove', input: { userId: 'bob' },
  inputKept: true, approval: 'not_required', idempotent: true, maxAttempts: 3, timeoutMs: 1000, ...changes
})
const requested = (changes: Partial<RequestedCall> = {}): ToolCallEvent => ({ type: 'ai.tool.call.requested', data: call(changes) })
const askedApproval: ToolCallEvent = { type: 'ai.tool.call.approval_requested', data: { approverId: 'ada', expiresAt: iso(900) } }
const approved: ToolCallEvent = { type: 'ai.tool.call.approved', data: { by: 'ada' } }
const started = (attempt: number): ToolCallEvent => ({ type: 'ai.tool.call.started', data: { attempt, timeoutMs: 1000 } })
const failed = (attempt: number, retryAt: string | null): ToolCallEvent => ({
  type: 'ai.tool.call.failed', data: { attempt, code: 'tool.failed', message: 'the tool failed', durationMs: 5, retryAt }
})

const start: ToolCallCommand = { type: 'StartAttempt', data: {} }
const fail = (attempt: number, retryInMs: number | null = 100): ToolCallCommand =>
  ({ type: 'FailAttempt', data: { attempt, code: 'tool.failed', message: 'the tool failed', durationMs: 5, retryInMs } })
const timeOut = (attempt: number, retryInMs: number | null = 100): ToolCallCommand =>
  ({ type: 'TimeOutAttempt', data: { attempt, retryInMs } })
const approve = (by = 'ada', impersonatorId?: string): ToolCallCommand => ({ type: 'ApproveCall', data: { by, impersonatorId } })
const needsApproval = [requested({ approval: 'required' }), askedApproval]

t.test('a call is requested once: its id cannot be used again', async (t) => {
  calls.given([]).when({ type: 'RequestCall', data: call() }, at(0)).then(t, [requested()])
  calls.given([requested()]).when({ type: 'RequestCall', data: call() }, at(0)).thenThrows(t, 'tool.call_exists')
  calls.given([]).when(start, at(0)).thenThrows(t, 'tool.call_not_found', 'nothing happens to a call never requested')
})

t.test('a refused input ends the call at attempt 0, before anything ran', async (t) => {
  calls.given([requested()]).when({ type: 'RefuseInput', data: { code: 'tool.invalid_input', message: 'bad' } }, at(0))
    .then(t, [{
      type: 'ai.tool.call.failed', data: { attempt: 0, code: 'tool.invalid_input', message: 'bad', durationMs: 0, retryAt: null }
    }])
  calls.given([requested(), failed(0, null)]).when(start, at(1)).thenThrows(t, 'tool.call_closed', 'and it never starts')
})

t.test('a denial ends a requested or pending call; the caller alone turns down a pending one, until it expires', async (t) => {
  calls.given([requested()]).when({ type: 'DenyCall', data: { by: 'ada', reason: 'forbidden', action: 'member:remove' } }, at(0))
    .then(t, [{ type: 'ai.tool.call.denied', data: { reason: 'forbidden', by: 'ada', action: 'member:remove' } }])
  calls.given(needsApproval).when({ type: 'DenyCall', data: { by: 'bob', reason: 'approval_denied' } }, at(1))
    .thenThrows(t, 'tool.approval_not_yours')
  calls.given(needsApproval).when({ type: 'DenyCall', data: { by: 'ada', impersonatorId: 'eve', reason: 'approval_denied' } }, at(1))
    .thenThrows(t, 'tool.approval_not_yours', 'nor an impersonation of the caller who called unimpersonated')
  calls.given(needsApproval).when({ type: 'DenyCall', data: { by: 'system', reason: 'approval_expired' } }, at(899))
    .thenThrows(t, 'tool.call_not_pending', 'an approval does not expire early')
  calls.given(needsApproval).when({ type: 'DenyCall', data: { by: 'system', reason: 'approval_expired' } }, at(900))
    .then(t, [{ type: 'ai.tool.call.denied', data: { reason: 'approval_expired', by: 'system' } }])
  calls.given([requested(), started(1)]).when({ type: 'DenyCall', data: { by: 'ada', reason: 'forbidden' } }, at(1))
    .thenThrows(t, 'tool.call_not_pending', 'a running call is not denied')
})

t.test('a call that needs approval starts only once its caller approved it, as they called, before it expired', async (t) => {
  calls.given([requested({ approval: 'required' })]).when(start, at(0)).thenThrows(t, 'tool.call_not_pending')
  calls.given(needsApproval).when(start, at(1)).thenThrows(t, 'tool.call_not_pending')
  calls.given(needsApproval).when(approve('bob'), at(1)).thenThrows(t, 'tool.approval_not_yours')
  calls.given(needsApproval).when(approve('ada'), at(900)).thenThrows(t, 'tool.approval_expired')
  calls.given(needsApproval).when(approve('ada'), at(899)).then(t, [approved])
  calls.given([...needsApproval, approved]).when(start, at(2)).then(t, [started(1)])
  calls.given([...needsApproval, approved]).when(approve('ada'), at(2)).thenThrows(t, 'tool.call_not_pending', 'approved once')
  const impersonated = [requested({ approval: 'required', impersonatorId: 'eve' }), askedApproval]
  calls.given(impersonated).when(approve('ada'), at(1))
    .thenThrows(t, 'tool.approval_not_yours', 'the member alone, not their impersonation')
  calls.given(impersonated).when(approve('ada', 'eve'), at(1)).then(t, [approved], 'the same impersonation')
  calls.given([requested()]).when({ type: 'AskApproval', data: { expiresAt: iso(900) } }, at(0))
    .thenThrows(t, 'tool.call_not_pending', 'a call that needs none is not made to wait')
})

t.test('a failed or timed out attempt of an idempotent tool is retried, when due, up to maxAttempts; nothing else is', async (t) => {
  calls.given([requested(), started(1)]).when(fail(1), at(1)).then(t, [failed(1, iso(1.1))])
  calls.given([requested(), started(1), failed(1, iso(1.1))]).when(start, at(1)).thenThrows(t, 'tool.call_not_running', 'not before due')
  calls.given([requested(), started(1), failed(1, iso(1.1))]).when(start, at(1.1)).then(t, [started(2)])
  calls.given([requested({ idempotent: false }), started(1)]).when(fail(1), at(1)).then(t, [failed(1, null)], 'never a second attempt')
  calls.given([requested(), started(1), failed(1, iso(2)), started(2), failed(2, iso(3)), started(3)]).when(timeOut(3), at(4))
    .then(t, [{ type: 'ai.tool.call.timed_out', data: { attempt: 3, timeoutMs: 1000, retryAt: null } }], 'the last attempt ends it')
  calls.given([requested(), started(1)]).when(fail(1, null), at(1)).then(t, [failed(1, null)], 'a failure that cannot pass ends it')
  calls.given([requested(), started(1)]).when(fail(2), at(1)).thenThrows(t, 'tool.call_not_running', 'only the running attempt reports')
  calls.given([requested(), started(1), failed(1, null)]).when(start, at(5)).thenThrows(t, 'tool.call_closed')
})

t.test('the decider\'s events are valid for the registry', async (t) => {
  const registry = new EventRegistry(toolCallEvents)
  for (const event of [requested({ impersonatorId: 'eve' }), askedApproval, approved, started(1), failed(0, null), failed(1, iso(2))]) {
    t.doesNotThrow(() => registry.validate(event.type, event.data), event.type)
  }
})

// ── properties ──────────────────────────────────────────────────────────────

const who = fc.constantFrom({ by: 'ada' }, { by: 'bob' }, { by: 'ada', impersonatorId: 'eve' })
const attemptAndDelay = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.option(fc.integer({ min: 0, max: 30_000 })))
const command: fc.Arbitrary<ToolCallCommand> = fc.oneof(
  fc.constant<ToolCallCommand>(start),
  fc.constant<ToolCallCommand>({ type: 'AskApproval', data: { expiresAt: iso(60) } }),
  who.map((identity): ToolCallCommand => ({ type: 'ApproveCall', data: identity })),
  who.chain((identity) => fc.constantFrom(...(['forbidden', 'approval_denied', 'approval_expired'] as const))
    .map((reason): ToolCallCommand => ({ type: 'DenyCall', data: { ...identity, reason } }))),
  fc.constant<ToolCallCommand>({ type: 'RefuseInput', data: { code: 'tool.invalid_input', message: 'bad' } }),
  attemptAndDelay.map(([attempt, delay]) => fail(attempt, delay)),
  attemptAndDelay.map(([attempt, delay]) => timeOut(attempt, delay)),
  fc.integer({ min: 1, max: 4 })
    .map((attempt): ToolCallCommand => ({ type: 'SucceedAttempt', data: { attempt, durationMs: 1, outputBytes: 2 } }))
)
const scenario = fc.record({
  approval: fc.constantFrom(...(['required', 'not_required'] as const)),
  idempotent: fc.boolean(),
  maxAttempts: fc.integer({ min: 1, max: 3 }),
  steps: fc.array(fc.tuple(command, fc.integer({ min: 0, max: 40_000 })), { maxLength: 40 })
})

/** Runs the commands on a clock that only moves forward; refusals change nothing. */
interface Scenario {
  approval: RequestedCall['approval'], idempotent: boolean, maxAttempts: number, steps: Array<[ToolCallCommand, number]>
}

function run (s: Scenario) {
  const history: ToolCallEvent[] = [requested({ approval: s.approval, idempotent: s.idempotent, maxAttempts: s.maxAttempts })]
  let state: ToolCallState = toolCallDecider.evolve(toolCallDecider.initialState(), history[0]!)
  let ms = T0
  for (const [next, elapsed] of s.steps) {
    ms += elapsed
    try {
      const events = toolCallDecider.decide(next, state, { now: new Date(ms), actor: { type: 'user', id: 'ada' } })
      for (const event of events) state = toolCallDecider.evolve(state, event)
      history.push(...events)
    } catch (error) {
      if (!(error instanceof LedgerlineError)) throw error
    }
  }
  return { history, state }
}

t.test('over any command sequence: nothing runs twice unless idempotent, never past maxAttempts, never unapproved', async (t) => {
  fc.assert(fc.property(scenario, (s) => {
    const { history } = run(s)
    const starts = history.filter((event) => event.type === 'ai.tool.call.started')
    if (!s.idempotent && starts.length > 1) return false
    if (starts.length > s.maxAttempts) return false
    const approvedAt = history.findIndex((event) => event.type === 'ai.tool.call.approved')
    const firstStart = history.findIndex((event) => event.type === 'ai.tool.call.started')
    if (s.approval === 'required' && firstStart !== -1 && (approvedAt === -1 || approvedAt > firstStart)) return false
    // Only the caller, as they called, approves.
    return history.every((event) => event.type !== 'ai.tool.call.approved' || event.data.by === 'ada')
  }), { numRuns: 500 })
  t.pass('held over 500 random sequences')
})

t.test('over any command sequence: an ended call takes no command, and attempts are numbered 1, 2, 3 in order', async (t) => {
  fc.assert(fc.property(scenario, (s) => {
    const { history, state } = run(s)
    const numbers = history.filter((event) => event.type === 'ai.tool.call.started').map((event) => event.data.attempt)
    if (!numbers.every((n, index) => n === index + 1)) return false
    if (!(ENDED as readonly string[]).includes(state.status)) return true
    const ended = history.findIndex((event) => ['ai.tool.call.succeeded', 'ai.tool.call.denied'].includes(event.type) ||
      ((event.type === 'ai.tool.call.failed' || event.type === 'ai.tool.call.timed_out') && event.data.retryAt === null))
    return ended === history.length - 1
  }), { numRuns: 500 })
  t.pass('held over 500 random sequences')
})
