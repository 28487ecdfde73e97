/**
 * The one small SQL interface every read model and the PostgreSQL event store
 * use (declared in `types.ts`, which the drivers import), and how to open it.
 * Two drivers implement it: `pg` (a PostgreSQL server, when DATABASE_URL is
 * set) and PGlite (embedded PostgreSQL, the default). The SQL is the same.
 */
import type { SqlClient } from './types.ts'

export type { Lease, QueryOptions, QueryResult, SqlClient, SqlExecutor, SqlTransaction } from './types.ts'
export { quoteIdent } from './types.ts'

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

/**
 * Whether a query failed because its table does not exist (SQLSTATE 42P01): a
 * read model's table before its projection's first build has exposed it.
 */
export function isUndefinedTable (error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '42P01'
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
