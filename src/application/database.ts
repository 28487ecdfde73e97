/**
 * The database outside a runtime: `ledgerline migrate` applies the
 * migrations (a runtime applies them when it opens), and a drill that
 * changes the database on purpose borrows a small client for its length.
 */
import type { Config } from '../config.ts'
import { openSqlClient, type SqlClient } from '../sql/client.ts'
import { migrate } from '../sql/migrate.ts'

/** Applies the pending migrations; answers the ones applied. */
export async function migrateDatabase (config: Pick<Config, 'databaseUrl' | 'dataDir'>): Promise<string[]> {
  const sql = await openSqlClient({ databaseUrl: config.databaseUrl, dataDir: config.dataDir })
  try {
    return await migrate(sql)
  } finally {
    await sql.close()
  }
}

/** Runs `fn` with a client of the PostgreSQL at `databaseUrl` (two connections), closed after; without a URL, with none. */
export async function withDatabase<T> (databaseUrl: string | undefined, fn: (sql: SqlClient | undefined) => Promise<T>): Promise<T> {
  const sql = databaseUrl === undefined ? undefined : await openSqlClient({ databaseUrl, poolSize: 2 })
  try {
    return await fn(sql)
  } finally {
    await sql?.close()
  }
}
