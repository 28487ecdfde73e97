/**
 * Blue/green rebuild: the next generation is built from the start of the log
 * beside the active one, then swapped in with one transaction once it has
 * caught up with it. Readers see the old model until the swap, the new one
 * after; never a half-built one. A live runner elsewhere notices the new
 * generation at its next batch and carries on from the new checkpoint.
 */
import { RebuildInProgress } from '../domain/errors.ts'
import { comparePositions } from '../eventstore/position.ts'
import { START, type EventStore, type LogPosition, type ReadAllResult } from '../eventstore/types.ts'
import { lockKey, type SqlClient } from '../sql/client.ts'
import { assertProjection, typesFilter, type Projection } from './projection.ts'
import {
  applyTo, createGeneration, dropGeneration, dropStaleGenerations, exposeGeneration, indexGeneration, readState, writeState
} from './state.ts'

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
  /** Abandons the build between pages (the leftover generation is dropped by the next one). */
  readonly signal?: AbortSignal
}

export interface RebuildResult {
  readonly generation: number
  readonly eventsApplied: number
  readonly seconds: number
}

const SWAP_LOCK_TIMEOUT_MS = 2000
const LOCK_NOT_AVAILABLE = '55P03'

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

async function build ({ sql, store, projection, batchSize = 2000, onProgress, signal }: RebuildOptions): Promise<RebuildResult> {
  const started = performance.now()
  const active = await readState(sql, projection.name)
  const generation = (active?.generation ?? 0) + 1
  await dropStaleGenerations(sql, projection, active?.generation)
  await sql.transaction((tx) => createGeneration(tx, projection, generation))
  const filter = typesFilter(projection)
  const head = await store.headPosition()
  let position = START
  let applied = 0
  const read = (from: LogPosition): Promise<ReadAllResult> => {
    const pending = store.readAll(from, { ...filter, limit: batchSize })
    pending.catch(() => {}) // awaited below; until then a failure must not go unhandled
    return pending
  }
  let next = read(position)
  let indexed = false
  for (;;) {
    signal?.throwIfAborted()
    const page = await next
    position = page.position
    // Read the next page while this one is applied.
    if (!page.isEnd) next = read(position)
    if (page.events.length > 0) await sql.transaction((tx) => applyTo(tx, projection, generation, page.events))
    applied += page.events.length
    onProgress?.(progress(applied, position, head, started))
    if (!page.isEnd) continue
    if (!indexed) {
      // Once, at the end of the log: the catch-up that follows, if any, is short.
      await sql.transaction((tx) => indexGeneration(tx, projection, generation))
      indexed = true
      next = read(position)
      continue
    }
    const swapped = await swap(sql, projection, generation, position, applied)
    if (swapped !== false) {
      if (swapped !== undefined) await dropQuietly(sql, projection, swapped)
      return { generation, eventsApplied: applied, seconds: (performance.now() - started) / 1000 }
    }
    next = read(position)
  }
}

/**
 * Points readers at the new generation. Its transaction holds an id (and so
 * holds back what every event reader sees) while it waits for locks: a short
 * lock timeout keeps a long report on the old views from freezing the log; the
 * rebuild then catches up and tries again. Returns false to try again, else the
 * generation it replaced (undefined for the first one).
 */
async function swap (
  sql: SqlClient, projection: Projection, generation: number, position: LogPosition, applied: number
): Promise<number | undefined | false> {
  try {
    return await sql.transaction(async (tx) => {
      await tx.exec(`SET LOCAL lock_timeout = '${SWAP_LOCK_TIMEOUT_MS}ms'`)
      const current = await readState(tx, projection.name, true)
      // Swapping in a model that is behind the live one would undo read-your-writes: catch up first.
      if (current !== undefined && comparePositions(current.position, position) > 0) return false
      await exposeGeneration(tx, projection, generation)
      await writeState(tx, { name: projection.name, version: projection.version, generation, position, eventsApplied: BigInt(applied) })
      return current?.generation
    })
  } catch (error) {
    if ((error as { code?: string }).code === LOCK_NOT_AVAILABLE) return false
    throw error
  }
}

/**
 * The old generation goes in a transaction of its own; if readers still hold it, the next rebuild's createGeneration or this retry
 * later drops it.
 */
async function dropQuietly (sql: SqlClient, projection: Projection, generation: number): Promise<void> {
  await sql.transaction(async (tx) => {
    await tx.exec(`SET LOCAL lock_timeout = '${SWAP_LOCK_TIMEOUT_MS}ms'`)
    await dropGeneration(tx, projection, generation)
  }).catch(() => {})
}

function progress (applied: number, position: LogPosition, head: LogPosition, started: number): RebuildProgress {
  const seconds = (performance.now() - started) / 1000
  const span = Number(head.minor)
  const fraction = span <= 0 || comparePositions(position, head) >= 0 ? 1 : Math.min(1, Number(position.minor) / span)
  return { eventsApplied: applied, position, fraction, eventsPerSecond: seconds > 0 ? applied / seconds : 0 }
}
