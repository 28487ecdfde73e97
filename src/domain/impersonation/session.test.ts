/**
 * The impersonation session decider: one example per rule, then properties
 * over random command sequences by random people, on a clock that runs on
 * past the caps and the approval window.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import t from 'tap'
import { fold, type DecisionContext } from '../decider.ts'
import { LedgerlineError } from '../errors.ts'
import { EventRegistry } from '../registry.ts'
import { spec } from '../testing.ts'
import { impersonationEvents, type DenialReason, type ImpersonationEvent } from './events.ts'
import { endOf, sessionDecider, type RequestFacts, type SessionCommand, type SessionState } from './session.ts'

const session = spec(sessionDecider)
const T0 = Date.parse('2026-01-01T00:00:00.000Z')
const MINUTE = 60_000
const iso = (minutes: number): string => new Date(T0 + minutes * MINUTE).toISOString()
const clock = (ms: number): DecisionContext => ({ now: new Date(ms), actor: { type: 'user', id: 'ivy' } })
/** The context `minutes` after the first request. */
const at = (minutes: number): DecisionContext => clock(T0 + minutes * MINUTE)

type Of<Type extends ImpersonationEvent['type']> = Extract<ImpersonationEvent, { type: Type }>
type Request = Extract<SessionCommand, { type: 'RequestImpersonation' }>

const TOKEN = 'a'.repeat(64)
const REASON = 'the customer asked for help with an invoice'
const clear: RequestFacts = {
  impersonating: false, impersonatorBusy: false, targetIsMember: true, targetActive: true, targetIsStaff: false, targetCritical: false,
  supportAccess: true
}
/** Ivy (support) asks to impersonate Tom; every guard passes unless told otherwise. */
const ask = (changes: Partial<Request['data']> = {}, facts: Partial<RequestFacts> = {}): Request => ({
  type: 'RequestImpersonation',
  data: {
    sessionId: 's1', orgId: 'acme', impersonatorId: 'ivy', targetUserId: 'tom', via: 'support', reason: REASON, tokenHash: TOKEN,
    ...changes, facts: { ...clear, ...facts }
  }
})
const critically = { targetCritical: true }

const requested = (changes: Partial<Of<'impersonation.session.requested'>['data']> = {}): Of<'impersonation.session.requested'> => ({
  type: 'impersonation.session.requested',
  data: {
    sessionId: 's1', orgId: 'acme', impersonatorId: 'ivy', targetUserId: 'tom', via: 'support', reason: REASON, durationMinutes: 30,
    critical: false, breakGlass: false, requestedAt: iso(0), ...changes
  }
})
const started = (from: number, minutes: number, breakGlass = false, via: 'support' | 'member' = 'support'): ImpersonationEvent => ({
  type: 'impersonation.session.started',
  data: { tokenHash: TOKEN, startedAt: iso(from), expiresAt: iso(from + minutes), via, critical: breakGlass, breakGlass }
})
const breakGlass = requested({ ticket: 'SUP-1234', durationMinutes: 15, critical: true, breakGlass: true })
const approved: ImpersonationEvent = { type: 'impersonation.session.approved', data: { approverId: 'ada', via: 'member' } }
/** An ordinary session, active from minute 0 to minute 30. */
const active = [requested(), started(0, 30)]

const approve = (approverId: string): SessionCommand => ({ type: 'ApproveImpersonation', data: { approverId, approverVia: 'member' } })
const deny = (deniedBy: string): SessionCommand => ({ type: 'DenyImpersonation', data: { deniedBy } })
const start = (startedBy: string): SessionCommand => ({ type: 'StartImpersonation', data: { startedBy, tokenHash: TOKEN } })
const act: SessionCommand = { type: 'RecordAction', data: { method: 'GET', route: '/v1/orgs/:orgId/members', outcome: 'allowed' } }
const stop = (stoppedBy: string): SessionCommand => ({ type: 'StopImpersonation', data: { stoppedBy } })
const revoke: SessionCommand = { type: 'RevokeImpersonation', data: { revokedBy: 'system', reason: 'impersonator_lost_permission' } }
const expire: SessionCommand = { type: 'ExpireImpersonation', data: {} }

