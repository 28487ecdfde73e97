/**
 * One impersonation at a time per impersonator, on every node: the
 * impersonator's reservation stream (`impersonator-<userId>`), like the
 * e-mail reservations of src/domain/identity/email.ts. A request that would
 * open a session (pending or active) first appends `reserved` for it with
 * the version it read; of two racing requests, the second append fails its
 * expected version and, decided again, finds the stream held.
 *
 * Nothing has to remember to release a reservation (a stop, a revocation,
 * the expiry sweep, the re-check reactor, a lapse, a crash): the stream
 * names the session holding it, and the next request judges that session
 * from its own stream (`holds`). The application passes the holder it found
 * ended as `released`; a holder it did not judge (one that reserved since
 * it looked) is taken as holding.
 */
import type { Decider } from '../decider.ts'
import { ImpersonatorBusy } from './errors.ts'
import type { ReservationEvent } from './events.ts'
import { APPROVAL_WINDOW_MINUTES, endOf, type SessionState } from './session.ts'

/**
 * How long a reservation whose session has no event yet holds: the moment
 * between the two appends of a request, with room for clocks that differ
 * between nodes. A request that died in that moment frees it after this.
 */
export const UNWRITTEN_HOLD_MS = 60_000

export type ReservationState = { status: 'free' } | { status: 'held', sessionId: string, reservedAt: string }

export type ReservationCommand = {
  type: 'ReserveImpersonator'
  data: { sessionId: string, orgId: string, /** The holder the caller judged over (`holds` said no). */ released?: string }
}

export function reservationStreamId (impersonatorId: string): string {
  return `impersonator-${impersonatorId}`
}

/** Whether the session a reservation names still holds it at `now`: open, and within its time. */
export function holds (session: SessionState, reservedAt: string, now: Date): boolean {
  switch (session.status) {
    case 'none':
      return now.getTime() < Date.parse(reservedAt) + UNWRITTEN_HOLD_MS
    case 'pending':
    case 'approved':
      return now.getTime() < Date.parse(session.request.requestedAt) + APPROVAL_WINDOW_MINUTES * 60_000
    default:
      return endOf(session, now) === undefined
  }
}

export const reservationDecider: Decider<ReservationCommand, ReservationEvent, ReservationState> = {
  initialState: () => ({ status: 'free' }),
  decide (command, state, { now }) {
    const { sessionId, orgId, released } = command.data
    if (state.status === 'held') {
      // The same session again (a retried request, or its start after approval): it holds it already.
      if (state.sessionId === sessionId) return []
      if (state.sessionId !== released) throw new ImpersonatorBusy()
    }
    return [{ type: 'impersonation.impersonator.reserved', data: { sessionId, orgId, reservedAt: now.toISOString() } }]
  },
  evolve: (_state, event) => ({ status: 'held', sessionId: event.data.sessionId, reservedAt: event.data.reservedAt })
}
