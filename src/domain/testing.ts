/**
 * Given/when/then for deciders: `spec(decider).given(events).when(command).then(t, events)`.
 * Reads like the examples in the issue; property tests are written on top.
 */
import type { Test } from 'tap'
import type { DecisionContext, Decider, DomainEvent } from './decider.ts'
import { fold } from './decider.ts'
import type { LedgerlineError } from './errors.ts'

export const TEST_CONTEXT: DecisionContext = Object.freeze({
  now: new Date('2026-01-01T00:00:00.000Z'),
  // Work the application authorized (the CLI, system work): the deciders' own rules about members do not apply to it.
  actor: { type: 'system' as const, id: 'tester' }
})

export function spec<Command, Event extends DomainEvent, State> (decider: Decider<Command, Event, State>) {
  return {
    given (history: Event[]) {
      return {
        when (command: Command, context: DecisionContext = TEST_CONTEXT) {
          const run = (): Event[] => decider.decide(command, fold(decider, history), context)
          return {
            then (t: Test, expected: Event[], message = 'decides the expected events'): void {
              t.strictSame(run(), expected, message)
            },
            thenThrows (t: Test, code: string, message = `throws ${code}`): void {
              let events: Event[]
              try {
                events = run()
              } catch (error) {
                t.equal((error as LedgerlineError).code, code, message)
                return
              }
              t.fail(`${message}, but it decided ${JSON.stringify(events)}`)
            }
          }
        }
      }
    }
  }
}