t.test('an ordinary target is impersonated at once, for 30 minutes unless asked, 60 at most', async (t) => {
  session.given([]).when(ask(), at(0)).then(t, active)
  session.given([]).when(ask({ durationMinutes: 60 }), at(0)).then(t, [requested({ durationMinutes: 60 }), started(0, 60)])
  session.given([]).when(ask({ durationMinutes: 61 }), at(0)).thenThrows(t, 'impersonation.duration_exceeds_cap')
  session.given([]).when(ask({ durationMinutes: 0 }), at(0)).thenThrows(t, 'impersonation.duration_exceeds_cap', 'nor under a minute')
  session.given([]).when(ask({ durationMinutes: 2.5 }), at(0)).thenThrows(t, 'impersonation.duration_exceeds_cap', 'whole minutes only')
})

t.test('each guard denies the request with its reason, as the session\'s only event', async (t) => {
  const cases: Array<[DenialReason, Partial<Request['data']>, Partial<RequestFacts>]> = [
    ['self', { targetUserId: 'ivy' }, {}],
    ['already_impersonating', {}, { impersonating: true }],
    ['target_not_member', {}, { targetIsMember: false }],
    ['target_is_staff', {}, { targetIsStaff: true }],
    ['target_disabled', {}, { targetActive: false }],
    ['support_access_disabled', {}, { supportAccess: false }],
    ['impersonator_busy', {}, { impersonatorBusy: true }],
    ['break_glass_required', {}, { targetCritical: true }]
  ]
  for (const [reason, changes, facts] of cases) {
    const targetUserId = changes.targetUserId ?? 'tom'
    session.given([]).when(ask(changes, facts), at(0)).then(t, [{
      type: 'impersonation.session.denied',
      data: { reason, orgId: 'acme', impersonatorId: 'ivy', targetUserId, via: 'support', requestReason: REASON }
    }], reason)
  }
  session.given([]).when(ask({ ticket: 'SUP-9' }, { impersonatorBusy: true, targetCritical: true }), at(0)).then(t, [{
    type: 'impersonation.session.denied',
    data: {
      reason: 'impersonator_busy', orgId: 'acme', impersonatorId: 'ivy', targetUserId: 'tom', via: 'support', requestReason: REASON,
      ticket: 'SUP-9'
    }
  }], 'a refused request keeps the requester\'s reason and ticket beside the refusal\'s code')
  session.given([]).when(ask({ via: 'member' }, { supportAccess: false }), at(0))
    .then(t, [requested({ via: 'member' }), started(0, 30, false, 'member')], 'support access is asked only of support')
})

t.test('a critical target with a ticket waits for a second person, 15 minutes at most', async (t) => {
  session.given([]).when(ask({ ticket: 'SUP-1234' }, critically), at(0))
    .then(t, [breakGlass], 'pending, break-glass, 15 minutes by default')
  session.given([]).when(ask({ ticket: 'SUP-1234', durationMinutes: 5 }, critically), at(0))
    .then(t, [requested({ ticket: 'SUP-1234', durationMinutes: 5, critical: true, breakGlass: true })])
  session.given([]).when(ask({ ticket: 'SUP-1234', durationMinutes: 16 }, critically), at(0))
    .thenThrows(t, 'impersonation.duration_exceeds_cap')
})

t.test('nobody approves their own request; a second person does', async (t) => {
  session.given([breakGlass]).when(approve('ivy'), at(1)).thenThrows(t, 'impersonation.self_approval')
  session.given([breakGlass]).when(approve('ada'), at(1)).then(t, [approved])
  session.given([breakGlass, approved]).when(approve('sam'), at(2)).then(t, [], 'approving again changes nothing')
})

