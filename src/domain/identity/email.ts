/**
 * E-mail reservations: one stream per normalized address, appended with
 * expected version no_stream, so two registrations of one address cannot both
 * succeed. The stream id is a hash: no address appears in a stream id.
 */
import { createHash } from 'node:crypto'
import type { Decider } from '../decider.ts'
import type { DomainEvent } from '../decider.ts'
import { EmailTaken } from './errors.ts'

export type EmailState = { status: 'free' } | { status: 'reserved', userId: string }
export type EmailCommand = { type: 'ReserveEmail', data: { email: string, userId: string } }
export type EmailEvent = DomainEvent<'identity.email.reserved', { email: string, userId: string }>

/** Lowercased and trimmed: the form uniqueness is checked on. */
export function normalizeEmail (email: string): string {
  return email.trim().toLowerCase()
}

export function emailStreamId (email: string): string {
  return `email-${createHash('sha256').update(normalizeEmail(email)).digest('hex')}`
}

export const emailDecider: Decider<EmailCommand, EmailEvent, EmailState> = {
  initialState: () => ({ status: 'free' }),
  decide (command, state) {
    if (state.status === 'reserved') {
      if (state.userId === command.data.userId) return []
      throw new EmailTaken()
    }
    return [{ type: 'identity.email.reserved', data: { email: normalizeEmail(command.data.email), userId: command.data.userId } }]
  },
  evolve: (_state, event) => ({ status: 'reserved', userId: event.data.userId })
}
