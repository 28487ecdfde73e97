/**
 * API and session tokens (`token-<tokenId>`). The token itself is shown once
 * and never stored: the events carry its SHA-256 and a short prefix.
 */
import type { Decider, DomainEvent } from '../decider.ts'
import { TokenAlreadyExists, TokenNotFound } from './errors.ts'

export interface TokenData {
  tokenId: string
  userId: string
  kind: 'api' | 'session'
  name: string
  prefix: string
  hash: string
  expiresAt?: string
}

export type TokenState =
  | { status: 'none' }
  | { status: 'active' | 'revoked', token: TokenData }

export type TokenCommand =
  | { type: 'CreateToken', data: TokenData }
  | { type: 'RevokeToken', data: { reason?: string } }

export type TokenEvent =
  | DomainEvent<'identity.token.created', TokenData>
  | DomainEvent<'identity.token.revoked', { reason?: string }>

export function tokenStreamId (tokenId: string): string {
  return `token-${tokenId}`
}

export const tokenDecider: Decider<TokenCommand, TokenEvent, TokenState> = {
  initialState: () => ({ status: 'none' }),
  decide (command, state) {
    if (command.type === 'CreateToken') {
      if (state.status !== 'none') throw new TokenAlreadyExists()
      return [{ type: 'identity.token.created', data: command.data }]
    }
    if (state.status === 'none') throw new TokenNotFound()
    if (state.status === 'revoked') return [] // revoking twice changes nothing
    return [{ type: 'identity.token.revoked', data: command.data.reason === undefined ? {} : { reason: command.data.reason } }]
  },
  evolve (state, event) {
    if (event.type === 'identity.token.created') return { status: 'active', token: event.data }
    return state.status === 'none' ? state : { status: 'revoked', token: state.token }
  }
}
