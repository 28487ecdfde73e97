/**
 * The impersonator's reservation: examples of each rule, then a property over
 * random bursts of racing requests on a clock that runs past sessions' ends:
 * at no moment do two sessions of one impersonator hold it, and once none
 * does, exactly one request of a burst gets it.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import t from 'tap'
import { fold, type DecisionContext } from '../decider.ts'
import { LedgerlineError } from '../errors.ts'
import { spec } from '../testing.ts'
import type { ImpersonationEvent, ReservationEvent } from './events.ts'
import { holds, reservationDecider, UNWRITTEN_HOLD_MS, type ReservationCommand, type ReservationState } from './reservation.ts'
import { sessionDecider, type SessionState } from './session.ts'

const reservation = spec(reservationDecider)
const T0 = Date.parse('2026-01-01T00:00:00.000Z')
const MINUTE = 60_000
const iso = (ms: number): string => new Date(T0 + ms).toISOString()
const at = (ms: number): DecisionContext => ({ now: new Date(T0 + ms), actor: { type: 'user', id: 'ivy' } })

const reserve = (sessionId: string, released?: string): ReservationCommand =>
  ({ type: 'ReserveImpersonator', data: { sessionId, orgId: 'acme', ...(released === undefined ? {} : { released }) } })
const reserved = (sessionId: string, ms = 0): ReservationEvent =>
  ({ type: 'impersonation.impersonator.reserved', data: { sessionId, orgId: 'acme', reservedAt: iso(ms) } })

/** Session events of an ordinary session requested and started at `from`, for `minutes`. */
function opened (sessionId: string, from: number, minutes: number, breakGlass = false): ImpersonationEvent[] {
  const requested: ImpersonationEvent = {
    type: 'impersonation.session.requested',
    data: {
      sessionId, orgId: 'acme', impersonatorId: 'ivy', targetUserId: 'tom', via: 'member',
      reason: 'the customer asked for help with an invoice',
      durationMinutes: minutes, critical: breakGlass, breakGlass, requestedAt: iso(from), ...(breakGlass ? { ticket: 'SUP-1' } : {})
    }
  }
  if (breakGlass) return [requested]
  return [requested, {
    type: 'impersonation.session.started',
    data: {
      tokenHash: 'a'.repeat(64), startedAt: iso(from), expiresAt: iso(from + minutes * MINUTE), via: 'member',
      critical: false, breakGlass: false
    }
  }]
}

t.test('a free impersonator is reserved for the session that asks', async (t) => {
  reservation.given([]).when(reserve('s1'), at(0)).then(t, [reserved('s1')])
})

t.test('a held reservation refuses another session, unless the caller found its holder over', async (t) => {
  reservation.given([reserved('s1')]).when(reserve('s2'), at(1)).thenThrows(t, 'impersonation.already_active')
  reservation.given([reserved('s1')]).when(reserve('s2', 's0'), at(1))
    .thenThrows(t, 'impersonation.already_active', 'judged over: another holder, not this one')
  reservation.given([reserved('s1')]).when(reserve('s2', 's1'), at(5)).then(t, [reserved('s2', 5)], 'its holder judged over: taken over')
  reservation.given([reserved('s1')]).when(reserve('s1'), at(5))
    .then(t, [], 'the holder again (a retried request, a start after approval): nothing to write')
})

t.test('a session holds its reservation while it is open and within its time', async (t) => {
  const s = (events: ImpersonationEvent[]): SessionState => fold(sessionDecider, events)
  const active = opened('s1', 0, 30)
  t.equal(holds(s(active), iso(0), new Date(T0 + 30 * MINUTE - 1)), true, 'active, before its expiry')
  t.equal(holds(s(active), iso(0), new Date(T0 + 30 * MINUTE)), false, 'at its expiry, expired event written or not')
  for (const end of [
    { type: 'impersonation.session.stopped', data: { stoppedBy: 'ivy' } },
    { type: 'impersonation.session.revoked', data: { revokedBy: 'system', reason: 'impersonator_lost_permission' } },
    { type: 'impersonation.session.expired', data: { at: iso(30 * MINUTE), stage: 'active' } }
  ] as ImpersonationEvent[]) t.equal(holds(s([...active, end]), iso(0), new Date(T0 + MINUTE)), false, `${end.type}: released`)
  const pending = opened('s1', 0, 15, true)
  t.equal(holds(s(pending), iso(0), new Date(T0 + 30 * MINUTE - 1)), true, 'a break-glass request waiting for approval holds it')
  t.equal(holds(s(pending), iso(0), new Date(T0 + 30 * MINUTE)), false, 'until it lapses')
  t.equal(holds(s([...pending, { type: 'impersonation.session.denied', data: { reason: 'rejected_by_approver', deniedBy: 'ada' } }]),
    iso(0), new Date(T0 + MINUTE)), false,
    'denied: released')
  t.equal(holds(s([{
    type: 'impersonation.session.denied',
    data: { reason: 'self', orgId: 'acme', impersonatorId: 'ivy', targetUserId: 'ivy', via: 'member' }
  }]),
    iso(0), new Date(T0)), false, 'refused by a guard: never held')
  t.equal(holds(s([]), iso(0), new Date(T0 + UNWRITTEN_HOLD_MS - 1)), true,
    'not written yet: held (its request is between its two appends)')
  t.equal(holds(s([]), iso(0), new Date(T0 + UNWRITTEN_HOLD_MS)), false, 'never written: a request that died frees it after a minute')
})

