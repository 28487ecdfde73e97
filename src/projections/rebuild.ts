/**
 * Blue/green rebuild: the next generation is built from the start of the log
 * beside the active one, then swapped in with one transaction once it has
 * caught up with it. Readers see the old model until the swap, the new one
 * after; never a half-built one. A live runner elsewhere notices the new
 * generation at its next batch and carries on from the new checkpoint.
 */
import { RebuildInProgress } from '../domain/errors.ts'
import { comparePositions } from '../eventstore/position.ts'
import { START, type EventStore, type LogPosition } from '../eventstore/types.ts'
import { lockKey, type SqlClient } from '../sql/client.ts'
import { assertProjection, typesFilter, type Projection } from './projection.ts'
import { applyTo, createGeneration, dropGeneration, exposeGeneration, readState, writeState } from './state.ts'

export interface RebuildProgress {
  readonly eventsApplied: number
  readonly position: LogPosition
  /** 0..1, estimated from positions between the start and the head of the log. */
  readonly fraction: number
  readonly eventsPerSecond: number
}

export interface RebuildOptions {
  readonly sql: SqlClient
  readonly store: EventStore
  readonly projection: Projection
  readonly batchSize?: number
  readonly onProgress?: (progress: RebuildProgress) => void
}

export interface RebuildResult {
  readonly generation: number
  readonly eventsApplied: number
  readonly seconds: number
}

export async function rebuildProjection (options: RebuildOptions): Promise<RebuildResult> {
  const { sql, projection } = options
  assertProjection(projection)
  const lease = await sql.tryLock(lockKey(`projection-rebuild:${projection.name}`))
  if (lease === null) throw new RebuildInProgress(projection.name)
  try {
    return await build(options)
  } finally {
    await lease.release()
  }
}

async function build ({ sql, store, projection, batchSize = 2000, onProgress }: RebuildOptions): Promise<RebuildResult> {
  const started = performance.now()
  const active = await readState(sql, projection.name)
  const generation = (active?.generation ?? 0) + 1
  await sql.transaction((tx) => createGeneration(tx, projection, generation))
  const filter = typesFilter(projection)
  const head = await store.headPosition()
  let position = START
  let applied = 0
  const read = (from: LogPosition) => store.readAll(from, { ...filter, limit: batchSize })
  let next = read(position)
  for (;;) {
    const page = await next
    position = page.position
    // Read the next page while this one is applied.
    if (!page.isEnd) next = read(position)
    if (page.events.length > 0) await sql.transaction((tx) => applyTo(tx, projection, generation, page.events))
    applied += page.events.length
    onProgress?.(progress(applied, position, head, started))
    if (!page.isEnd) continue
    const swapped = await sql.transaction(async (tx) => {
      const current = await readState(tx, projection.name, true)
      // Swapping in a model that is behind the live one would undo read-your-writes: catch up first.
      if (current !== undefined && comparePositions(current.position, position) > 0) return false
      await exposeGeneration(tx, projection, generation)
      await writeState(tx, { name: projection.name, version: projection.version, generation, position, eventsApplied: BigInt(applied) })
      if (current !== undefined) await dropGeneration(tx, projection, current.generation)
      return true
    })
    if (swapped) return { generation, eventsApplied: applied, seconds: (performance.now() - started) / 1000 }
    next = read(position)
  }
}

function progress (applied: number, position: LogPosition, head: LogPosition, started: number): RebuildProgress {
  const seconds = (performance.now() - started) / 1000
  const span = Number(head.minor)
  const fraction = span <= 0 || comparePositions(position, head) >= 0 ? 1 : Math.min(1, Number(position.minor) / span)
  return { eventsApplied: applied, position, fraction, eventsPerSecond: seconds > 0 ? applied / seconds : 0 }
}
