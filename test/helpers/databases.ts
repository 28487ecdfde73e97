/**
 * Every integration test runs once per database driver: PGlite always, and a
 * PostgreSQL server when DATABASE_URL is set (CI sets it). Each run gets a
 * database of its own, migrated, and dropped afterwards.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Test } from 'tap'
import { openSqlClient, type SqlClient } from '../../src/sql/client.ts'
import { migrate } from '../../src/sql/migrate.ts'

export interface TestDatabase {
  readonly driver: 'pglite' | 'postgres'
  readonly sql: SqlClient
  /** The connection string of this test's own database (postgres only). */
  readonly url?: string
}

const SERVER_URL = process.env.DATABASE_URL

export function drivers (): Array<'pglite' | 'postgres'> {
  return SERVER_URL === undefined || SERVER_URL === '' ? ['pglite'] : ['pglite', 'postgres']
}

/** Reports once per file that PostgreSQL server runs were skipped, and why. */
export function noteSkippedServer (t: Test): void {
  if (drivers().length === 1) t.comment('PostgreSQL server runs skipped: DATABASE_URL is not set (PGlite only)')
}

/** Runs `fn` as a subtest on each available driver. */
export async function forEachDatabase (t: Test, fn: (t: Test, db: TestDatabase) => Promise<void>): Promise<void> {
  noteSkippedServer(t)
  for (const driver of drivers()) {
    await t.test(driver, async (t) => {
      const db = await openTestDatabase(driver)
      t.teardown(db.dispose)
      await fn(t, db)
    })
  }
}

export async function openTestDatabase (driver: 'pglite' | 'postgres'): Promise<TestDatabase & { dispose: () => Promise<void> }> {
  if (driver === 'pglite') {
    const sql = await openSqlClient({ dataDir: 'memory://', loadDataDir: await migratedTemplate() })
    await migrate(sql) // a no-op on the template; kept so the helper never hands out an unmigrated database
    return { driver, sql, dispose: () => sql.close() }
  }
  const name = `ledgerline_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: SERVER_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = withDatabase(SERVER_URL!, name)
  const sql = await openSqlClient({ databaseUrl: url, poolSize: 30 })
  await migrate(sql)
  return {
    driver,
    sql,
    url,
    async dispose () {
      await sql.close()
      const admin = new pg.Client({ connectionString: SERVER_URL })
      await admin.connect()
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await admin.end()
    }
  }
}

let template: Promise<Blob> | undefined

/**
 * PGlite's initdb takes seconds; a migrated, empty cluster dumped once per
 * test process and loaded per test takes well under one.
 */
function migratedTemplate (): Promise<Blob> {
  template ??= (async () => {
    const { openPgliteClient } = await import('../../src/sql/pglite.ts')
    const sql = await openPgliteClient('memory://')
    await migrate(sql)
    const dump = await sql.dump()
    await sql.close()
    return dump
  })()
  return template
}

function withDatabase (url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}
