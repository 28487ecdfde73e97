/**
 * The SQL port's interface: what `client.ts` opens and the drivers (`pg.ts`,
 * `pglite.ts`) implement. No imports, so the drivers need not import the
 * module that loads them.
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

/** Quotes an SQL identifier. */
export function quoteIdent (name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}
