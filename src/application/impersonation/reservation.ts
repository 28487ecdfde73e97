/**
 * The impersonator's reservation (src/domain/impersonation/reservation.ts):
 * who holds it now, and taking it for a session. Reads go to the event store,
 * not to a read model, so what one node wrote a moment ago is what another
 * sees.
 */
import { aggregate } from '../../domain/decider.ts'
import { uuidV5, type CommandMetadata } from '../../domain/envelope.ts'
import { ImpersonatorBusy } from '../../domain/impersonation/errors.ts'
import { holds, reservationDecider, reservationStreamId } from '../../domain/impersonation/reservation.ts'
import { sessionDecider, sessionStreamId } from '../../domain/impersonation/session.ts'
import { execute } from '../commands.ts'
import type { IdentityServices } from '../identity/commands.ts'

export interface Judged {
  /** Another session of the impersonator's is open: the reservation is taken. */
  readonly busy: boolean
  /** The session named by a reservation that no longer holds (to take it over). */
  readonly released?: string
  /** Never reserved: sessions opened before reservations existed are to be asked of the read model. */
  readonly never: boolean
}

/** Whether the impersonator's reservation is held, at `now`, by a session other than `sessionId`. */
export async function judgeReservation (services: IdentityServices, impersonatorId: string, sessionId: string, now: Date): Promise<Judged> {
  const reservation = await aggregate(services.store, reservationDecider, reservationStreamId(impersonatorId))
  if (reservation.status === 'free') return { busy: false, never: true }
  if (reservation.sessionId === sessionId) return { busy: false, never: false }
  const holder = await aggregate(services.store, sessionDecider, sessionStreamId(reservation.sessionId))
  if (holds(holder, reservation.reservedAt, now)) return { busy: true, never: false }
  return { busy: false, released: reservation.sessionId, never: false }
}

/**
 * Reserves the impersonator for `sessionId`, taking over `released`; answers
 * false when another session holds it (it reserved since it was judged, on
 * this node or another).
 */
export async function reserveImpersonator (
  services: IdentityServices, metadata: CommandMetadata, impersonatorId: string, session: { sessionId: string, orgId: string },
  released: string | undefined
): Promise<boolean> {
  try {
    await execute(services, reservationDecider, reservationStreamId(impersonatorId), {
      type: 'ReserveImpersonator',
      data: { ...session, ...(released === undefined ? {} : { released }) }
    }, { ...metadata, orgId: session.orgId, commandId: uuidV5(`${metadata.commandId}/reservation`) })
    return true
  } catch (error) {
    if (error instanceof ImpersonatorBusy) return false
    throw error
  }
}
