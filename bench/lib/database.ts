/**
 * Where a benchmark keeps its data: a database of its own on a PostgreSQL
 * server, dropped when the run ends, or (for a bench that allows it) PGlite
 * in a temporary directory when no server is there.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { log } from './log.ts'
import { databaseName, packageVersion } from './results.ts'

/** The server a bench database is created on when DATABASE_URL is not set. */
export const DEFAULT_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/postgres'

export interface BenchDatabase {
  readonly url: string
  /** The server's version, as the results name it. */
  readonly version: string
  drop(): Promise<void>
}

export async function createBenchDatabase (
  serverUrl: string, prefix: string, options: { synchronousCommit?: string } = {}
): Promise<BenchDatabase> {
  const name = `${prefix}_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${process.pid}`
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name}`)
    if (options.synchronousCommit !== undefined) {
      await admin.query(`ALTER DATABASE ${name} SET synchronous_commit = ${pg.escapeLiteral(options.synchronousCommit)}`)
    }
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

/** Storage for a Ledgerline server under benchmark. */
export interface BenchStorage {
  /** What Ledgerline reads to find it (loadConfig, the server's environment): DATABASE_URL, LEDGERLINE_DATA_DIR. */
  readonly env: Readonly<Record<string, string>>
  /** For the results, e.g. `PostgreSQL 15.20`. */
  readonly version: string
  /** For the log, without credentials. */
  readonly where: string
  /** Drops the database (deletes the directory) unless `keep`; says where it was kept. */
  release(keep: boolean): Promise<void>
}

/**
 * A bench database on DATABASE_URL's server; without DATABASE_URL, on the
 * default server, or PGlite in a temporary directory when nothing listens
 * there (or when `pglite` asks for it).
 */
export async function openBenchStorage (
  prefix: string, databaseUrl: string | undefined, options: { pglite?: boolean } = {}
): Promise<BenchStorage> {
  if (options.pglite === true) return pgliteStorage(prefix, 'asked for')
  try {
    const db = await createBenchDatabase(databaseUrl || DEFAULT_SERVER_URL, prefix)
    const where = `${db.version}, database ${redact(db.url)}`
    return { env: { DATABASE_URL: db.url }, version: db.version, where, release: async (keep) => keep ? kept(where) : db.drop() }
  } catch (error) {
    if (databaseUrl || !isUnreachable(error)) throw error
  }
  return pgliteStorage(prefix, `no PostgreSQL server at ${DEFAULT_SERVER_URL}`)
}

async function pgliteStorage (prefix: string, why: string): Promise<BenchStorage> {
  const dir = await mkdtemp(join(tmpdir(), `${prefix}_`))
  const version = `PGlite ${packageVersion('@electric-sql/pglite')} (${why})`
  const where = `${version}, data directory ${dir}`
  // DATABASE_URL empty: the server must not take it from the environment it inherits.
  return {
    env: { DATABASE_URL: '', LEDGERLINE_DATA_DIR: dir }, version, where,
    release: async (keep) => keep ? kept(where) : rm(dir, { recursive: true, force: true })
  }
}

function isUnreachable (error: unknown): boolean {
  const code = (error as { code?: unknown }).code
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ETIMEDOUT'
}

function kept (where: string): void {
  log(`kept ${where}`)
}

/** A database URL without its password. */
export function redact (url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')
}