t.test('the target does not approve their own impersonation, but may turn it down', async (t) => {
  session.given([breakGlass]).when(approve('tom'), at(1)).thenThrows(t, 'impersonation.target_approval')
  session.given([breakGlass]).when({ type: 'ApproveImpersonation', data: { approverId: 'tom', approverVia: 'platform' } }, at(1))
    .thenThrows(t, 'impersonation.target_approval', 'whatever their standing')
  session.given([breakGlass, approved]).when(approve('tom'), at(2))
    .thenThrows(t, 'impersonation.target_approval', 'not even once approved by someone else')
  session.given([breakGlass]).when(deny('tom'), at(1))
    .then(t, [{ type: 'impersonation.session.denied', data: { reason: 'rejected_by_approver', deniedBy: 'tom' } }],
    'a refusal never widens access: the target may refuse')
})

t.test('an ended session says how it ended, to the holder of its token and to a late action', async (t) => {
  const cases: Array<[string, ImpersonationEvent[], number, { reason: string, code: string | null }]> = [
    ['stopped', [...active, { type: 'impersonation.session.stopped', data: { stoppedBy: 'ivy' } }], 5, { reason: 'stopped', code: null }],
    ['revoked', [...active, { type: 'impersonation.session.revoked', data: { revokedBy: 'system', reason: 'target_unavailable' } }], 5,
      { reason: 'revoked', code: 'target_unavailable' }],
    ['expired, written', [...active, { type: 'impersonation.session.expired', data: { at: iso(30), stage: 'active' } }], 31,
      { reason: 'expired', code: null }],
    ['expired, not yet written', active, 30, { reason: 'expired', code: null }],
    ['denied', [breakGlass, { type: 'impersonation.session.denied', data: { reason: 'rejected_by_approver', deniedBy: 'ada' } }], 5,
      { reason: 'denied', code: 'rejected_by_approver' }]
  ]
  for (const [how, history, minute, end] of cases) {
    const state = fold(sessionDecider, history)
    t.strictSame(endOf(state, new Date(T0 + minute * MINUTE)), end, how)
    try {
      sessionDecider.decide(act, state, at(minute))
      t.fail(`${how}: an action was recorded`)
    } catch (error) {
      t.match(error, { code: 'impersonation.ended', details: { reason: end.reason, ...(end.code === null ? {} : { cause: end.code }) } },
        `${how}: a late action is told how`)
    }
  }
  t.equal(endOf(fold(sessionDecider, active), new Date(T0 + 30 * MINUTE - 1)), undefined, 'a millisecond before the expiry it goes on')
  t.match(fold(sessionDecider, [...active, { type: 'impersonation.session.stopped', data: { stoppedBy: 'ivy' } }]), { tokenHash: TOKEN },
    'an ended session keeps its token\'s digest')
  t.match(fold(sessionDecider, [breakGlass, { type: 'impersonation.session.stopped', data: { stoppedBy: 'ivy' } }]), { tokenHash: null },
    'one that never started had none')
})

t.test('only the requester starts a break-glass session, once approved, and only once', async (t) => {
  session.given([breakGlass]).when(start('ivy'), at(1)).thenThrows(t, 'impersonation.approval_required')
  session.given([breakGlass, approved]).when(start('ada'), at(2)).thenThrows(t, 'impersonation.not_yours')
  session.given([breakGlass, approved]).when(start('ivy'), at(10)).then(t, [started(10, 15, true)], 'expires 15 minutes after the start')
  t.match(fold(sessionDecider, [breakGlass, approved, started(10, 15, true)]),
    { status: 'active', approverId: 'ada', startedAt: iso(10), expiresAt: iso(25) }, 'active, approved by Ada')
  session.given([breakGlass, approved, started(10, 15, true)]).when(start('ivy'), at(11)).thenThrows(t, 'impersonation.already_started')
  session.given(active).when(start('ivy'), at(1)).thenThrows(t, 'impersonation.already_started', 'an ordinary session is never restarted')
})

