/**
 * Every integration test runs once per database driver: PGlite always, and a
 * PostgreSQL server when DATABASE_URL is set (CI sets it). Each run gets a
 * database of its own, migrated, and dropped afterwards.
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import type { Test } from 'tap'
import { openSqlClient, type SqlClient } from '../../src/sql/client.ts'
import { loadMigrations, migrate } from '../../src/sql/migrate.ts'

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

/**
 * The one driver a realistic size (hundreds, thousands) runs on: the
 * PostgreSQL server when DATABASE_URL is set, else PGlite. Tests at 0, 1 and a
 * boundary ± 1 run on every driver; the large size once is enough, and on the
 * server it costs a fraction of what it costs in PGlite.
 */
export function scaleDriver (): 'pglite' | 'postgres' {
  return drivers().at(-1)!
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
  const template = await serverTemplate()
  const name = `ledgerline_test_${randomBytes(6).toString('hex')}`
  await onServer((admin) => admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`))
  const url = withDatabase(SERVER_URL!, name)
  const sql = await openSqlClient({ databaseUrl: url, poolSize: 30 })
  await migrate(sql) // a no-op on the template, as on PGlite
  return {
    driver,
    sql,
    url,
    async dispose () {
      await sql.close()
      await onServer((admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
    }
  }
}

/** Runs `fn` on a connection of its own to DATABASE_URL's server (its `postgres` database), ended whatever happens. */
export async function onServer<T> (fn: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: SERVER_URL })
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.end()
  }
}

let serverTemplateName: Promise<string> | undefined

/**
 * The server's counterpart of PGlite's template: a migrated, empty database
 * that each test's database is copied from (`CREATE DATABASE … TEMPLATE`),
 * instead of running every migration again, about 0.3 s a database on a busy
 * machine. Its name changes with the migrations, as the PGlite dump's does.
 * Made once per server, under an advisory lock so that parallel test
 * processes wait for one another, and under another name first: renamed when
 * whole, so a process killed while migrating leaves no half-made template
 * (only a `ledgerline_test_` leftover, like any test database it killed).
 * Templates of earlier migrations are dropped when a new one is made.
 * Nothing stays connected to it, as a template must not be in use.
 */
function serverTemplate (): Promise<string> {
  serverTemplateName ??= (async () => {
    const name = `ledgerline_template_${templateKey()}`
    // The advisory lock ends with the session.
    await onServer(async (admin) => {
      await admin.query('SELECT pg_advisory_lock(hashtext($1))', [name])
      const { rows } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
      if (rows.length === 0) {
        const making = `ledgerline_test_${randomBytes(6).toString('hex')}`
        await admin.query(`CREATE DATABASE ${making}`)
        const sql = await openSqlClient({ databaseUrl: withDatabase(SERVER_URL!, making), poolSize: 1 })
        try {
          await migrate(sql)
        } finally {
          await sql.close()
        }
        await admin.query(`ALTER DATABASE ${making} RENAME TO ${name}`)
        // Templates of earlier migrations are of no more use (one being copied right now stays: its drop fails).
        const { rows: old } = await admin.query<{ datname: string }>(
          "SELECT datname FROM pg_database WHERE datname LIKE 'ledgerline\\_template\\_%' AND datname <> $1", [name])
        for (const { datname } of old) await admin.query(`DROP DATABASE IF EXISTS ${datname}`).catch(() => {})
      }
    })
    return name
  })()
  return serverTemplateName
}

let template: Promise<Blob> | undefined

/**
 * PGlite's initdb takes seconds (over ten on a busy machine); a migrated,
 * empty cluster dumped once and loaded per test takes about one. The dump is
 * kept in the temporary directory for the test processes that follow, under a
 * name that changes with PGlite's version and with the migrations.
 */
function migratedTemplate (): Promise<Blob> {
  template ??= (async () => {
    const file = join(tmpdir(), `ledgerline-test-pglite-${templateKey()}.tar`)
    try {
      return new Blob([readFileSync(file)], { type: 'application/x-tar' })
    } catch {
      // not made yet: make it below
    }
    const { openPgliteClient } = await import('../../src/sql/pglite.ts')
    const sql = await openPgliteClient('memory://')
    await migrate(sql)
    const dump = await sql.dump()
    await sql.close()
    // Written aside, then renamed: a process starting meanwhile reads a whole dump or none.
    const partial = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`
    writeFileSync(partial, Buffer.from(await dump.arrayBuffer()))
    renameSync(partial, file)
    return dump
  })()
  return template
}

function templateKey (): string {
  const hash = createHash('sha256')
  hash.update(pgliteVersion())
  hash.update(readFileSync(new URL('../../src/sql/migrate.ts', import.meta.url)))
  for (const migration of loadMigrations()) hash.update(`\0${migration.name}\0${migration.sql}`)
  return hash.digest('hex').slice(0, 16)
}

/** The installed PGlite's version, from the package.json above its entry point (the package exports no package.json). */
function pgliteVersion (): string {
  let dir = dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite')))
  for (;;) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest)) {
      const { name, version } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown, version?: unknown }
      if (name === '@electric-sql/pglite') return String(version)
    }
    if (dirname(dir) === dir) throw new Error('the PGlite package has no package.json above its entry point')
    dir = dirname(dir)
  }
}

function withDatabase (url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}
