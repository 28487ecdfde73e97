import pg from 'pg'
import { quoteIdent, type Lease, type QueryOptions, type QueryResult, type SqlClient, type SqlTransaction } from './client.ts'

/** The `pg` driver: a Pool, plus one dedicated connection for LISTEN. */
export async function openPgClient (connectionString: string, max: number): Promise<SqlClient> {
  const pool = new pg.Pool({ connectionString, max, idleTimeoutMillis: 30_000 })
  // An idle pooled client that loses its connection emits here; without a listener the process would exit.
  pool.on('error', () => {})
  await pool.query('SELECT 1')
  const listeners = new Map<string, Set<(payload: string) => void>>()
  let listenClient: pg.Client | undefined

  async function listenConnection (): Promise<pg.Client> {
    if (listenClient !== undefined) return listenClient
    const client = new pg.Client({ connectionString })
    client.on('notification', (message) => {
      for (const fn of listeners.get(message.channel) ?? []) fn(message.payload ?? '')
    })
    client.on('error', () => { if (listenClient === client) listenClient = undefined })
    await client.connect()
    listenClient = client
    return client
  }

  const run = async <Row>(executor: pg.Pool | pg.PoolClient, text: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<Row>> => {
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
        const tx: SqlTransaction = {
          query: (text, params, options) => run(client, text, params, options),
          exec: async (text) => { await client.query(text) }
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
        await client.query(`LISTEN ${quoteIdent(channel)}`)
      }
      set.add(onNotify)
      return async () => {
        set.delete(onNotify)
        if (set.size === 0 && listeners.get(channel) === set) {
          listeners.delete(channel)
          await listenClient?.query(`UNLISTEN ${quoteIdent(channel)}`).catch(() => {})
        }
      }
    },
    async tryLock (key) {
      const client = await pool.connect()
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key.toString()])
      if (rows[0]?.locked !== true) {
        client.release()
        return null
      }
      let held = true
      const onError = (): void => { held = false }
      client.on('error', onError)
      const lease: Lease = {
        get held () { return held },
        async release () {
          if (!held) return
          held = false
          client.off('error', onError)
          await client.query('SELECT pg_advisory_unlock($1)', [key.toString()]).catch(() => {})
          client.release()
        }
      }
      return lease
    },
    async close () {
      if (pool.ended) return
      const client = listenClient
      listenClient = undefined
      await client?.end().catch(() => {})
      await pool.end()
    }
  }
}
