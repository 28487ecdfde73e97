import pg from 'pg'
import { quoteIdent, type QueryOptions, type QueryResult, type SqlClient, type SqlTransaction } from './types.ts'

/**
 * pg runs one query at a time per connection and warns (deprecated, to be
 * refused in its next major) when a second is sent before the first ends;
 * queries on a shared dedicated connection or a transaction go through this queue.
 */
function oneAtATime (): <T>(work: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve()
  return (work) => {
    const next = tail.then(work, work)
    tail = next.catch(() => {})
    return next
  }
}

/** The `pg` driver: a Pool, plus one dedicated connection for LISTEN. */
export async function openPgClient (connectionString: string, max: number): Promise<SqlClient> {
  const pool = new pg.Pool({ connectionString, max, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 10_000 })
  // An idle pooled client that loses its connection emits here; without a listener the process would exit.
  pool.on('error', () => {})
  await pool.query('SELECT 1')
  const listeners = new Map<string, Set<(payload: string) => void>>()
  let listenClient: pg.Client | undefined
  let listenConnecting: Promise<pg.Client> | undefined
  let lockClient: Promise<pg.Client> | undefined
  /** Bumped when the lock connection is lost: every lease taken on it is gone. */
  let lockGeneration = 0
  const heldKeys = new Set<bigint>()
  const onLockConnection = oneAtATime()
  const onListenConnection = oneAtATime()

  function lockConnection (): Promise<pg.Client> {
    lockClient ??= (async () => {
      const client = new pg.Client({ connectionString })
      const lost = (): void => {
        if (lockClient === undefined) return
        lockClient = undefined
        lockGeneration++
        heldKeys.clear()
      }
      client.on('error', lost)
      client.on('end', lost)
      await client.connect()
      return client
    })().catch((error: unknown) => {
      lockClient = undefined
      throw error
    })
    return lockClient
  }

  let closing = false
  let listenRetryMs = 100

  /**
   * The LISTEN connection. When it is lost it is opened again (with backoff)
   * while anyone listens, every channel is listened to again, and every
   * listener is called once, since notifications may have been missed.
   */
  function listenConnection (): Promise<pg.Client> {
    if (listenClient !== undefined) return Promise.resolve(listenClient)
    // Two listens at once (the job runner's and the store's subscription, say) share the connection being opened:
    // each opening its own would leave one never closed, and the process would never exit.
    listenConnecting ??= openListenConnection().finally(() => { listenConnecting = undefined })
    return listenConnecting
  }

  async function openListenConnection (): Promise<pg.Client> {
    const client = new pg.Client({ connectionString })
    client.on('notification', (message) => {
      for (const fn of listeners.get(message.channel) ?? []) fn(message.payload ?? '')
    })
    const lost = (): void => {
      if (listenClient !== client) return
      listenClient = undefined
      if (!closing && listeners.size > 0) setTimeout(relisten, listenRetryMs).unref()
    }
    client.on('error', lost)
    client.on('end', lost)
    await client.connect()
    listenClient = client
    return client
  }

  async function relisten (): Promise<void> {
    if (closing || listeners.size === 0) return
    try {
      const client = await listenConnection()
      for (const channel of listeners.keys()) await onListenConnection(() => client.query(`LISTEN ${quoteIdent(channel)}`))
      listenRetryMs = 100
      for (const set of listeners.values()) for (const fn of set) fn('')
    } catch {
      listenRetryMs = Math.min(listenRetryMs * 2, 5000)
      setTimeout(relisten, listenRetryMs).unref()
    }
  }

  const run = async <Row>(
    executor: pg.Pool | pg.PoolClient, text: string, params?: readonly unknown[], options?: QueryOptions
  ): Promise<QueryResult<Row>> => {
    const values = params as unknown[] | undefined
    const result = await executor.query(options?.name === undefined ? { text, values } : { name: options.name, text, values })
    return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 }
  }

  return {
    kind: 'pg',
    query: (text, params, options) => run(pool, text, params, options),
    async transaction (fn) {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        const inTurn = oneAtATime()
        const tx: SqlTransaction = {
          query: (text, params, options) => inTurn(() => run(client, text, params, options)),
          exec: (text) => inTurn(async () => { await client.query(text) })
        }
        const result = await fn(tx)
        await client.query('COMMIT')
        return result
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {})
        throw error
      } finally {
        client.release()
      }
    },
    async exec (text) {
      await pool.query(text)
    },
    async listen (channel, onNotify) {
      const client = await listenConnection()
      let set = listeners.get(channel)
      if (set === undefined) {
        set = new Set()
        listeners.set(channel, set)
        await onListenConnection(() => client.query(`LISTEN ${quoteIdent(channel)}`))
      }
      set.add(onNotify)
      return async () => {
        set.delete(onNotify)
        if (set.size === 0 && listeners.get(channel) === set) {
          listeners.delete(channel)
          const client = listenClient
          if (client !== undefined) await onListenConnection(() => client.query(`UNLISTEN ${quoteIdent(channel)}`)).catch(() => {})
        }
      }
    },
    // Session locks live on one connection of their own, outside the pool: a
    // lease never takes a pool slot, and losing that connection ends every lease.
    // Advisory locks are re-entrant within a session, so this process also keeps its own set.
    async tryLock (key) {
      if (heldKeys.has(key)) return null
      heldKeys.add(key)
      let client: pg.Client
      try {
        client = await lockConnection()
        const locking = client
        const { rows } = await onLockConnection(() =>
          locking.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key.toString()]))
        if (rows[0]?.locked !== true) {
          heldKeys.delete(key)
          return null
        }
      } catch (error) {
        heldKeys.delete(key)
        throw error
      }
      const generation = lockGeneration
      let released = false
      return {
        get held () { return !released && generation === lockGeneration },
        async release () {
          if (released) return
          released = true
          heldKeys.delete(key)
          if (generation !== lockGeneration) return
          await onLockConnection(() => client.query('SELECT pg_advisory_unlock($1)', [key.toString()])).catch(() => {})
        }
      }
    },
    async close () {
      if (pool.ended) return
      closing = true
      const client = listenClient ?? await listenConnecting?.catch(() => undefined)
      listenClient = undefined
      await client?.end().catch(() => {})
      const locks = lockClient
      lockClient = undefined
      lockGeneration++
      await (await locks?.catch(() => undefined))?.end().catch(() => {})
      await pool.end()
    }
  }
}
