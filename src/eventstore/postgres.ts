/**
 * The PostgreSQL event store, on either SQL driver (pg or PGlite). Schema and
 * the append function are in sql/migrations/001_event_store.sql.
 */
import type { EventMetadata } from '../domain/envelope.ts'
import { AppendOrderConflict, DuplicateEventId, StoreUnavailable, WrongExpectedVersion } from './errors.ts'
import type { EventRegistry } from '../domain/registry.ts'
import type { SqlClient, SqlExecutor } from '../sql/client.ts'
import { maxPosition } from './position.ts'
import { catchUpSubscription } from './subscription.ts'
import { START } from './types.ts'
import type {
  AppendOptions, AppendResult, EventStore, ExpectedVersion, LogPosition, NewEvent,
  ReadAllOptions, ReadAllResult, ReadStreamOptions, RecordedEvent, StreamAppend
} from './types.ts'
import { MAX_PAGE, assertStreamId, pageSize, prepareAppend, type PreparedEvent } from './validation.ts'

export const NOTIFY_CHANNEL = 'ledgerline_events'
/** Cross-process wake-ups are coalesced to at most one NOTIFY per this many ms. */
const NOTIFY_INTERVAL_MS = 10
/** A filtered read scans this many times its limit of events (at least MIN, at most MAX) per page. */
const FILTER_WINDOW_FACTOR = 4
const MIN_FILTER_WINDOW = 1_000
const MAX_FILTER_WINDOW = 50_000

/** One statement appends; see ledgerline_append in sql/migrations/001_event_store.sql. */
const APPEND = `SELECT next_version::text AS v, last_transaction_id::text AS t, last_position::text AS p
  FROM ledgerline_append($1, $2, $3::bigint, $4::jsonb)`

interface AppendRow { v: string, t: string, p: string }

/** Several appends in one statement; see ledgerline_append_many in sql/migrations/010_append_many.sql. */
const APPEND_MANY = `SELECT ord::int AS i, next_version::text AS v, last_transaction_id::text AS t, last_position::text AS p
  FROM ledgerline_append_many($1::jsonb)`

interface AppendManyRow extends AppendRow { i: number }

