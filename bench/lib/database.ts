/** A database of a benchmark's own on a PostgreSQL server, dropped when the run ends. */
import pg from 'pg'
import { databaseName } from './results.ts'

export interface BenchDatabase {
  readonly url: string
  /** The server's version, as the results name it. */
  readonly version: string
  drop(): Promise<void>
}

export async function createBenchDatabase (serverUrl: string, prefix: string, options: { synchronousCommit?: string } = {}): Promise<BenchDatabase> {
  const name = `${prefix}_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${process.pid}`
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name}`)
    if (options.synchronousCommit !== undefined) await admin.query(`ALTER DATABASE ${name} SET synchronous_commit = ${pg.escapeLiteral(options.synchronousCommit)}`)
    const { rows } = await admin.query<{ version: string }>('SELECT version()')
    const url = new URL(serverUrl)
    url.pathname = `/${name}`
    const drop = async (): Promise<void> => {
      const client = new pg.Client({ connectionString: serverUrl })
      await client.connect()
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await client.end()
      }
    }
    return { url: url.toString(), version: databaseName(rows[0]!.version), drop }
  } finally {
    await admin.end()
  }
}
