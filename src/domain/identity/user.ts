/**
 * The user aggregate (`user-<userId>`). A disabled user can only be enabled
 * again. Uniqueness of e-mail addresses is the reservation stream's job
 * (email.ts); the last-owner rule across organizations arrives as a lookup in
 * the command (`lastOwnerOf`), found by the application in the read model.
 */
import type { Decider } from '../decider.ts'
import { LastOwner, UserAlreadyExists, UserDisabled, UserNotFound } from './errors.ts'
import type { UserEvent } from './events.ts'

export type UserState =
  | { status: 'none' }
  | {
    status: 'active' | 'disabled'
    userId: string
    email: string
    displayName: string
    hasPassword: boolean
    platformAdmin: boolean
    platformSupport: boolean
  }

export type UserCommand =
  | { type: 'RegisterUser', data: { userId: string, email: string, displayName: string, passwordHash?: string } }
  | { type: 'SetPassword', data: { passwordHash: string } }
  | { type: 'DisableUser', data: { reason?: string, lastOwnerOf: readonly string[] } }
  | { type: 'EnableUser', data: Record<string, never> }
  | { type: 'SetStaffFlags', data: { platformAdmin: boolean, platformSupport: boolean } }

export function userStreamId (userId: string): string {
  return `user-${userId}`
}

export const userDecider: Decider<UserCommand, UserEvent, UserState> = {
  initialState: () => ({ status: 'none' }),

  decide (command, state) {
    if (command.type === 'RegisterUser') {
      if (state.status !== 'none') throw new UserAlreadyExists()
      const { passwordHash, ...registered } = command.data
      // One append: a user is never left registered without the password they signed up with.
      return passwordHash === undefined
        ? [{ type: 'identity.user.registered', data: registered }]
        : [{ type: 'identity.user.registered', data: registered }, { type: 'identity.user.password_set', data: { passwordHash } }]
    }
    if (state.status === 'none') throw new UserNotFound()
    if (command.type === 'EnableUser') return state.status === 'disabled' ? [{ type: 'identity.user.enabled', data: {} }] : []
    if (state.status === 'disabled') throw new UserDisabled()
    switch (command.type) {
      case 'SetPassword':
        return [{ type: 'identity.user.password_set', data: command.data }]
      case 'DisableUser':
        if (command.data.lastOwnerOf.length > 0) {
          throw new LastOwner('the last owner of an organization cannot be disabled', { orgIds: command.data.lastOwnerOf })
        }
        return [{ type: 'identity.user.disabled', data: command.data.reason === undefined ? {} : { reason: command.data.reason } }]
      case 'SetStaffFlags':
        return command.data.platformAdmin === state.platformAdmin && command.data.platformSupport === state.platformSupport
          ? []
          : [{ type: 'identity.user.staff_flags_set', data: command.data }]
    }
  },

  evolve (state, event) {
    if (event.type === 'identity.user.registered') {
      return { status: 'active', ...event.data, hasPassword: false, platformAdmin: false, platformSupport: false }
    }
    if (state.status === 'none') return state
    switch (event.type) {
      case 'identity.user.password_set': return { ...state, hasPassword: true }
      case 'identity.user.disabled': return { ...state, status: 'disabled' }
      case 'identity.user.enabled': return { ...state, status: 'active' }
      case 'identity.user.staff_flags_set': return { ...state, ...event.data }
    }
    return state
  }
}
