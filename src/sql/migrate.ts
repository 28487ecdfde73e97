/**
 * Numbered SQL migrations (`migrations/NNN_name.sql`), applied in order, each
 * once, each in its own transaction, recorded in `schema_migrations`. Several
 * instances starting at once serialize on an advisory lock.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { lockKey, type SqlClient } from './client.ts'

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url))
const MIGRATE_LOCK = lockKey('ledgerline:migrate').toString()
const FILE = /^(\d{3})_[a-z0-9_]+\.sql$/

export interface Migration {
  readonly version: number
  readonly name: string
  readonly sql: string
}

export function loadMigrations (dir = MIGRATIONS_DIR): Migration[] {
  const migrations = readdirSync(dir)
    .filter((file) => FILE.test(file))
    .sort()
    .map((file) => ({ version: Number(FILE.exec(file)![1]), name: file, sql: readFileSync(join(dir, file), 'utf8') }))
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) throw new Error(`migration ${migration.name} is out of sequence: expected ${index + 1}`)
  })
  return migrations
}

/** Applies what is pending; returns the names applied now. */
export async function migrate (sql: SqlClient, migrations = loadMigrations()): Promise<string[]> {
  await sql.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATE_LOCK])
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
  })
  const applied: string[] = []
  for (const migration of migrations) {
    const done = await sql.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATE_LOCK])
      const { rowCount } = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [migration.version])
      if (rowCount > 0) return false
      await tx.exec(migration.sql)
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name])
      return true
    })
    if (done) applied.push(migration.name)
  }
  return applied
}