t.test('actions are recorded while the session is active, before its expiry', async (t) => {
  session.given(active).when(act, clock(T0 + 30 * MINUTE - 1))
    .then(t, [{ type: 'impersonation.session.action_recorded', data: act.data } as ImpersonationEvent])
  session.given(active).when(act, at(30)).thenThrows(t, 'impersonation.ended', 'at the expiry')
  session.given(active).when(act, at(45)).thenThrows(t, 'impersonation.ended', 'after it')
  session.given([breakGlass, approved]).when(act, at(1)).thenThrows(t, 'impersonation.ended', 'not before the start')
})

t.test('a session expires at its expiry, not before', async (t) => {
  session.given(active).when(expire, at(29)).then(t, [])
  session.given(active).when(expire, at(30))
    .then(t, [{ type: 'impersonation.session.expired', data: { at: iso(30), stage: 'active' } }], 'at the expiry')
  session.given(active).when(expire, at(50))
    .then(t, [{ type: 'impersonation.session.expired', data: { at: iso(30), stage: 'active' } }], 'or any time after, as of the expiry')
})

t.test('the impersonator stops a session, nobody else; a revocation ends it', async (t) => {
  session.given(active).when(stop('ivy'), at(5)).then(t, [{ type: 'impersonation.session.stopped', data: { stoppedBy: 'ivy' } }])
  session.given(active).when(stop('ada'), at(5)).thenThrows(t, 'impersonation.not_yours')
  session.given(active).when(revoke, at(5)).then(t, [{ type: 'impersonation.session.revoked', data: revoke.data } as ImpersonationEvent])
})

t.test('after any end, ending again changes nothing and nothing starts or records', async (t) => {
  const ends: Array<[string, ImpersonationEvent[]]> = [
    ['stopped', [...active, { type: 'impersonation.session.stopped', data: { stoppedBy: 'ivy' } }]],
    ['revoked', [...active, { type: 'impersonation.session.revoked', data: { revokedBy: 'system', reason: 'revoked' } }]],
    ['expired', [...active, { type: 'impersonation.session.expired', data: { at: iso(30), stage: 'active' } }]],
    ['denied by an approver',
      [breakGlass, { type: 'impersonation.session.denied', data: { reason: 'rejected_by_approver', deniedBy: 'ada' } }]],
    ['denied by a guard', [{
      type: 'impersonation.session.denied',
      data: { reason: 'self', orgId: 'acme', impersonatorId: 'ivy', targetUserId: 'ivy', via: 'support', requestReason: REASON }
    }]]
  ]
  for (const [how, history] of ends) {
    for (const command of [stop('ivy'), revoke, expire, deny('ada'), ask()]) {
      session.given(history).when(command, at(40)).then(t, [], `${how}: ${command.type} changes nothing`)
    }
    session.given(history).when(start('ivy'), at(40)).thenThrows(t, 'impersonation.ended', `${how}: no start`)
    session.given(history).when(act, at(10)).thenThrows(t, 'impersonation.ended', `${how}: no action`)
    session.given(history).when(approve('ada'), at(10)).thenThrows(t, 'impersonation.not_pending', `${how}: no approval`)
  }
})

t.test('a break-glass request lapses 30 minutes after it was made', async (t) => {
  session.given([breakGlass]).when(approve('ada'), at(29)).then(t, [approved])
  session.given([breakGlass]).when(approve('ada'), at(30)).thenThrows(t, 'impersonation.not_pending')
  session.given([breakGlass]).when(expire, at(29)).then(t, [])
  session.given([breakGlass]).when(expire, at(30))
    .then(t, [{ type: 'impersonation.session.expired', data: { at: iso(30), stage: 'pending' } }])
  session.given([breakGlass, approved]).when(start('ivy'), at(30)).thenThrows(t, 'impersonation.ended', 'approved but not started in time')
  session.given([breakGlass, approved]).when(expire, at(45))
    .then(t, [{ type: 'impersonation.session.expired', data: { at: iso(30), stage: 'pending' } }])
})

