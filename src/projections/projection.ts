/**
 * A projection turns the event log into PostgreSQL tables (DESIGN.md §5).
 * Its tables live in a schema of their own per generation; public views point
 * at the active one, so a rebuild swaps in atomically.
 */
import type { RecordedEvent } from '../eventstore/types.ts'
import type { SqlTransaction } from '../sql/client.ts'

export interface Projection {
  /** Lowercase identifier: `[a-z][a-z0-9_]*`, at most 40 characters. */
  readonly name: string
  /** Bump it when `setup` or `apply` change meaning: the projection is rebuilt beside the old one at start-up. */
  readonly version: number
  /** The event types it reads, or 'all'. */
  readonly eventTypes: readonly string[] | 'all'
  /** DDL for its tables; runs with the generation's schema first on the search path. */
  readonly setup: string
  /**
   * DDL of secondary indexes, run the same way once a new generation has read
   * the log to its end, before readers are pointed at it: a rebuild fills
   * tables faster without them. What `apply` itself needs belongs in `setup`.
   */
  readonly indexes?: string
  /** The tables readers may query, exposed as views of the same name in public. */
  readonly tables: readonly string[]
  /**
   * Applies a batch in the runner's transaction (search path set to the
   * generation's schema). The runner never hands it an event twice; it must
   * be deterministic so a rebuild gives the same rows.
   */
  apply(events: readonly RecordedEvent[], tx: SqlTransaction): Promise<void>
}

const NAME = /^[a-z][a-z0-9_]{0,39}$/

export function assertProjection (projection: Projection): void {
  if (!NAME.test(projection.name)) throw new Error(`projection name ${projection.name} must match ${NAME}`)
  if (!Number.isInteger(projection.version) || projection.version < 1) {
    throw new Error(`projection ${projection.name}: version must be a positive integer`)
  }
  for (const table of projection.tables) {
    if (!NAME.test(table)) throw new Error(`projection ${projection.name}: table ${table} must match ${NAME}`)
  }
}

export function schemaFor (name: string, generation: number): string {
  return `ledgerline_${name}_g${generation}`
}

/** The read filter a projection's event types translate to. */
export function typesFilter (projection: Projection): { types?: readonly string[] } {
  return projection.eventTypes === 'all' ? {} : { types: projection.eventTypes }
}
