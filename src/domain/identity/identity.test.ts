import fc from 'fast-check'
import t from 'tap'
import { forEachDatabase } from '../../../test/helpers/databases.ts'
import { createPostgresEventStore } from '../../eventstore/postgres.ts'
import { handleCommand } from '../decider.ts'
import { systemCommand } from '../envelope.ts'
import { EventRegistry } from '../registry.ts'
import { spec, TEST_CONTEXT } from '../testing.ts'
import { emailDecider, emailStreamId, normalizeEmail } from './email.ts'
import { identityEvents, type UserEvent } from './events.ts'
import { tokenDecider } from './token.ts'
import { userDecider, type UserCommand, type UserState } from './user.ts'

const registered: UserEvent[] = [
  { type: 'identity.user.registered', data: { userId: 'ann', email: 'ann@example.com', displayName: 'Ann' } }
]
const disabled: UserEvent[] = [...registered, { type: 'identity.user.disabled', data: {} }]
const user = spec(userDecider)

t.test('a disabled user can only be enabled again', async (t) => {
  user.given(disabled).when({ type: 'SetPassword', data: { passwordHash: 'scrypt$16384$8$1$salt$hash-hash-hash' } })
    .thenThrows(t, 'identity.user_disabled')
  user.given(disabled).when({ type: 'SetStaffFlags', data: { platformAdmin: true, platformSupport: false } })
    .thenThrows(t, 'identity.user_disabled')
  user.given(disabled).when({ type: 'EnableUser', data: {} }).then(t, [{ type: 'identity.user.enabled', data: {} }])
  user.given(registered).when({ type: 'EnableUser', data: {} }).then(t, [], 'enabling an active user changes nothing')
})

t.test('the last owner of an organization cannot be disabled; others can', async (t) => {
  user.given(registered).when({ type: 'DisableUser', data: { lastOwnerOf: ['acme'] } }).thenThrows(t, 'org.last_owner')
  user.given(registered).when({ type: 'DisableUser', data: { reason: 'left', lastOwnerOf: [] } })
    .then(t, [{ type: 'identity.user.disabled', data: { reason: 'left' } }])
  user.given([]).when({ type: 'EnableUser', data: {} }).thenThrows(t, 'identity.user_not_found')
  user.given(registered).when({ type: 'RegisterUser', data: { userId: 'ann', email: 'a@b.co', displayName: 'A' } })
    .thenThrows(t, 'identity.user_exists')
})

t.test('signing up with a password registers the user and sets the password in one append', async (t) => {
  const passwordHash = 'scrypt$32768$8$1$c2FsdA$aGFzaC1oYXNoLWhhc2g'
  user.given([]).when({ type: 'RegisterUser', data: { userId: 'ann', email: 'ann@example.com', displayName: 'Ann', passwordHash } })
    .then(t, [registered[0]!, { type: 'identity.user.password_set', data: { passwordHash } }])
  user.given([]).when({ type: 'RegisterUser', data: { userId: 'ann', email: 'ann@example.com', displayName: 'Ann' } }).then(t, registered)
})

t.test('no command changes a disabled user except EnableUser, and refusals change nothing', async (t) => {
  const registry = new EventRegistry(identityEvents)
  const command: fc.Arbitrary<UserCommand> = fc.oneof(
    fc.constant({ type: 'RegisterUser' as const, data: { userId: 'ann', email: 'ann@example.com', displayName: 'Ann' } }),
    fc.constant({ type: 'SetPassword' as const, data: { passwordHash: 'scrypt$16384$8$1$salt$hash-hash-hash' } }),
    fc.record({ type: fc.constant('DisableUser' as const), data: fc.record({ lastOwnerOf: fc.constantFrom([], ['acme']) }) }),
    fc.constant({ type: 'EnableUser' as const, data: {} }),
    fc.record({
      type: fc.constant('SetStaffFlags' as const),
      data: fc.record({ platformAdmin: fc.boolean(), platformSupport: fc.boolean() })
    })
  )
  fc.assert(fc.property(fc.array(command, { maxLength: 30 }), (commands) => {
    let state: UserState = userDecider.initialState()
    for (const c of commands) {
      const before = JSON.stringify(state)
      let events: UserEvent[]
      try {
        events = userDecider.decide(c, state, TEST_CONTEXT)
      } catch {
        if (JSON.stringify(state) !== before) return false
        continue
      }
      if (state.status === 'disabled' && c.type !== 'EnableUser' && events.length > 0) return false
      for (const event of events) {
        registry.validate(event.type, event.data)
        state = userDecider.evolve(state, event)
      }
    }
    return true
  }), { numRuns: 300 })
  t.pass('300 random sequences held')
})

t.test('tokens: created once, revoked once, revoking again changes nothing', async (t) => {
  const token = spec(tokenDecider)
  const data = { tokenId: 'tk1', userId: 'ann', kind: 'api' as const, name: 'ci', prefix: 'll_abcd', hash: 'a'.repeat(64) }
  token.given([]).when({ type: 'CreateToken', data }).then(t, [{ type: 'identity.token.created', data }])
  token.given([{ type: 'identity.token.created', data }]).when({ type: 'CreateToken', data }).thenThrows(t, 'identity.token_exists')
  token.given([]).when({ type: 'RevokeToken', data: {} }).thenThrows(t, 'identity.token_not_found')
  token.given([{ type: 'identity.token.created', data }, { type: 'identity.token.revoked', data: {} }])
    .when({ type: 'RevokeToken', data: {} }).then(t, [])
})

t.test('e-mail addresses are unique: concurrent registrations of one address, one wins', async (t) => {
  t.equal(normalizeEmail('  Ann@Example.COM '), 'ann@example.com')
  t.equal(emailStreamId('Ann@example.com'), emailStreamId('ann@EXAMPLE.com '), 'one stream per normalized address')
  t.match(emailStreamId('ann@example.com'), /^email-[0-9a-f]{64}$/, 'no address in the stream id')
  await forEachDatabase(t, async (t, { sql }) => {
    const store = createPostgresEventStore(sql, new EventRegistry(identityEvents))
    t.teardown(() => store.close())
    const stream = emailStreamId('dup@example.com')
    const attempts = await Promise.allSettled(['u1', 'u2', 'u3', 'u4', 'u5'].map((userId) =>
      handleCommand(store, emailDecider, stream, { type: 'ReserveEmail', data: { email: 'Dup@Example.com', userId } },
        systemCommand('test'))))
    const won = attempts.filter((a) => a.status === 'fulfilled')
    t.equal(won.length, 1, 'exactly one reservation succeeded')
    t.same(attempts.filter((a) => a.status === 'rejected').map((a) => ((a as PromiseRejectedResult).reason as { code: string }).code),
      ['identity.email_taken', 'identity.email_taken', 'identity.email_taken', 'identity.email_taken'], 'the others were told it is taken')
    t.equal((await store.readStream(stream)).length, 1)
  })
})