t.test('the requester cannot deny their own request; a second person can', async (t) => {
  session.given([breakGlass]).when(deny('ivy'), at(1)).thenThrows(t, 'impersonation.self_approval')
  session.given([breakGlass]).when({ type: 'DenyImpersonation', data: { deniedBy: 'ada', note: 'no ticket on file' } }, at(1))
    .then(t, [{
      type: 'impersonation.session.denied',
      data: { reason: 'rejected_by_approver', deniedBy: 'ada', note: 'no ticket on file' }
    }])
  session.given(active).when(deny('ada'), at(1)).thenThrows(t, 'impersonation.not_pending', 'an active session is revoked, not denied')
})

t.test('a command on a session never requested is refused', async (t) => {
  for (const command of [approve('ada'), start('ivy'), act, stop('ivy'), revoke, expire]) {
    session.given([]).when(command, at(0)).thenThrows(t, 'impersonation.session_not_found', command.type)
  }
})

t.test('evolve ignores events that do not apply', async (t) => {
  const none = sessionDecider.initialState()
  const pending = fold(sessionDecider, [breakGlass])
  const running = fold(sessionDecider, active)
  const over = fold(sessionDecider, [...active, { type: 'impersonation.session.stopped', data: { stoppedBy: 'ivy' } }])
  const cases: Array<[string, SessionState, ImpersonationEvent]> = [
    ['an approval of an active session', running, approved],
    ['a second start', running, started(20, 60)],
    ['an action before the start', pending, { type: 'impersonation.session.action_recorded', data: act.data } as ImpersonationEvent],
    ['a stop of nothing', none, { type: 'impersonation.session.stopped', data: { stoppedBy: 'ivy' } }],
    ['an approval of nothing', none, approved],
    ['a start after the end', over, started(40, 60)],
    ['an approval after the end', over, approved],
    ['an expiry after the end', over, { type: 'impersonation.session.expired', data: { at: iso(30), stage: 'active' } }]
  ]
  for (const [what, state, event] of cases) t.strictSame(sessionDecider.evolve(state, event), state, what)
})

t.test('a second request event does not reopen a session', async (t) => {
  const over = fold(sessionDecider, [...active, { type: 'impersonation.session.stopped', data: { stoppedBy: 'ivy' } }])
  t.strictSame(sessionDecider.evolve(over, requested({ requestedAt: iso(40) })), over, 'an ended session stays ended')
  const running = fold(sessionDecider, active)
  t.strictSame(sessionDecider.evolve(running, requested({ requestedAt: iso(10) })), running, 'an active session keeps its start and expiry')
})

// ── properties ──────────────────────────────────────────────────────────────

