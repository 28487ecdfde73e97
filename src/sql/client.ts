/**
 * The one small SQL interface every read model and the PostgreSQL event store
 * use. Two drivers implement it: `pg` (a PostgreSQL server, when DATABASE_URL
 * is set) and PGlite (embedded PostgreSQL, the default). The SQL is the same.
 */
export interface QueryResult<Row> {
  rows: Row[]
  rowCount: number
}

export interface QueryOptions {
  /**
   * Prepare the statement once per connection under this name and reuse its
   * plan: for hot statements whose planning costs more than their execution.
   */
  readonly name?: string
}

export interface SqlExecutor {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<Row>>
}

/** A transaction's handle; `exec` runs several statements without parameters. */
export interface SqlTransaction extends SqlExecutor {
  exec(text: string): Promise<void>
}

/** A session-level advisory lock held until `release()` (or the connection dies). */
export interface Lease {
  /** False once the connection that held the lock is gone. */
  readonly held: boolean
  release(): Promise<void>
}

export interface SqlClient extends SqlExecutor {
  readonly kind: 'pg' | 'pglite'
  /** Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T>
  /** Runs several statements separated by semicolons, without parameters (migrations). */
  exec(text: string): Promise<void>
  /** Listens for NOTIFY on `channel`; returns the function that stops listening. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>
  /** `pg_try_advisory_lock(key)` on a connection of its own; null when another session holds it. */
  tryLock(key: bigint): Promise<Lease | null>
  close(): Promise<void>
}

export interface SqlClientOptions {
  /** A PostgreSQL URL: use the `pg` driver. */
  databaseUrl?: string | undefined
  /** PGlite data directory, or `memory://` for a throwaway database. */
  dataDir?: string | undefined
  /** Pool size for `pg` (default 10). */
  poolSize?: number | undefined
  /** PGlite only: start from this dump (`dumpDataDir`) instead of an empty cluster; tests use it to skip initdb. */
  loadDataDir?: Blob | undefined
}

export async function openSqlClient (options: SqlClientOptions): Promise<SqlClient> {
  if (options.databaseUrl !== undefined && options.databaseUrl !== '') {
    const { openPgClient } = await import('./pg.ts')
    return openPgClient(options.databaseUrl, options.poolSize ?? 10)
  }
  const { openPgliteClient } = await import('./pglite.ts')
  return openPgliteClient(options.dataDir ?? './.ledgerline', options.loadDataDir)
}

/** A stable 63-bit advisory lock key for a name. */
export function lockKey (name: string): bigint {
  let hash = 0xcbf29ce484222325n
  for (const byte of Buffer.from(name, 'utf8')) {
    hash ^= BigInt(byte)
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn
  }
  return BigInt.asIntN(64, hash)
}

/** Quotes an SQL identifier. */
export function quoteIdent (name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}
