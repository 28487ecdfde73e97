/** Small helpers several test files share. */
import { comparePositions } from '../../src/eventstore/position.ts'
import type { EventStore, LogPosition } from '../../src/eventstore/types.ts'

/** The error `fn` throws, or undefined when it returns. */
export function caught (fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  return undefined
}

/**
 * Waits (up to 5 s) until readers see the log up to `position`. On a shared
 * PostgreSQL server a transaction still open in another database (another
 * test file) holds back what every reader sees, by design: readers see only
 * what no older open transaction could still precede.
 */
export async function untilVisible (store: EventStore, position: LogPosition): Promise<void> {
  for (let i = 0; i < 200 && comparePositions(await store.headPosition(), position) < 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