const people = ['ivy', 'ada', 'sam', 'tom']
const person = fc.constantFrom(...people)
/** Ivy asks most often, so she is most often the one who may start and stop. */
const requester = fc.constantFrom('ivy', 'ivy', 'ivy', 'sam', 'ada')
/** Mostly every guard passes (critical or not); otherwise any mix of facts, so every guard gets its turn. */
const facts: fc.Arbitrary<RequestFacts> = fc.oneof(
  { arbitrary: fc.boolean().map((targetCritical) => ({ ...clear, targetCritical })), weight: 4 },
  {
    arbitrary: fc.record({
      impersonating: fc.boolean(), impersonatorBusy: fc.boolean(), targetIsMember: fc.boolean(), targetActive: fc.boolean(),
      targetIsStaff: fc.boolean(), targetCritical: fc.boolean(), supportAccess: fc.boolean()
    }),
    weight: 1
  }
)
/** Mostly within the break-glass cap, sometimes anything from -1 to 62 or a fraction; absent one time in four. */
const duration = fc.option(fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 15 }), weight: 3 },
  { arbitrary: fc.integer({ min: -1, max: 62 }), weight: 1 },
  { arbitrary: fc.constantFrom(0, 15, 16, 60, 61, 2.5), weight: 1 }
), { nil: undefined, freq: 4 })
const request: fc.Arbitrary<Request> = fc.record({
  impersonatorId: fc.constantFrom('ivy', 'ivy', 'sam'),
  targetUserId: fc.constantFrom('tom', 'tom', 'tom', 'tom', 'ada', 'ivy'),
  via: fc.constantFrom('support' as const, 'member' as const),
  ticket: fc.option(fc.constantFrom('SUP-1234', 'INC-77'), { nil: undefined, freq: 5 }),
  durationMinutes: duration,
  facts
}).map(({ ticket, durationMinutes, facts, ...who }) => ({
  type: 'RequestImpersonation' as const,
  data: {
    sessionId: 's1', orgId: 'acme', reason: REASON, tokenHash: TOKEN, ...who, facts,
    ...(ticket === undefined ? {} : { ticket }),
    ...(durationMinutes === undefined ? {} : { durationMinutes })
  }
}))
/** Weighted so that a session often gets approved and started before someone ends it. */
const command: fc.Arbitrary<SessionCommand> = fc.oneof(
  { arbitrary: request, weight: 2 },
  {
    arbitrary: fc.record({
      type: fc.constant('ApproveImpersonation' as const),
      data: fc.record({ approverId: person, approverVia: fc.constantFrom('member' as const, 'platform' as const) })
    }),
    weight: 8
  },
  { arbitrary: fc.record({ type: fc.constant('DenyImpersonation' as const), data: fc.record({ deniedBy: person }) }), weight: 1 },
  {
    arbitrary: fc.record({
      type: fc.constant('StartImpersonation' as const),
      data: fc.record({ startedBy: requester, tokenHash: fc.constant(TOKEN) })
    }),
    weight: 10
  },
  {
    arbitrary: fc.record({
      type: fc.constant('RecordAction' as const),
      data: fc.record({
        method: fc.constantFrom('GET', 'POST'),
        route: fc.constant('/v1/orgs/:orgId/members'),
        outcome: fc.constantFrom('allowed' as const, 'blocked' as const)
      })
    }),
    weight: 12
  },
  { arbitrary: fc.record({ type: fc.constant('StopImpersonation' as const), data: fc.record({ stoppedBy: requester }) }), weight: 1 },
  { arbitrary: fc.constant(revoke), weight: 1 },
  { arbitrary: fc.constant(expire), weight: 4 }
)
/**
 * How far the clock moves before a command: mostly a few minutes, often whole
 * ones (to land exactly on the boundaries), sometimes past every cap and window.
 */
const advance = fc.oneof(
  { arbitrary: fc.constant(0), weight: 6 },
  { arbitrary: fc.integer({ min: 0, max: 5 }).map((m) => m * MINUTE), weight: 12 },
  { arbitrary: fc.integer({ min: 0, max: 6 * MINUTE }), weight: 6 },
  { arbitrary: fc.integer({ min: 0, max: 70 * MINUTE }), weight: 1 },
  { arbitrary: fc.constantFrom(15, 30, 60, 61).map((m) => m * MINUTE), weight: 1 }
)
/** Half the sessions open on a critical target with a ticket and every guard passing: the path the approvals guard. */
const opening = fc.oneof(request,
  request.map((asked) => ({ ...asked, data: { ...asked.data, ticket: 'SUP-1234', facts: { ...clear, targetCritical: true } } })))
/** A request at T0, then commands at a clock that only moves forward. */
const scenario = fc.tuple(opening, fc.array(fc.tuple(command, advance), { minLength: 1, maxLength: 30, size: 'large' }))
const RUNS = 1000

interface Step {
  readonly command: SessionCommand
  readonly now: number
  readonly before: SessionState
  readonly events: ImpersonationEvent[]
  readonly after: SessionState
  /** The refusal's code, when the command was refused. */
  readonly refused: string | undefined
  /** Events decided before this step. */
  readonly logged: number
  readonly untouched: boolean
}
interface Played {
  readonly steps: Step[]
  readonly log: ImpersonationEvent[]
  /** The request the session was opened with, if one was accepted. */
  readonly opened: Request | undefined
}