interface WindowColumns { window_t: string | null, window_p: string | null, scanned: number | null }

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

  async function appendOn (
    executor: SqlExecutor, streamId: string, events: readonly NewEvent[], options: AppendOptions = {}, savepoints = false
  ): Promise<AppendResult> {
    const prepared = prepareAppend(registry, streamId, events)
    const expected = options.expectedVersion ?? 'any'
    const params = [streamId, expectedKind(expected), typeof expected === 'bigint' ? expected.toString() : null, batchJson(prepared)]
    const ids = prepared.map((event) => event.id)
    try {
      const { rows } = await guarded(executor, savepoints, () => executor.query<AppendRow>(APPEND, params, { name: 'ledgerline_append' }))
      if (rows[0] !== undefined) return toResult(rows[0])
    } catch (error) {
      const pgError = error as PgError
      if (pgError.code === '40001') throw new AppendOrderConflict(streamId)
      // A replay of an earlier append under 'any': its ids are in the stream already.
      if (pgError.code !== '23505' || pgError.constraint !== 'events_stream_event_id_key') throw unavailable(error) ?? error
    }
    // Nothing inserted: the expected version did not hold, or this is a replay of an earlier append.
    return await earlierOrConflict(executor, streamId, ids, expected)
  }

  /**
   * One statement for every valid append of the batch. An append it did not make (its expected version did not hold) is
   * a replay or a conflict, told apart as `append` tells them. When the statement failed for a reason of one of its
   * appends (an event id already there, an order conflict), it wrote nothing, and every append is sent again alone.
   */
  async function appendManyOn (appends: readonly StreamAppend[]): Promise<Array<PromiseSettledResult<AppendResult>>> {
    const results: Array<PromiseSettledResult<AppendResult>> = new Array(appends.length)
    const batch: Array<{ index: number, ids: string[], expected: ExpectedVersion, json: string }> = []
    appends.forEach(({ streamId, events, options }, index) => {
      try {
        const prepared = prepareAppend(registry, streamId, events)
        const expected = options?.expectedVersion ?? 'any'
        const version = typeof expected === 'bigint' ? `"${expected}"` : 'null'
        const json = `{"s":${JSON.stringify(streamId)},"k":"${expectedKind(expected)}","v":${version},"e":${batchJson(prepared)}}`
        batch.push({ index, ids: prepared.map((event) => event.id), expected, json })
      } catch (error) {
        results[index] = { status: 'rejected', reason: error }
      }
    })
    let made: Map<number, AppendManyRow> | undefined
    if (batch.length > 1) {
      try {
        const json = `[${batch.map((b) => b.json).join(',')}]`
        const { rows } = await sql.query<AppendManyRow>(APPEND_MANY, [json], { name: 'ledgerline_append_many' })
        made = new Map(rows.map((row) => [row.i, row]))
      } catch (error) {
        const down = unavailable(error)
        if (down !== undefined) {
          for (const { index } of batch) results[index] = { status: 'rejected', reason: down }
          return results
        }
      }
    }
    await Promise.all(batch.map(async ({ index, ids, expected }, k) => {
      const { streamId, events, options } = appends[index]!
      try {
        const row = made?.get(k + 1)
        const value = row !== undefined
          ? toResult(row)
          : made !== undefined ? await earlierOrConflict(sql, streamId, ids, expected) : await appendOn(sql, streamId, events, options)
        results[index] = { status: 'fulfilled', value }
      } catch (error) {
        results[index] = { status: 'rejected', reason: unavailable(error) ?? error }
      }
    }))
    return results
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

  /** The last event's position among the rows `where` selects (START when none). */
  async function lastPosition (where: string): Promise<LogPosition> {
    const { rows } = await run(() => sql.query<{ t: string, p: string }>(
      `SELECT transaction_id::text AS t, global_position::text AS p FROM events WHERE ${where}
        ORDER BY transaction_id DESC, global_position DESC LIMIT 1`))
    return rows[0] === undefined ? START : { major: BigInt(rows[0].t), minor: BigInt(rows[0].p) }
  }

  const store: PostgresEventStore = {
    kind: 'postgres',

    async append (streamId, events, options) {
      const result = await appendOn(sql, streamId, events, options)
      store.notifyAppended()
      return result
    },

    async appendMany (appends) {
      const results = await appendManyOn(appends)
      if (results.some((result) => result.status === 'fulfilled')) store.notifyAppended()
      return results
    },

    appendWithin: (tx, streamId, events, options) => appendOn(tx, streamId, events, options, true),

    notifyAppended () {
      wakeLocal()
      notifier.schedule()
    },

    async readStream (streamId, options: ReadStreamOptions = {}) {
      assertStreamId(streamId)
      const { rows } = await run(() => sql.query<EventRow>(
        `SELECT ${COLUMNS} FROM events WHERE stream_id = $1 AND stream_version > $2
          ORDER BY stream_version LIMIT $3`,
        // No limit reads the whole stream: a decider must fold all of it.
        [streamId, (options.fromVersion ?? 0n).toString(), options.limit === undefined ? null : pageSize(options.limit, MAX_PAGE)],
        { name: 'ledgerline_read_stream' }
      ))
      return rows.map(toRecorded)
    },

    async streamVersion (streamId) {
      assertStreamId(streamId)
      return await run(() => currentVersion(sql, streamId))
    },

    async readAll (from, options: ReadAllOptions = {}) {
      const limit = pageSize(options.limit, 1000)
      const { text, params, filtered, name, window } = readAllQuery(from, options, limit)
      const { rows } = await run(() => sql.query<EventRow & WindowColumns>(text, params, { name }))
      const events = rows.filter((row) => row.id !== null).map(toRecorded)
      const last = events.at(-1)?.position ?? from
      if (!filtered) return { events, position: last, isEnd: events.length < limit } satisfies ReadAllResult
      if (events.length === limit) return { events, position: last, isEnd: false } satisfies ReadAllResult
      // Fewer matches than asked for: the whole window was read.
      const edge = rows[0]?.window_t == null ? from : { major: BigInt(rows[0].window_t), minor: BigInt(rows[0].window_p!) }
      return { events, position: maxPosition(edge, last), isEnd: Number(rows[0]?.scanned ?? 0) < window } satisfies ReadAllResult
    },

    headPosition: async () => lastPosition(VISIBLE),

    // Readers see the log only below the cluster's oldest open transaction (VISIBLE); committed rows above it wait there.
    committedHeadPosition: async () => lastPosition('true'),

    subscribe (from, options) {
      return catchUpSubscription(store, from, options)
    },

    onAppend (listener) {
      listeners.add(listener)
      // Only a server has other processes to hear from; a failed LISTEN is tried again by the next listener.
      if (sql.kind === 'pg') {
        stopListening ??= sql.listen(NOTIFY_CHANNEL, wakeLocal).catch(() => { stopListening = undefined; return undefined })
      }
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

function readAllQuery (
  from: LogPosition, options: ReadAllOptions, limit: number
): { text: string, params: unknown[], filtered: boolean, name: string, window: number } {
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
  // One prepared statement per shape of filter: the text differs only by which filters are present.
  const name = `ledgerline_read_all_${options.types === undefined ? 0 : 1}${conditions.length}`
  if (conditions.length === 0) return { text: page, params, filtered: false, name, window: limit }
  // A filtered read scans a bounded window of the log, the next `scan` events
  // in log order (an index-only range), and looks for matches within it. Its
  // cost per page then stays bounded whatever the filter's selectivity or the
  // planner's statistics (a scan of the rest of the log, sorted, per page is
  // what an unbounded filtered read can turn into). The window's end tells the
  // reader how far it has read past events it did not ask for.
  params.push(Math.min(Math.max(limit * FILTER_WINDOW_FACTOR, MIN_FILTER_WINDOW), MAX_FILTER_WINDOW))
  const windowParam = `$${params.length}`
  const text = `WITH win AS MATERIALIZED (
      SELECT transaction_id, global_position FROM events
       WHERE (transaction_id, global_position) > ($1::text::xid8, $2::bigint) AND ${VISIBLE}
       ORDER BY transaction_id, global_position LIMIT ${windowParam}),
    bound AS (
      SELECT transaction_id AS bt, global_position AS bp, (SELECT count(*) FROM win) AS scanned
        FROM win ORDER BY transaction_id DESC, global_position DESC LIMIT 1),
    page AS (
      SELECT ${COLUMNS} FROM events, bound
       WHERE (transaction_id, global_position) > ($1::text::xid8, $2::bigint)
         AND (transaction_id, global_position) <= (bound.bt, bound.bp)
         ${conditions.map((condition) => `AND ${condition}`).join(' ')}
       ORDER BY transaction_id, global_position LIMIT $3)
    SELECT page.*, bound.bt::text AS window_t, bound.bp::text AS window_p, bound.scanned::int AS scanned
      FROM bound LEFT JOIN page ON true
     ORDER BY page.t::xid8, page.p::bigint`
  return { text, params, filtered: true, name, window: Number(params.at(-1)) }
}

function expectedKind (expected: ExpectedVersion): string {
  if (typeof expected === 'bigint') {
    if (expected < 0n) throw new RangeError('expected version must not be negative')
    return 'version'
  }
  if (expected !== 'any' && expected !== 'no_stream' && expected !== 'stream_exists') {
    throw new RangeError(`unknown expected version ${String(expected)}`)
  }
  return expected
}

/** The events as one JSON array, built from the texts validation already serialized. */
function batchJson (prepared: readonly PreparedEvent[]): string {
  return `[${prepared.map((e) => `{"id":"${e.id}","type":${JSON.stringify(e.type)},"data":${e.data},"metadata":${e.metadata}}`).join(',')}]`
}

function toResult (row: AppendRow): AppendResult {
  return { nextExpectedVersion: BigInt(row.v), position: { major: BigInt(row.t), minor: BigInt(row.p) } }
}

async function currentVersion (executor: SqlExecutor, streamId: string): Promise<bigint> {
  const { rows } = await executor.query<{ v: string }>(
    'SELECT coalesce(max(stream_version), 0)::text AS v FROM events WHERE stream_id = $1', [streamId])
  return BigInt(rows[0]!.v)
}

/**
 * After an append inserted nothing: when every id is already in the stream it
 * is a replay, answered with the first append's result; some of them is
 * DuplicateEventId; none is a WrongExpectedVersion with the actual version.
 */
async function earlierOrConflict (
  executor: SqlExecutor, streamId: string, ids: readonly string[], expected: ExpectedVersion
): Promise<AppendResult> {
  const { rows } = await executor.query<{ found: number, any_id: string | null, v: string | null, t: string | null, p: string | null }>(
    `SELECT count(*)::int AS found, min(event_id::text) AS any_id,
            max(stream_version)::text AS v,
            (array_agg(transaction_id::text ORDER BY stream_version DESC))[1] AS t,
            (array_agg(global_position::text ORDER BY stream_version DESC))[1] AS p
       FROM events WHERE stream_id = $1 AND event_id = ANY ($2::uuid[])`, [streamId, ids])
  const earlier = rows[0]!
  if (earlier.found === ids.length) return { ...toResult({ v: earlier.v!, t: earlier.t!, p: earlier.p! }), replayed: true }
  if (earlier.found > 0) throw new DuplicateEventId(streamId, earlier.any_id!)
  throw new WrongExpectedVersion(streamId, String(expected), await currentVersion(executor, streamId))
}

/** Inside a caller's transaction an error would abort it; a savepoint keeps it usable. */
async function guarded<T> (executor: SqlExecutor, savepoints: boolean, fn: () => Promise<T>): Promise<T> {
  if (!savepoints) return fn()
  await executor.query('SAVEPOINT ledgerline_append')
  try {
    const result = await fn()
    await executor.query('RELEASE SAVEPOINT ledgerline_append')
    return result
  } catch (error) {
    await executor.query('ROLLBACK TO SAVEPOINT ledgerline_append')
    throw error
  }
}

interface PgError { code?: string, detail?: string, constraint?: string }

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
        timer = undefined // appends from now on schedule the next NOTIFY
        sql.query('SELECT pg_notify($1, \'\')', [NOTIFY_CHANNEL])
          .catch(() => {}) // subscribers still poll; a lost wake-up only delays them
      }, NOTIFY_INTERVAL_MS)
      timer.unref()
    },
    stop () {
      stopped = true
      clearTimeout(timer)
    }
  }
}