// ── property ────────────────────────────────────────────────────────────────

/**
 * One request of a burst: how long its session would last, and what becomes
 * of it — it runs its time, is stopped after some minutes, or its process
 * dies between the reservation and the session (nothing written).
 */
const request = fc.record({
  minutes: fc.integer({ min: 1, max: 60 }),
  fate: fc.oneof(
    { arbitrary: fc.constant({ kind: 'runs' as const }), weight: 2 },
    { arbitrary: fc.integer({ min: 0, max: 40 }).map((after) => ({ kind: 'stopped' as const, after })), weight: 2 },
    { arbitrary: fc.constant({ kind: 'dies' as const }), weight: 1 }
  ),
  breakGlass: fc.boolean()
})
/** Bursts of 1 to 5 concurrent requests, a few seconds to an hour apart. */
const bursts = fc.array(
  fc.tuple(fc.array(request, { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 70 * MINUTE })),
  { minLength: 1, maxLength: 25 }
)

interface Opened {
  readonly sessionId: string, readonly reservedAt: string, readonly events: Array<{ at: number, event: ImpersonationEvent }>
}

/** The session's state at `now`: the events that had happened by then. */
const stateAt = (session: Opened, now: number): SessionState =>
  fold(sessionDecider, session.events.filter((e) => e.at <= now).map((e) => e.event))

function decided (command: ReservationCommand, state: ReservationState, now: number): ReservationEvent[] | string {
  try {
    return reservationDecider.decide(command, state, at(now))
  } catch (error) {
    if (!(error instanceof LedgerlineError)) throw error
    return error.code
  }
}

t.test('at no moment do two sessions hold one impersonator, and a free one is taken by exactly one request of a burst', async (t) => {
  let taken = 0
  let refused = 0
  fc.assert(fc.property(bursts, (plan) => {
    const log: ReservationEvent[] = []
    const sessions = new Map<string, Opened>()
    let now = 0
    let next = 0
    for (const [burst, wait] of plan) {
      now += wait
      // Every request of the burst reads the stream and judges its holder at the same moment, as racing requests do.
      const read = fold(reservationDecider, log)
      const holder = read.status === 'held' ? sessions.get(read.sessionId)! : undefined
      const holding = holder !== undefined && holds(stateAt(holder, now), holder.reservedAt, new Date(T0 + now))
      const released = holder !== undefined && !holding ? holder.sessionId : undefined
      const winners: string[] = []
      for (const asked of burst) {
        const sessionId = `s${++next}`
        // The appends land one after the other; a loser's retry decides against the stream as it is then.
        const outcome = decided(reserve(sessionId, released), fold(reservationDecider, log), now)
        if (typeof outcome === 'string') {
          assert.equal(outcome, 'impersonation.already_active')
          refused++
          continue
        }
        log.push(...outcome)
        winners.push(sessionId)
        for (const other of sessions.values()) {
          assert.ok(!holds(stateAt(other, now), other.reservedAt, new Date(T0 + now)),
            `${sessionId} reserved at ${iso(now)} while ${other.sessionId} held it`)
        }
        const events = asked.fate.kind === 'dies'
          ? []
          : opened(sessionId, now, asked.breakGlass ? 15 : asked.minutes, asked.breakGlass).map((event) => ({ at: now, event }))
        if (asked.fate.kind === 'stopped') {
          events.push({ at: now + asked.fate.after * MINUTE, event: { type: 'impersonation.session.stopped', data: { stoppedBy: 'ivy' } } })
        }
        sessions.set(sessionId, { sessionId, reservedAt: iso(now), events })
        taken++
      }
      assert.equal(winners.length, holding ? 0 : 1,
        `at ${iso(now)}: ${holding ? 'held, yet taken' : 'free, yet'} by ${winners.length} of ${burst.length}`)
    }
  }), { numRuns: 1000 })
  t.ok(taken > 0 && refused > 0,
    `1000 random plans: ${taken} reservations taken, ${refused} refused; never two holders, never a free one left untaken`)
})