/** The events a command decides, or the code of the domain error that refuses it. */
function outcome (command: SessionCommand, state: SessionState, now: number): ImpersonationEvent[] | string {
  try {
    return sessionDecider.decide(command, state, clock(now))
  } catch (error) {
    if (!(error instanceof LedgerlineError)) throw error
    return error.code
  }
}

/** Decides each command against the state folded so far and applies its events; a domain error is a refusal: no events. */
function play ([first, rest]: [Request, Array<[SessionCommand, number]>]): Played {
  let state = sessionDecider.initialState()
  let now = T0
  let opened: Request | undefined
  const steps: Step[] = []
  const log: ImpersonationEvent[] = []
  for (const [command, forward] of [[first, 0] as [SessionCommand, number], ...rest]) {
    now += forward
    const before = structuredClone(state)
    const decided = outcome(command, state, now)
    const events = typeof decided === 'string' ? [] : decided
    const untouched = JSON.stringify(state) === JSON.stringify(before)
    if (command.type === 'RequestImpersonation' && events.some((event) => event.type === 'impersonation.session.requested')) {
      opened = command
    }
    for (const event of events) state = sessionDecider.evolve(state, event)
    steps.push({
      command, now, before, events, after: structuredClone(state), refused: typeof decided === 'string' ? decided : undefined,
      logged: log.length, untouched
    })
    log.push(...events)
  }
  return { steps, log, opened }
}

const TERMINAL = new Set([
  'impersonation.session.denied', 'impersonation.session.stopped', 'impersonation.session.revoked', 'impersonation.session.expired'
])

t.test('no session of a critical target is active without the approval of a second person, not its target, first', async (t) => {
  let reached = 0
  fc.assert(fc.property(scenario, (commands) => {
    const { steps, log, opened } = play(commands)
    if (opened?.data.facts.targetCritical !== true || !steps.some((step) => step.after.status === 'active')) return
    reached++
    const { impersonatorId, targetUserId } = opened.data
    for (const step of steps.filter((step) => step.after.status === 'active')) {
      const startedAt = log.findIndex((event) => event.type === 'impersonation.session.started')
      const approval = log.findIndex((event) => event.type === 'impersonation.session.approved' &&
        event.data.approverId !== impersonatorId && event.data.approverId !== targetUserId)
      assert.ok(approval !== -1 && approval < startedAt,
        `active at ${new Date(step.now).toISOString()} with no second approver before the start: ${JSON.stringify(log)}`)
    }
  }), { numRuns: 2 * RUNS })
  t.ok(reached > 0, `${2 * RUNS} random sequences; ${reached} made a critical target's session active, ` +
    'each after the approval of someone neither requester nor target')
})

t.test('an approval is never the requester\'s nor the target\'s, whoever asks', async (t) => {
  let refused = 0
  fc.assert(fc.property(scenario, (commands) => {
    const { steps, opened } = play(commands)
    for (const step of steps) {
      if (step.command.type !== 'ApproveImpersonation' || !['pending', 'approved', 'active'].includes(step.before.status)) continue
      if (step.before.status === 'none' || step.before.status === 'denied') continue
      const { impersonatorId, targetUserId } = step.before.request
      const approver = step.command.data.approverId
      if (approver === impersonatorId || approver === targetUserId) {
        assert.equal(step.events.length, 0, `approved by ${approver}: ${JSON.stringify(step.events)}`)
        assert.ok(step.refused === 'impersonation.self_approval' || step.refused === 'impersonation.target_approval',
          `refused with ${step.refused}`)
        refused++
      }
    }
    for (const step of steps) {
      for (const event of step.events) {
        if (event.type === 'impersonation.session.approved') {
          assert.ok(event.data.approverId !== opened?.data.impersonatorId && event.data.approverId !== opened?.data.targetUserId)
        }
      }
    }
  }), { numRuns: RUNS })
  t.ok(refused > 0, `${RUNS} random sequences; ${refused} approvals by the requester or the target, every one refused`)
})

