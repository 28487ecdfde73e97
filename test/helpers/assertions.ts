/** Small helpers several test files share. */
import { comparePositions } from '../../src/eventstore/position.ts'
import type { EventStore, LogPosition } from '../../src/eventstore/types.ts'
import type { ProjectionRunner } from '../../src/projections/runner.ts'
import type { SqlClient } from '../../src/sql/client.ts'

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

/**
 * The position of the last event written, visible or not yet. `headPosition`
 * is what readers may see, which an open transaction in another database of
 * the same server can hold back; waiting for this one waits for everything
 * written so far.
 */
export async function lastWritten (sql: SqlClient): Promise<LogPosition> {
  const { rows } = await sql.query<{ t: string, p: string }>(
    'SELECT transaction_id::text AS t, global_position::text AS p FROM events ' +
    'ORDER BY transaction_id DESC, global_position DESC LIMIT 1')
  return rows[0] === undefined ? { major: 0n, minor: 0n } : { major: BigInt(rows[0].t), minor: BigInt(rows[0].p) }
}

/** Waits (up to `timeoutMs`, 10 s by default) until the read models have applied every event written so far. */
export async function settled (runtime: { sql: SqlClient, runner: ProjectionRunner }, timeoutMs = 10_000): Promise<void> {
  await runtime.runner.waitFor(await lastWritten(runtime.sql), timeoutMs)
}
