/**
 * The PostgreSQL event store, on either SQL driver (pg or PGlite). Schema and
 * the append function are in sql/migrations/001_event_store.sql.
 */
import type { EventMetadata } from '../domain/envelope.ts'
import { DuplicateEventId, StoreUnavailable, WrongExpectedVersion } from '../domain/errors.ts'
import type { EventRegistry } from '../domain/registry.ts'
import type { SqlClient, SqlExecutor } from '../sql/client.ts'
import { catchUpSubscription } from './subscription.ts'
import { START } from './types.ts'
import type {
  AppendOptions, AppendResult, EventStore, ExpectedVersion, LogPosition, NewEvent,
  ReadAllOptions, ReadAllResult, ReadStreamOptions, RecordedEvent
} from './types.ts'
import { assertStreamId, prepareAppend } from './validation.ts'

export const NOTIFY_CHANNEL = 'ledgerline_events'
/** Cross-process wake-ups are coalesced to at most one NOTIFY per this many ms. */
const NOTIFY_INTERVAL_MS = 10
const MAX_PAGE = 10_000

export interface PostgresEventStore extends EventStore {
  /**
   * Appends inside a transaction the caller owns, so events commit together
   * with its other writes (a reactor's checkpoint, say). Call `notifyAppended()`
   * after the commit to wake subscribers at once rather than at their next poll.
   */
  appendWithin(tx: SqlExecutor, streamId: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>
  notifyAppended(): void
}

interface EventRow {
  p: string
  t: string
  stream_id: string
  v: string
  id: string
  type: string
  data: unknown
  metadata: EventMetadata
  recorded_at: Date | string
}

const COLUMNS = `global_position::text AS p, transaction_id::text AS t, stream_id, stream_version::text AS v,
  event_id::text AS id, type, data, metadata, recorded_at`

const VISIBLE = 'transaction_id < pg_snapshot_xmin(pg_current_snapshot())'

export function createPostgresEventStore (sql: SqlClient, registry: EventRegistry): PostgresEventStore {
  const listeners = new Set<() => void>()
  const notifier = crossProcessNotifier(sql)
  let stopListening: Promise<(() => Promise<void>) | undefined> | undefined

  function wakeLocal (): void {
    for (const listener of listeners) listener()
  }

  async function appendOn (executor: SqlExecutor, streamId: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    const prepared = prepareAppend(registry, streamId, events)
    const expected = options.expectedVersion ?? 'any'
    try {
      const { rows } = await executor.query<{ v: string, t: string, p: string }>(
        `SELECT next_version::text AS v, last_transaction_id::text AS t, last_position::text AS p
           FROM ledgerline_append($1, $2, $3::uuid[], $4::text[], $5::jsonb[], $6::jsonb[])`,
        [streamId, expectedText(expected), prepared.map((e) => e.id), prepared.map((e) => e.type),
          prepared.map((e) => e.data), prepared.map((e) => e.metadata)]
      )
      const row = rows[0]!
      return { nextExpectedVersion: BigInt(row.v), position: { major: BigInt(row.t), minor: BigInt(row.p) } }
    } catch (error) {
      throw translate(error, streamId, expected)
    }
  }

  function toRecorded (row: EventRow): RecordedEvent {
    const metadata = typeof row.metadata === 'string' ? JSON.parse(row.metadata) as EventMetadata : row.metadata
    const raw = typeof row.data === 'string' ? JSON.parse(row.data) : row.data
    return {
      id: row.id,
      type: row.type,
      streamId: row.stream_id,
      streamVersion: BigInt(row.v),
      position: { major: BigInt(row.t), minor: BigInt(row.p) },
      data: registry.parse(row.type, raw, metadata.schemaVersion ?? 1),
      metadata,
      recordedAt: row.recorded_at instanceof Date ? row.recorded_at : new Date(row.recorded_at)
    }
  }

  const store: PostgresEventStore = {
    kind: 'postgres',

    async append (streamId, events, options) {
      const result = await appendOn(sql, streamId, events, options)
      store.notifyAppended()
      return result
    },

    appendWithin: appendOn,

    notifyAppended () {
      wakeLocal()
      notifier.schedule()
    },

    async readStream (streamId, options: ReadStreamOptions = {}) {
      assertStreamId(streamId)
      const { rows } = await run(() => sql.query<EventRow>(
        `SELECT ${COLUMNS} FROM events WHERE stream_id = $1 AND stream_version > $2
          ORDER BY stream_version LIMIT $3`,
        [streamId, (options.fromVersion ?? 0n).toString(), pageSize(options.limit, Number.MAX_SAFE_INTEGER)]
      ))
      return rows.map(toRecorded)
    },

    async streamVersion (streamId) {
      assertStreamId(streamId)
      const { rows } = await run(() => sql.query<{ v: string }>(
        'SELECT version::text AS v FROM streams WHERE stream_id = $1', [streamId]))
      return rows[0] === undefined ? 0n : BigInt(rows[0].v)
    },

    async readAll (from, options: ReadAllOptions = {}) {
      const limit = pageSize(options.limit, 1000)
      const { text, params, filtered } = readAllQuery(from, options, limit)
      const { rows } = await run(() => sql.query<EventRow & { head_t: string | null, head_p: string | null }>(text, params))
      const events = rows.filter((row) => row.id !== null).map(toRecorded)
      const isEnd = events.length < limit
      let position = events.at(-1)?.position ?? from
      if (filtered && isEnd && rows[0]?.head_t != null) {
        const head = { major: BigInt(rows[0].head_t), minor: BigInt(rows[0].head_p!) }
        if (after(head, position)) position = head
      }
      return { events, position, isEnd } satisfies ReadAllResult
    },

    async headPosition () {
      const { rows } = await run(() => sql.query<{ t: string, p: string }>(
        `SELECT transaction_id::text AS t, global_position::text AS p FROM events WHERE ${VISIBLE}
          ORDER BY transaction_id DESC, global_position DESC LIMIT 1`))
      return rows[0] === undefined ? START : { major: BigInt(rows[0].t), minor: BigInt(rows[0].p) }
    },

    subscribe (from, options) {
      return catchUpSubscription(store, from, options)
    },

    onAppend (listener) {
      listeners.add(listener)
      stopListening ??= sql.listen(NOTIFY_CHANNEL, wakeLocal).catch(() => undefined)
      return () => { listeners.delete(listener) }
    },

    async close () {
      listeners.clear()
      notifier.stop()
      const stop = await stopListening
      stopListening = undefined
      await stop?.()
    }
  }
  return store
}

function readAllQuery (from: LogPosition, options: ReadAllOptions, limit: number): { text: string, params: unknown[], filtered: boolean } {
  const params: unknown[] = [from.major.toString(), from.minor.toString(), limit]
  const conditions: string[] = []
  if (options.types !== undefined) {
    params.push([...options.types])
    conditions.push(`type = ANY ($${params.length}::text[])`)
  }
  if (options.streamPrefix !== undefined && options.streamPrefix !== '') {
    params.push(options.streamPrefix.replace(/[\\%_]/g, '\\$&') + '%')
    conditions.push(`stream_id LIKE $${params.length}`)
  }
  const page = `SELECT ${COLUMNS} FROM events
    WHERE (transaction_id, global_position) > ($1::text::xid8, $2::bigint) AND ${VISIBLE}
    ${conditions.map((condition) => `AND ${condition}`).join(' ')}
    ORDER BY transaction_id, global_position LIMIT $3`
  if (conditions.length === 0) return { text: page, params, filtered: false }
  // A filtered reader must also learn how far it has read past events it did
  // not ask for: the head, taken in the same statement (the same snapshot).
  const text = `WITH head AS (
      SELECT transaction_id::text AS head_t, global_position::text AS head_p FROM events WHERE ${VISIBLE}
       ORDER BY transaction_id DESC, global_position DESC LIMIT 1),
    page AS (${page})
    SELECT page.*, head.head_t, head.head_p FROM head LEFT JOIN page ON true
    ORDER BY page.t::xid8, page.p::bigint`
  return { text, params, filtered: true }
}

function after (a: LogPosition, b: LogPosition): boolean {
  return a.major > b.major || (a.major === b.major && a.minor > b.minor)
}

function pageSize (limit: number | undefined, fallback: number): number {
  if (limit === undefined) return Math.min(fallback, MAX_PAGE)
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer')
  return Math.min(limit, MAX_PAGE)
}

function expectedText (expected: ExpectedVersion): string {
  if (typeof expected === 'bigint') {
    if (expected < 0n) throw new RangeError('expected version must not be negative')
    return expected.toString()
  }
  if (expected !== 'any' && expected !== 'no_stream' && expected !== 'stream_exists') {
    throw new RangeError(`unknown expected version ${String(expected)}`)
  }
  return expected
}

interface PgError { code?: string, detail?: string }

function translate (error: unknown, streamId: string, expected: ExpectedVersion): unknown {
  const pgError = error as PgError
  if (pgError?.code === 'LLWEV') return new WrongExpectedVersion(streamId, String(expected), BigInt(pgError.detail ?? '0'))
  if (pgError?.code === 'LLDUP') return new DuplicateEventId(streamId, pgError.detail ?? '')
  return unavailable(error) ?? error
}

/** Connection failures become StoreUnavailable (503); anything else stays as it is (500). */
function unavailable (error: unknown): StoreUnavailable | undefined {
  const code = (error as PgError)?.code ?? ''
  if (code.startsWith('08') || code === '57P01' || code === '57P03' || code === 'ECONNREFUSED' || code === 'ECONNRESET' ||
      code === 'ETIMEDOUT' || /Connection terminated|connect ECONNREFUSED/.test(String((error as Error)?.message))) {
    return new StoreUnavailable('the event store database is unreachable')
  }
  return undefined
}

async function run<T> (fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    throw unavailable(error) ?? error
  }
}

/**
 * NOTIFY is sent outside the appending transaction and coalesced: a
 * transaction that notifies takes a global lock through its commit, which
 * would serialize every append and defeat group commit.
 */
function crossProcessNotifier (sql: SqlClient): { schedule(): void, stop(): void } {
  if (sql.kind === 'pglite') return { schedule () {}, stop () {} } // one process: local listeners suffice
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  return {
    schedule () {
      if (timer !== undefined || stopped) return
      timer = setTimeout(() => {
        sql.query('SELECT pg_notify($1, \'\')', [NOTIFY_CHANNEL])
          .catch(() => {}) // subscribers still poll; a lost wake-up only delays them
          .finally(() => { timer = undefined })
      }, NOTIFY_INTERVAL_MS)
      timer.unref()
    },
    stop () {
      stopped = true
      clearTimeout(timer)
    }
  }
}