t.test('every start lasts the requested duration within its cap, and a stream starts at most once', async (t) => {
  let starts = 0
  fc.assert(fc.property(scenario, (commands) => {
    const { steps, log, opened } = play(commands)
    assert.ok(log.filter((event) => event.type === 'impersonation.session.started').length <= 1, `started twice: ${JSON.stringify(log)}`)
    for (const step of steps) {
      for (const event of step.events) {
        if (event.type !== 'impersonation.session.started') continue
        assert.ok(opened !== undefined)
        const critical = opened.data.facts.targetCritical
        const lasts = (Date.parse(event.data.expiresAt) - Date.parse(event.data.startedAt)) / MINUTE
        assert.equal(event.data.breakGlass, critical, 'break-glass exactly when the target is critical')
        assert.ok(lasts <= (critical ? 15 : 60), `lasts ${lasts} minutes`)
        assert.equal(lasts, opened.data.durationMinutes ?? (critical ? 15 : 30), 'as requested')
        assert.equal(Date.parse(event.data.startedAt), step.now, 'starts when it is started')
        starts++
      }
    }
  }), { numRuns: RUNS })
  t.ok(starts > 0, `${RUNS} random sequences, ${starts} starts: none over its cap, none off the requested duration, none twice`)
})

t.test('an action is recorded only while the session is active and before its expiry', async (t) => {
  let recorded = 0
  fc.assert(fc.property(scenario, (commands) => {
    for (const step of play(commands).steps) {
      if (!step.events.some((event) => event.type === 'impersonation.session.action_recorded')) continue
      assert.ok(step.before.status === 'active', `recorded while ${step.before.status}`)
      assert.ok(step.now < Date.parse(step.before.expiresAt),
        `recorded at ${new Date(step.now).toISOString()}, expiry ${step.before.expiresAt}`)
      recorded++
    }
  }), { numRuns: RUNS })
  t.ok(recorded > 0, `${RUNS} random sequences, ${recorded} actions recorded, all inside an active session`)
})

t.test('after a terminal event the session decides no further event', async (t) => {
  let ended = 0
  fc.assert(fc.property(scenario, (commands) => {
    const { log } = play(commands)
    const end = log.findIndex((event) => TERMINAL.has(event.type))
    assert.ok(end === -1 || end === log.length - 1, `events after ${log[end]?.type}: ${JSON.stringify(log.slice(end))}`)
    if (end !== -1) ended++
  }), { numRuns: RUNS })
  t.ok(ended > 0, `${RUNS} random sequences, ${ended} ended: nothing followed the end`)
})

t.test('folding all events at once equals folding them step by step, and a decision does not depend on which', async (t) => {
  fc.assert(fc.property(scenario, (commands) => {
    const { steps, log } = play(commands)
    assert.deepEqual(fold(sessionDecider, log), steps.at(-1)!.after)
    for (const step of steps) {
      const prefix = log.slice(0, step.logged + step.events.length)
      assert.deepEqual(fold(sessionDecider, prefix), step.after)
      const replayed = fold(sessionDecider, log.slice(0, step.logged))
      assert.deepEqual(replayed, step.before)
      assert.deepEqual(outcome(step.command, replayed, step.now), step.refused ?? step.events, 'the same decision on the replayed state')
    }
  }), { numRuns: RUNS })
  t.pass(`${RUNS} random sequences: every step's state equals the fold of the events so far`)
})

t.test('deciding never changes the state it reads, and every decided event fits its schema', async (t) => {
  const registry = new EventRegistry(impersonationEvents)
  fc.assert(fc.property(scenario, (commands) => {
    const { steps, log } = play(commands)
    for (const step of steps) assert.ok(step.untouched, `${step.command.type} changed the state it read`)
    for (const event of log) registry.validate(event.type, event.data)
  }), { numRuns: RUNS })
  t.pass(`${RUNS} random sequences: no decision mutated its state; every event validated`)
})
