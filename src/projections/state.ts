/**
 * A projection's bookkeeping row and its generations. Every batch a runner
 * applies locks the row, checks it still holds what the runner expects, and
 * moves the checkpoint in the same transaction as the rows it wrote.
 */
import type { LogPosition, RecordedEvent } from '../eventstore/types.ts'
import { quoteIdent, type SqlClient, type SqlTransaction } from '../sql/client.ts'
import { schemaFor, type Projection } from './projection.ts'

export interface ProjectionState {
  readonly name: string
  readonly version: number
  readonly generation: number
  readonly position: LogPosition
  readonly eventsApplied: bigint
}

interface StateRow {
  name: string
  version: number
  generation: number
  major: string
  minor: string
  applied: string
}

const SELECT_STATE = `SELECT name, version, generation, position_major::text AS major, position_minor::text AS minor,
  events_applied::text AS applied FROM public.projections`

function toState (row: StateRow): ProjectionState {
  return {
    name: row.name,
    version: Number(row.version),
    generation: Number(row.generation),
    position: { major: BigInt(row.major), minor: BigInt(row.minor) },
    eventsApplied: BigInt(row.applied)
  }
}

export async function readState (
  tx: { query: SqlTransaction['query'] }, name: string, forUpdate = false
): Promise<ProjectionState | undefined> {
  const { rows } = await tx.query<StateRow>(`${SELECT_STATE} WHERE name = $1${forUpdate ? ' FOR UPDATE' : ''}`, [name])
  return rows[0] === undefined ? undefined : toState(rows[0])
}

/** Creates a generation's schema and tables (dropping leftovers of a rebuild that died). */
export async function createGeneration (tx: SqlTransaction, projection: Projection, generation: number): Promise<void> {
  const schema = quoteIdent(schemaFor(projection.name, generation))
  await tx.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`)
  await tx.exec(`SET LOCAL search_path TO ${schema}, public; ${projection.setup}`)
}

/** Builds a generation's secondary indexes (`projection.indexes`), once its tables are filled. */
export async function indexGeneration (tx: SqlTransaction, projection: Projection, generation: number): Promise<void> {
  if (projection.indexes === undefined || projection.indexes.trim() === '') return
  const schema = quoteIdent(schemaFor(projection.name, generation))
  await tx.exec(`SET LOCAL search_path TO ${schema}, public; ${projection.indexes}`)
}

/** Points the public views at a generation: one transaction, so readers switch at once. */
export async function exposeGeneration (tx: SqlTransaction, projection: Projection, generation: number): Promise<void> {
  const schema = quoteIdent(schemaFor(projection.name, generation))
  for (const table of projection.tables) {
    await tx.exec(`DROP VIEW IF EXISTS public.${quoteIdent(table)};
      CREATE VIEW public.${quoteIdent(table)} AS SELECT * FROM ${schema}.${quoteIdent(table)}`)
  }
}

/** Drops every generation of the projection but `keep`: leftovers of dead rebuilds and of swaps whose drop was put off. */
export async function dropStaleGenerations (sql: SqlClient, projection: Projection, keep: number | undefined): Promise<void> {
  const { rows } = await sql.query<{ nspname: string }>(
    'SELECT nspname FROM pg_namespace WHERE nspname ~ $1', [`^ledgerline_${projection.name}_g[0-9]+$`])
  for (const { nspname } of rows) {
    if (keep !== undefined && nspname === schemaFor(projection.name, keep)) continue
    await sql.transaction(async (tx) => {
      await tx.exec("SET LOCAL lock_timeout = '2000ms'")
      await tx.exec(`DROP SCHEMA IF EXISTS ${quoteIdent(nspname)} CASCADE`)
    }).catch(() => {}) // still in use: the next rebuild tries again
  }
}

export async function dropGeneration (tx: SqlTransaction, projection: Projection, generation: number): Promise<void> {
  await tx.exec(`DROP SCHEMA IF EXISTS ${quoteIdent(schemaFor(projection.name, generation))} CASCADE`)
}

/**
 * Applies events to a generation within `tx`: search path set, then the
 * projection's own SQL. The path stays set until the transaction ends, so
 * bookkeeping SQL after it names public tables explicitly.
 */
export async function applyTo (
  tx: SqlTransaction, projection: Projection, generation: number, events: readonly RecordedEvent[]
): Promise<void> {
  if (events.length === 0) return
  await tx.exec(`SET LOCAL search_path TO ${quoteIdent(schemaFor(projection.name, generation))}, public`)
  await projection.apply(events, tx)
}

export async function writeState (tx: SqlTransaction, state: ProjectionState): Promise<void> {
  await tx.query(
    `INSERT INTO public.projections (name, version, generation, position_major, position_minor, events_applied, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, now())
     ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, generation = EXCLUDED.generation,
       position_major = EXCLUDED.position_major, position_minor = EXCLUDED.position_minor,
       events_applied = EXCLUDED.events_applied, updated_at = now()`,
    [state.name, state.version, state.generation, state.position.major.toString(), state.position.minor.toString(),
      state.eventsApplied.toString()]
  )
}
